import { isIPv6 } from 'node:net';
import snmp from 'net-snmp';
import type { Device, SnmpSettings } from '../inventory/types.js';
import type { SecretResolver, SnmpSession, SnmpValue, SnmpVarbind } from './types.js';
import { AuthFailed, CommandRejected, DeviceUnreachable, type FirebreakError, InventoryInvalid, SnmpError } from '../errors.js';

/** sysUpTime.0: read once at open so that wrong keys or a dead agent fail before any change. */
const PROBE_OID = '1.3.6.1.2.1.1.3.0';

/** SNMP error-status names as RFC 3416 spells them (net-snmp uses its own CamelCase). */
const STATUS_NAMES: Record<number, string> = {
  1: 'tooBig',
  2: 'noSuchName',
  3: 'badValue',
  4: 'readOnly',
  5: 'genErr',
  6: 'noAccess',
  7: 'wrongType',
  8: 'wrongLength',
  9: 'wrongEncoding',
  10: 'wrongValue',
  11: 'noCreation',
  12: 'inconsistentValue',
  13: 'resourceUnavailable',
  14: 'commitFailed',
  15: 'undoFailed',
  16: 'authorizationError',
  17: 'notWritable',
  18: 'inconsistentName',
};

/**
 * Opens an SNMP v2c or v3 (authPriv) session and proves it works with one GET. SNMP has no
 * connection: a wrong community or wrong v3 keys show up only as a timeout.
 */
export async function openSnmp(device: Device, resolveSecret: SecretResolver): Promise<SnmpSession> {
  const s = device.snmp;
  if (!s) throw new InventoryInvalid(`device ${device.id}: no snmp settings`);
  const transport = isIPv6(device.address) ? 'udp6' : 'udp4';
  const common = { port: s.port, retries: s.retries, timeout: s.timeoutMs, transport, idBitsSize: 32 } as const;
  let raw: snmp.Session;
  if (s.version === '2c') {
    // Secret files usually end with a newline that is not part of the value.
    const community = (await resolveSecret(s.community)).trim();
    raw = snmp.createSession(device.address, community, { ...common, version: snmp.Version2c });
  } else {
    const user: snmp.User = {
      name: s.user,
      level: snmp.SecurityLevel.authPriv,
      authProtocol: snmp.AuthProtocols[s.auth.protocol],
      authKey: (await resolveSecret(s.auth.key)).trim(),
      privProtocol: snmp.PrivProtocols[s.priv.protocol],
      privKey: (await resolveSecret(s.priv.key)).trim(),
    };
    raw = snmp.createV3Session(device.address, user, { ...common, version: snmp.Version3 });
  }
  const session = new NetSnmpSession(raw, device, s);
  try {
    await session.get([PROBE_OID]);
  } catch (err) {
    await session.close();
    throw err;
  }
  return session;
}

class NetSnmpSession implements SnmpSession {
  readonly kind = 'snmp' as const;
  private closed = false;
  private readonly where: string;

  constructor(
    private readonly raw: snmp.Session,
    private readonly device: Device,
    private readonly settings: SnmpSettings,
  ) {
    this.where = `${device.id} (${device.address}:${settings.port} udp, SNMP v${settings.version})`;
    // A malformed datagram is emitted as 'error': without a listener it would crash the process.
    raw.on('error', () => undefined);
  }

  get(oids: string[]): Promise<Map<string, SnmpValue>> {
    return new Promise((resolve, reject) => {
      this.raw.get(oids, (err, varbinds) => {
        if (err) return reject(this.mapError(err, 'GET', oids));
        try {
          resolve(this.collect(varbinds ?? []));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  set(varbinds: SnmpVarbind[]): Promise<void> {
    const pdu = varbinds.map((v) => ({ oid: v.oid, type: snmp.ObjectType[v.type], value: v.value }));
    const oids = varbinds.map((v) => v.oid);
    return new Promise((resolve, reject) => {
      this.raw.set(pdu as snmp.Varbind[], (err, result) => {
        if (err) return reject(this.mapError(err, 'SET', oids));
        try {
          this.collect(result ?? []);
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  walk(oid: string): Promise<Map<string, SnmpValue>> {
    const out = new Map<string, SnmpValue>();
    return new Promise((resolve, reject) => {
      this.raw.subtree(
        oid,
        20,
        (varbinds: snmp.Varbind[]) => {
          for (const vb of varbinds) if (!snmp.isVarbindError(vb)) out.set(vb.oid, vb.value as SnmpValue);
        },
        (err: Error | null) => (err ? reject(this.mapError(err, 'WALK', [oid])) : resolve(out)),
      );
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.raw.close();
    } catch {
      /* socket already closed */
    }
  }

  /** Every varbind is checked: agents report missing objects inside a successful response. */
  private collect(varbinds: snmp.Varbind[]): Map<string, SnmpValue> {
    const out = new Map<string, SnmpValue>();
    for (const vb of varbinds) {
      if (snmp.isVarbindError(vb)) {
        const what = snmp.ObjectType[vb.type as number] ?? 'error';
        throw new SnmpError(`${this.device.id}: OID ${vb.oid}: ${lowerFirst(String(what))}`);
      }
      out.set(vb.oid, vb.value as SnmpValue);
    }
    return out;
  }

  /** Library errors -> the error tree. Library text is never passed on: some of it quotes the community. */
  private mapError(err: Error, op: string, oids: string[]): FirebreakError {
    const e = err as Error & { status?: number; code?: number };
    const list = oids.join(', ');
    if (this.closed) return new DeviceUnreachable(`${this.where}: session closed before ${op} ${list} finished`);
    if (e.name === 'RequestTimedOutError') {
      const tries = this.settings.retries + 1;
      return new DeviceUnreachable(
        `${this.where}: no answer to ${op} ${list} after ${tries} x ${this.settings.timeoutMs} ms ` +
          `(a wrong community or wrong v3 keys also show as a timeout)`,
      );
    }
    if (e.name === 'RequestFailedError' && typeof e.status === 'number') {
      const status = STATUS_NAMES[e.status] ?? `status ${e.status}`;
      const failedOid = /: (\S+)$/.exec(err.message)?.[1];
      const at = failedOid ? `${failedOid} (PDU: ${list})` : list;
      if (op === 'SET') return new CommandRejected(`${this.where}: SET refused: ${status} (${e.status}) on ${at}`);
      return new SnmpError(`${this.where}: ${op} failed: ${status} (${e.status}) on ${at}`);
    }
    if (e.name === 'ResponseInvalidError' && e.code === snmp.ResponseInvalidCode.EAuthFailure) {
      return new AuthFailed(`${this.where}: v3 authentication failed for user ${this.userName()} (wrong keys or protocols?)`);
    }
    if (e.name === 'ResponseInvalidError' && e.code === snmp.ResponseInvalidCode.ECouldNotDecrypt) {
      return new AuthFailed(`${this.where}: cannot decrypt the answer (wrong privacy key or protocol?)`);
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return new DeviceUnreachable(`${this.where}: ${op} ${list}: socket error ${code}`);
    return new SnmpError(`${this.where}: ${op} ${list} failed (${e.name ?? 'error'})`);
  }

  private userName(): string {
    return this.settings.version === '3' ? this.settings.user : '-';
  }
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
