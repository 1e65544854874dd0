/**
 * Transport latency against the running lab: SSH connect and per-command time to fw, SNMP
 * get/set to sw. Needs root and a lab that is up (`firebreak lab up`); it changes nothing that it
 * does not put back (swp2 goes down and up; a host.block on 198.51.100.99 is added and removed).
 * Run: npx tsc -p tsconfig.json && node dist/bench/transports.js [rounds]
 */
import { loadInventory } from '../src/inventory/load.js';
import { labPaths } from '../src/lab/paths.js';
import { resolveSecret } from '../src/secrets.js';
import { openSsh } from '../src/transports/ssh.js';
import { openSnmp } from '../src/transports/snmp.js';
import { linux } from '../src/drivers/linux.js';
import { snmpIfmib } from '../src/drivers/snmp-ifmib.js';
import type { ActionContext } from '../src/drivers/driver.js';

const rounds = Number(process.argv[2] ?? 20);
const rows: { what: string; n: number; ms: number[] }[] = [];

async function measure(what: string, n: number, fn: () => Promise<unknown>): Promise<void> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  rows.push({ what, n, ms });
}

const inv = await loadInventory(labPaths().inventoryDir);
const fw = inv.devices.get('fw')!;
const sw = inv.devices.get('sw')!;
const fwCtx: ActionContext = { device: fw, tag: 'fb:bench:a1', timeoutMs: 10_000 };
const swCtx: ActionContext = { device: sw, tag: 'fb:bench:a1', timeoutMs: 10_000 };

await measure('ssh connect + auth (fw)', Math.min(rounds, 10), async () => (await openSsh(fw, resolveSecret)).close());
const ssh = await openSsh(fw, resolveSecret);
await measure('ssh exec `true` (fw)', rounds, () => ssh.exec('true'));
await measure('linux read interface (ip -j link+route)', rounds, () =>
  linux.read(ssh, { kind: 'interface.disable', interface: 'eth-uplink' }, fwCtx),
);
await measure('linux read nft chain (nft -j)', rounds, () => linux.read(ssh, { kind: 'host.block', address: '198.51.100.99' }, fwCtx));
const hadTable = (await ssh.exec('nft list table inet firebreak')).code === 0;
await measure('linux host.block + unblock (2 nft -f, 1 read)', Math.min(rounds, 10), async () => {
  await linux.apply(ssh, { kind: 'host.block', address: '198.51.100.99' }, fwCtx);
  await linux.apply(ssh, { kind: 'host.unblock', address: '198.51.100.99' }, fwCtx);
});
if (!hadTable) await ssh.exec('nft delete table inet firebreak');
await ssh.close();

await measure('snmp v3 open (discovery + probe GET)', Math.min(rounds, 10), async () => (await openSnmp(sw, resolveSecret)).close());
const snmp = await openSnmp(sw, resolveSecret);
const port = (await snmpIfmib.read(snmp, { kind: 'interface.disable', interface: 'swp2' }, swCtx)) as { ifIndex: number };
const admin = `1.3.6.1.2.1.2.2.1.7.${port.ifIndex}`;
await measure('snmp get, 1 varbind', rounds, () => snmp.get([admin]));
await measure('snmp get, 4 varbinds in 1 PDU', rounds, () =>
  snmp.get([admin, '1.3.6.1.2.1.1.3.0', '1.3.6.1.2.1.1.5.0', `1.3.6.1.2.1.2.2.1.8.${port.ifIndex}`]),
);
await measure('snmp set ifAdminStatus = up (no change)', rounds, () => snmp.set([{ oid: admin, type: 'Integer', value: 1 }]));
await measure('snmp set down + read-back + set up', Math.min(rounds, 5), async () => {
  await snmpIfmib.apply(snmp, { kind: 'interface.disable', interface: 'swp2' }, swCtx);
  await snmpIfmib.read(snmp, { kind: 'interface.disable', interface: 'swp2' }, swCtx);
  await snmpIfmib.apply(snmp, { kind: 'interface.enable', interface: 'swp2' }, swCtx);
});
await snmp.close();

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const f = (x: number) => x.toFixed(1).padStart(7);
console.log(
  `${'operation'.padEnd(46)} ${'n'.padStart(3)} ${'median'.padStart(7)} ${'p90'.padStart(7)} ${'min'.padStart(7)} ${'max'.padStart(7)}  (ms)`,
);
for (const r of rows) {
  console.log(
    `${r.what.padEnd(46)} ${String(r.n).padStart(3)} ${f(q(r.ms, 0.5))} ${f(q(r.ms, 0.9))} ${f(Math.min(...r.ms))} ${f(Math.max(...r.ms))}`,
  );
}
