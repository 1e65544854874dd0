import { HOSTS, MANAGEMENT, NAMESPACE_LIST } from './layout.js';
import { LabError } from '../errors.js';
import { alivePid, tcpOpen } from './daemon.js';
import { isRoot } from './exec.js';
import type { LabOptions } from './lab.js';
import { listNamespaces } from './netns.js';
import { labPaths, type LabPaths } from './paths.js';
import { snmpdListening, snmpdRef } from './snmpd.js';
import { sshdRef } from './sshd.js';
import { checkTopology } from './topology.js';
import { canReach } from './traffic.js';

/** What the lab looks like right now (read-only; safe to call when it is down). */
export interface LabStatus {
  dir: string;
  inventoryDir: string;
  /** All namespaces present, topology sound, daemons alive and serving. */
  up: boolean;
  /** `up`; `down`: no namespace and no daemon; `partial`: anything in between. */
  state: LabState;
  namespaces: Array<{ name: string; present: boolean }>;
  problems: string[];
  drift: string[];
  daemons: Array<{ name: string; pid?: number; alive: boolean; serving: boolean }>;
  reach: Array<{ from: string; to: string; ok: boolean }>;
}

export type LabState = 'up' | 'partial' | 'down';

/** Pure: the lab as one word, from what labStatus observed. */
export function labState(s: Pick<LabStatus, 'up' | 'namespaces' | 'daemons'>): LabState {
  if (s.up) return 'up';
  return s.namespaces.some((n) => n.present) || s.daemons.some((d) => d.alive) ? 'partial' : 'down';
}

export async function labStatus(opts: LabOptions = {}): Promise<LabStatus> {
  if (!isRoot()) throw new LabError('lab: lab status needs root (it looks inside the network namespaces)');
  const p = labPaths(opts.dir);
  const present = new Set(await listNamespaces());
  const namespaces = NAMESPACE_LIST.map((name) => ({ name, present: present.has(name) }));
  const anyPresent = namespaces.some((n) => n.present);
  const check = anyPresent ? await checkTopology() : { problems: ['lab is down (no fb-* namespaces)'], drift: [] };
  const daemons = await daemonStates(p);
  const reach = [];
  for (const from of ['fb-h1', 'fb-h2']) {
    if (present.has(from)) reach.push({ from, to: HOSTS.internet, ok: await canReach(from, HOSTS.internet) });
  }
  const up = check.problems.length === 0 && daemons.every((d) => d.alive && d.serving);
  const state = labState({ up, namespaces, daemons });
  return { dir: p.dir, inventoryDir: p.inventoryDir, up, state, namespaces, problems: check.problems, drift: check.drift, daemons, reach };
}

export function formatLabStatus(s: LabStatus): string {
  const state =
    s.state === 'down'
      ? 'DOWN'
      : s.state === 'partial'
        ? 'PARTLY UP (unhealthy; see below)'
        : s.drift.length
          ? 'UP, with drift (see below; `lab up --reset` undoes it)'
          : 'UP';
  const lines = [`lab: ${state}  (state ${s.dir})`];
  lines.push(`namespaces: ${s.namespaces.map((n) => `${n.name}${n.present ? '' : ' (missing)'}`).join(', ')}`);
  for (const d of s.daemons) {
    lines.push(`daemon ${d.name}: ${d.alive ? `pid ${d.pid} alive` : 'not running'}${d.alive && !d.serving ? ', not answering' : ''}`);
  }
  for (const r of s.reach) lines.push(`reach ${r.from} -> ${r.to}: ${r.ok ? 'yes' : 'NO'}`);
  for (const pr of s.problems) lines.push(`problem: ${pr}`);
  for (const d of s.drift) lines.push(`drift: ${d}`);
  lines.push(`inventory: ${s.inventoryDir}`);
  return lines.join('\n');
}

/** Liveness of the three daemons: pid file names a live process in its namespace, and it answers. */
async function daemonStates(p: LabPaths): Promise<LabStatus['daemons']> {
  const out: LabStatus['daemons'] = [];
  for (const [ref, probe] of [
    [sshdRef(p, 'fw'), () => tcpOpen(MANAGEMENT.fw, 22)],
    [sshdRef(p, 'sw'), () => tcpOpen(MANAGEMENT.sw, 22)],
    [snmpdRef(p), snmpdListening],
  ] as const) {
    const pid = await alivePid(ref);
    out.push({ name: ref.label, pid, alive: pid !== undefined, serving: pid !== undefined && (await probe()) });
  }
  return out;
}
