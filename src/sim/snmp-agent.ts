import type { Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import snmp from 'net-snmp';
import type { RunningSim, SimControl, SimCredentials, SimDeviceSpec, SimFactory, SimFault, SimPort, SimSnapshot } from './types.js';

/**
 * A stateful simulated SNMP switch or PDU on net-snmp's own Agent: v2c (one rw community) and
 * v3 authPriv (SHA + AES). The device state is a small model (ports, VLAN bitmaps, outlets); the
 * agent's MIB tree is rebuilt from it after every committed SET, and every SET PDU is checked as a
 * whole before anything is applied, so a PDU with one bad varbind changes nothing.
 *
 * Families: `snmp-ifmib` (IF-MIB only), `snmp-qbridge` (+ BRIDGE-MIB, Q-BRIDGE-MIB),
 * `snmp-cisco-vlan` (+ BRIDGE-MIB, CISCO-VLAN-MEMBERSHIP-MIB, CISCO-VTP-MIB vtpVlanState),
 * `snmp-pdu` (APC PowerNet-MIB sPDUOutletControlTable, or CyberPower CPS-MIB ePDUOutlet tables).
 *
 * Bridge port numbers are deliberately not ifIndex values (ifIndex = 49 + n, or 10100 + n on the
 * Cisco model, bridge port = n), so that a driver confusing the two fails here.
 *
 * Faults (a fault's `on` is tested on each OID of a PDU, alone and as `<op> <oid>`, op = GET, GETNEXT,
 * GETBULK or SET): refuse-auth = silence to everyone; hang = the request is neither applied nor
 * answered; drop = the request is applied (a SET takes effect) but its answer is lost; reject = a
 * SET touching a matching OID fails whole with genErr (notWritable when `message` is 'notWritable').
 */

// SNMPv2-MIB system group.
const SYS_DESCR = '1.3.6.1.2.1.1.1';
const SYS_OBJECT_ID = '1.3.6.1.2.1.1.2';
const SYS_UPTIME = '1.3.6.1.2.1.1.3';
const SYS_NAME = '1.3.6.1.2.1.1.5';
// IF-MIB.
const IF_ENTRY = '1.3.6.1.2.1.2.2.1';
const IF_ADMIN_STATUS = `${IF_ENTRY}.7`;
const IFX_ENTRY = '1.3.6.1.2.1.31.1.1.1';
// BRIDGE-MIB dot1dBasePortTable, Q-BRIDGE-MIB dot1qVlanStaticTable and dot1qPortVlanTable.
const BASE_PORT_ENTRY = '1.3.6.1.2.1.17.1.4.1';
const VLAN_STATIC_ENTRY = '1.3.6.1.2.1.17.7.1.4.3.1';
const VLAN_EGRESS = `${VLAN_STATIC_ENTRY}.2`;
const VLAN_UNTAGGED = `${VLAN_STATIC_ENTRY}.4`;
const PORT_VLAN_ENTRY = '1.3.6.1.2.1.17.7.1.4.5.1';
const PVID = `${PORT_VLAN_ENTRY}.1`;
// CISCO-VLAN-MEMBERSHIP-MIB vmMembershipEntry / vmVoiceVlanEntry, CISCO-VTP-MIB vtpVlanEntry.
const VM_MEMBERSHIP_ENTRY = '1.3.6.1.4.1.9.9.68.1.2.2.1';
const VM_VLAN = `${VM_MEMBERSHIP_ENTRY}.2`;
const VM_VOICE_ENTRY = '1.3.6.1.4.1.9.9.68.1.5.1.1';
const VM_VOICE_VLAN = `${VM_VOICE_ENTRY}.1`;
const VTP_VLAN_ENTRY = '1.3.6.1.4.1.9.9.46.1.3.1.1';
/** vmVoiceVlanId 4096: no voice VLAN configured (CISCO-VLAN-MEMBERSHIP-MIB, range 0..4096). */
const CISCO_VOICE_NONE = 4096;
// APC PowerNet-MIB sPDUOutletControlEntry: .3 sPDUOutletCtl outletOn(1)/outletOff(2)/outletReboot(3), .4 sPDUOutletCtlName.
const APC_OUTLET_ENTRY = '1.3.6.1.4.1.318.1.1.4.4.2.1';
const APC_OUTLET_CTL = `${APC_OUTLET_ENTRY}.3`;
// CyberPower CPS-MIB ePDUOutletControlEntry (.2 name, .4 command immediateOn(1)/immediateOff(2)/immediateReboot(3))
// and ePDUOutletStatusEntry (.4 ePDUOutletStatusOutletState on(1)/off(2)); OIDs as used by OpenStack
// ironic's SNMPDriverCyberPower and CyberPower's CPS-MIB v2.11.
const CPS_OUTLET_CONTROL_ENTRY = '1.3.6.1.4.1.3808.1.1.3.3.3.1.1';
const CPS_OUTLET_COMMAND = `${CPS_OUTLET_CONTROL_ENTRY}.4`;
const CPS_OUTLET_STATUS_ENTRY = '1.3.6.1.4.1.3808.1.1.3.3.5.1.1';

/** sysObjectID per model: the PDU driver picks its MIB from the enterprise number in it. */
export const SYS_OBJECT_IDS = {
  'snmp-ifmib': '1.3.6.1.4.1.8072.3.2.10', // net-snmp on Linux
  'snmp-qbridge': '1.3.6.1.4.1.11.2.3.7.11.181', // an HP ProCurve switch (enterprise 11)
  'snmp-cisco-vlan': '1.3.6.1.4.1.9.1.1208', // a Cisco Catalyst (enterprise 9)
  apc: '1.3.6.1.4.1.318.1.3.4.5', // APC rack PDU (NUT apc-pdu-mib.c: APC_PDU_MIB_SYSOID_RPDU2)
  cyberpower: '1.3.6.1.4.1.3808.1.1.3', // CyberPower ePDU (enterprise 3808)
} as const;

/** VLANs every simulated switch has besides those its ports name: the default VLAN and a quarantine VLAN. */
export const SIM_BUILTIN_VLANS: ReadonlyMap<number, string> = new Map([
  [1, 'default'],
  [999, 'quarantine'],
]);

type Family = 'snmp-ifmib' | 'snmp-qbridge' | 'snmp-cisco-vlan' | 'snmp-pdu';

interface PortModel {
  name: string;
  ifIndex: number;
  basePort: number;
  adminUp: boolean;
  /** Cisco model only (on Q-BRIDGE these are derived from the bitmaps and PVIDs). */
  trunk: boolean;
  vlan: number | null;
  /** Cisco vmVoiceVlanId as is (4096 = none). */
  voiceVlan: number;
}

interface VlanModel {
  name: string;
  /** Bridge ports. */
  egress: Set<number>;
  untagged: Set<number>;
}

interface DeviceModel {
  ports: PortModel[];
  vlans: Map<number, VlanModel>;
  /** Bridge port -> PVID (Q-BRIDGE). */
  pvid: Map<number, number>;
  outlets: { name: string; on: boolean }[];
}

/** What the agent hands a bulk SET handler for each varbind (net-snmp's internal MibRequest). */
interface MibRequest {
  oid: string;
  done(error?: { errorStatus: number; type: number; value: null }): void;
}
interface RawVarbind {
  oid: string;
  type: number;
  value: unknown;
}
interface MibNode {
  value?: unknown;
}
interface AgentMib {
  registerProvider(provider: object): void;
  addTableRow(table: string, row: unknown[]): void;
  setScalarValue(name: string, value: unknown): void;
  lookup(oid: string): MibNode | null;
}
type RequestFn = (socket: Socket, message: { pdu: { type: number; varbinds: RawVarbind[] } }, rinfo: unknown) => void;
interface NetSnmpAgent {
  request: RequestFn;
  setMib(mib: AgentMib): void;
  setBulkSetHandler(handler: (requests: MibRequest[], mib: AgentMib, testSet: boolean) => number | undefined): void;
  getAuthorizer(): { addCommunity(c: string): void; addUser(u: snmp.User): void };
  listener: { sockets: Record<string, Socket> };
  close(cb?: () => void): void;
}

type SetResult = { next: DeviceModel } | { index: number; status: snmp.ErrorStatus };

const RO = snmp.MaxAccess['read-only'];
const RW = snmp.MaxAccess['read-write'];
const NA = snmp.MaxAccess['not-accessible'];
const T = snmp.ObjectType;
const OPS: Record<number, string> = {
  [snmp.PduType.GetRequest]: 'GET',
  [snmp.PduType.GetNextRequest]: 'GETNEXT',
  [snmp.PduType.GetBulkRequest]: 'GETBULK',
  [snmp.PduType.SetRequest]: 'SET',
};
/** A socket that swallows the answer (the agent only calls its send): a `drop` fault loses the response, not the request. */
const LOST_ANSWER = { send: () => undefined } as unknown as Socket;

class SnmpSim implements SimControl {
  private state: DeviceModel;
  private faults: SimFault[] = [];
  private latencyMs: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly startedAt = Date.now();
  /** Varbinds of the SET being handled, as they came off the wire (the agent decodes OCTET STRINGs as UTF-8). */
  private wireVarbinds: RawVarbind[] = [];
  /** The state a tested SET PDU leads to, applied at commit. */
  private readonly planned = new WeakMap<MibRequest[], DeviceModel>();
  private stopped = false;
  private agent?: NetSnmpAgent;

  constructor(
    readonly spec: SimDeviceSpec,
    private readonly family: Family,
    private readonly pduMib: 'apc' | 'cyberpower',
  ) {
    this.state = initialState(spec, family);
    this.latencyMs = spec.latencyMs ?? 0;
  }

  async start(creds: SimCredentials): Promise<void> {
    const agent: NetSnmpAgent = snmp.createAgent(
      { port: this.spec.snmpPort ?? 161, address: this.spec.address, transport: 'udp4' },
      () => undefined, // bad community, unknown user, malformed datagram: silence, as a real agent
    );
    this.agent = agent;
    const auth = agent.getAuthorizer();
    if (creds.community) auth.addCommunity(creds.community);
    if (creds.snmpUser && creds.authKey && creds.privKey) {
      auth.addUser({
        name: creds.snmpUser,
        level: snmp.SecurityLevel.authPriv,
        authProtocol: snmp.AuthProtocols.sha,
        authKey: creds.authKey,
        privProtocol: snmp.PrivProtocols.aes,
        privKey: creds.privKey,
      });
    }
    agent.setBulkSetHandler((requests, mib, testSet) => this.onSet(requests, mib, testSet));
    const handle = agent.request.bind(agent);
    agent.request = (socket, message, rinfo) => this.onRequest(handle, socket, message, rinfo);
    this.rebuild();
    await Promise.all(
      Object.values(agent.listener.sockets).map(
        (socket) =>
          new Promise<void>((resolve, reject) => {
            socket.once('listening', resolve);
            socket.once('error', reject);
          }),
      ),
    ).catch(async (err: unknown) => {
      await this.stop();
      throw new Error(`sim ${this.spec.id}: cannot listen on ${this.spec.address}:${this.spec.snmpPort ?? 161}/udp: ${String(err)}`);
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const agent = this.agent;
    if (!agent) return;
    await new Promise<void>((resolve) => {
      try {
        agent.close(() => resolve());
      } catch {
        resolve(); // sockets never bound
      }
    });
  }

  snapshot(): SimSnapshot {
    const ports: Record<string, SimPort> = {};
    for (const p of this.state.ports) ports[p.name] = this.portView(p);
    const snap: SimSnapshot = { hostname: this.spec.hostname, ports, rules: [], config: this.config() };
    if (this.family === 'snmp-pdu') snap.outlets = Object.fromEntries(this.state.outlets.map((o) => [o.name, o.on]));
    return snap;
  }

  inject(fault: SimFault): void {
    // No CLI here: syslog lines and auto-revert confirmation do not apply to an SNMP agent.
    if (fault.kind === 'syslog' || fault.kind === 'never-confirm') return;
    this.faults.push(fault);
  }

  clearFaults(): void {
    this.faults = [];
  }

  reset(): void {
    this.faults = [];
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.latencyMs = this.spec.latencyMs ?? 0;
    this.state = initialState(this.spec, this.family);
    this.rebuild();
  }

  setLatency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`sim ${this.spec.id}: latency ${ms} ms is not a duration`);
    this.latencyMs = ms;
  }

  /** Every GET/GETNEXT/GETBULK/SET passes here once authenticated: faults and latency first. */
  private onRequest(handle: RequestFn, socket: Socket, message: Parameters<RequestFn>[1], rinfo: unknown): void {
    if (this.stopped) return;
    // A fault's `on` is tested on each OID alone and as `<op> <oid>`, so /^SET 1\.3\./ picks SETs only.
    const op = OPS[message.pdu.type] ?? 'PDU';
    const oids = message.pdu.varbinds
      .flatMap((v) => [v.oid, (v as { previousOid?: string }).previousOid ?? ''])
      .filter(Boolean)
      .flatMap((oid) => [oid, `${op} ${oid}`]);
    if (this.faults.some((f) => f.kind === 'refuse-auth')) return;
    if (this.takeFault('hang', oids)) return;
    const lost = this.takeFault('drop', oids) !== undefined;
    const go = () => {
      if (this.stopped) return;
      if (message.pdu.type === snmp.PduType.SetRequest) this.wireVarbinds = message.pdu.varbinds.map((v) => ({ ...v }));
      handle(lost ? LOST_ANSWER : socket, message, rinfo);
    };
    if (this.latencyMs <= 0) {
      go();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      go();
    }, this.latencyMs);
    this.timers.add(timer);
  }

  private takeFault(kind: 'hang' | 'drop' | 'reject', oids: string[]): SimFault | undefined {
    const i = this.faults.findIndex((f) => f.kind === kind && oids.some((o) => f.on.test(o)));
    const fault = this.faults[i];
    if (fault && 'once' in fault && fault.once) this.faults.splice(i, 1);
    return fault;
  }

  /** The agent's bulk SET hook: test phase checks the whole PDU, commit phase applies what was tested. */
  private onSet(requests: MibRequest[], mib: AgentMib, testSet: boolean): undefined {
    if (!testSet) {
      const next = this.planned.get(requests);
      if (next) {
        this.state = next;
        this.rebuild();
      }
      return undefined;
    }
    const wire = this.wireVarbinds;
    this.wireVarbinds = [];
    const fail = (index: number, status: snmp.ErrorStatus) => requests[index]?.done({ errorStatus: status, type: T.Null, value: null });
    for (const [at, r] of requests.entries()) {
      const reject = this.takeFault('reject', [r.oid, `SET ${r.oid}`]);
      // `message: 'notWritable'` picks that status; any other reject is the agent's genErr.
      if (reject?.kind === 'reject')
        return void fail(at, reject.message === 'notWritable' ? snmp.ErrorStatus.NotWritable : snmp.ErrorStatus.GeneralError);
    }
    // A SET on an instance that does not exist: the rows here cannot be created by SNMP.
    const missing = requests.findIndex((r) => {
      const node = mib.lookup(r.oid);
      return !node || node.value === undefined;
    });
    if (missing >= 0) return void fail(missing, snmp.ErrorStatus.NoCreation);
    if (wire.length !== requests.length) return void fail(0, snmp.ErrorStatus.GeneralError);
    const result = applySet(this.state, this.family, wire);
    if ('index' in result) return void fail(result.index, result.status);
    this.planned.set(requests, result.next);
    return undefined;
  }

  /** The MIB tree is a function of the model: rebuilt whole (a few hundred nodes) after every change. */
  private rebuild(): void {
    if (!this.agent) return;
    const mib: AgentMib = snmp.createMib();
    const sysObjectId = this.family === 'snmp-pdu' ? SYS_OBJECT_IDS[this.pduMib] : SYS_OBJECT_IDS[this.family];
    const scalar = (name: string, oid: string, scalarType: number, value: unknown, handler?: (r: { done(): void }) => void) => {
      mib.registerProvider({ name, type: snmp.MibProviderType.Scalar, oid, scalarType, maxAccess: RO, handler });
      mib.setScalarValue(name, value);
    };
    scalar('sysDescr', SYS_DESCR, T.OctetString, `Firebreak simulated ${this.family} ${this.spec.id}`);
    scalar('sysObjectID', SYS_OBJECT_ID, T.OID, sysObjectId);
    scalar('sysUpTime', SYS_UPTIME, T.TimeTicks, 0, (req) => {
      mib.setScalarValue('sysUpTime', Math.floor((Date.now() - this.startedAt) / 10));
      req.done();
    });
    scalar('sysName', SYS_NAME, T.OctetString, this.spec.hostname);
    const s = this.state;
    if (this.family === 'snmp-pdu') {
      if (this.pduMib === 'apc') {
        table(mib, 'sPDUOutletControlTable', APC_OUTLET_ENTRY, [
          col(1, 'sPDUOutletControlIndex', T.Integer, RO),
          col(2, 'sPDUOutletPending', T.Integer, RO),
          col(3, 'sPDUOutletCtl', T.Integer, RW),
          col(4, 'sPDUOutletCtlName', T.OctetString, RO),
        ]);
        for (const [i, o] of s.outlets.entries()) mib.addTableRow('sPDUOutletControlTable', [i + 1, 2, o.on ? 1 : 2, o.name]);
      } else {
        table(mib, 'ePDUOutletControlTable', CPS_OUTLET_CONTROL_ENTRY, [
          col(1, 'ePDUOutletControlIndex', T.Integer, RO),
          col(2, 'ePDUOutletControlOutletName', T.OctetString, RO),
          col(4, 'ePDUOutletControlOutletCommand', T.Integer, RW),
        ]);
        table(mib, 'ePDUOutletStatusTable', CPS_OUTLET_STATUS_ENTRY, [
          col(1, 'ePDUOutletStatusIndex', T.Integer, RO),
          col(2, 'ePDUOutletStatusOutletName', T.OctetString, RO),
          col(4, 'ePDUOutletStatusOutletState', T.Integer, RO),
        ]);
        for (const [i, o] of s.outlets.entries()) {
          // The command column reads back immediateOn(1) / immediateOff(2) for the current state.
          mib.addTableRow('ePDUOutletControlTable', [i + 1, o.name, o.on ? 1 : 2]);
          mib.addTableRow('ePDUOutletStatusTable', [i + 1, o.name, o.on ? 1 : 2]);
        }
      }
      this.agent.setMib(mib);
      return;
    }
    table(mib, 'ifTable', IF_ENTRY, [
      col(1, 'ifIndex', T.Integer, RO),
      col(2, 'ifDescr', T.OctetString, RO),
      col(3, 'ifType', T.Integer, RO),
      col(7, 'ifAdminStatus', T.Integer, RW),
      col(8, 'ifOperStatus', T.Integer, RO),
    ]);
    mib.registerProvider({
      name: 'ifXTable',
      type: snmp.MibProviderType.Table,
      oid: IFX_ENTRY,
      maxAccess: NA,
      tableColumns: [col(1, 'ifName', T.OctetString, RO)],
      tableAugments: 'ifTable',
    });
    for (const p of s.ports) {
      // ifOperStatus follows admin at once: no cable to wait for.
      mib.addTableRow('ifTable', [p.ifIndex, p.name, 6, p.adminUp ? 1 : 2, p.adminUp ? 1 : 2]);
      mib.addTableRow('ifXTable', [p.ifIndex, p.name]);
    }
    if (this.family === 'snmp-ifmib') {
      this.agent.setMib(mib);
      return;
    }
    table(mib, 'dot1dBasePortTable', BASE_PORT_ENTRY, [
      col(1, 'dot1dBasePort', T.Integer, RO),
      col(2, 'dot1dBasePortIfIndex', T.Integer, RO),
    ]);
    for (const p of s.ports) mib.addTableRow('dot1dBasePortTable', [p.basePort, p.ifIndex]);
    const width = bitmapBytes(s.ports);
    if (this.family === 'snmp-qbridge') {
      // Indexed by dot1qVlanIndex, an index object of dot1qVlanCurrentTable: kept here as a hidden column.
      table(
        mib,
        'dot1qVlanStaticTable',
        VLAN_STATIC_ENTRY,
        [
          col(100, 'dot1qVlanIndex', T.Gauge, NA),
          col(1, 'dot1qVlanStaticName', T.OctetString, RO),
          col(2, 'dot1qVlanStaticEgressPorts', T.OctetString, RW),
          col(4, 'dot1qVlanStaticUntaggedPorts', T.OctetString, RW),
        ],
        ['dot1qVlanIndex'],
      );
      for (const [vid, v] of [...s.vlans].sort((a, b) => a[0] - b[0])) {
        mib.addTableRow('dot1qVlanStaticTable', [vid, v.name, toBitmap(v.egress, width), toBitmap(v.untagged, width)]);
      }
      table(
        mib,
        'dot1qPortVlanTable',
        PORT_VLAN_ENTRY,
        [col(1, 'dot1qPvid', T.Gauge, RW)],
        [{ columnName: 'dot1dBasePort', foreign: 'dot1dBasePortTable' }],
      );
      for (const p of s.ports) mib.addTableRow('dot1qPortVlanTable', [p.basePort, s.pvid.get(p.basePort) ?? 1]);
    } else {
      const byIfIndex = [{ columnName: 'ifIndex', foreign: 'ifTable' }];
      table(
        mib,
        'vmMembershipTable',
        VM_MEMBERSHIP_ENTRY,
        [col(1, 'vmVlanType', T.Integer, RO), col(2, 'vmVlan', T.Integer, RW), col(3, 'vmPortStatus', T.Integer, RO)],
        byIfIndex,
      );
      table(mib, 'vmVoiceVlanTable', VM_VOICE_ENTRY, [col(1, 'vmVoiceVlanId', T.Integer, RW)], structuredClone(byIfIndex));
      // Trunk ports have no row in either table.
      for (const p of s.ports.filter((x) => !x.trunk)) {
        mib.addTableRow('vmMembershipTable', [p.ifIndex, 1, p.vlan ?? 1, p.adminUp ? 2 : 3]);
        mib.addTableRow('vmVoiceVlanTable', [p.ifIndex, p.voiceVlan]);
      }
      table(
        mib,
        'vtpVlanTable',
        VTP_VLAN_ENTRY,
        [
          col(100, 'managementDomainIndex', T.Integer, NA),
          col(101, 'vtpVlanIndex', T.Integer, NA),
          col(2, 'vtpVlanState', T.Integer, RO),
          col(4, 'vtpVlanName', T.OctetString, RO),
        ],
        ['managementDomainIndex', 'vtpVlanIndex'],
      );
      for (const [vid, v] of [...s.vlans].sort((a, b) => a[0] - b[0])) mib.addTableRow('vtpVlanTable', [1, vid, 1, v.name]);
    }
    this.agent.setMib(mib);
  }

  private portView(p: PortModel): SimPort {
    if (this.family === 'snmp-ifmib') return { adminUp: p.adminUp };
    if (this.family === 'snmp-cisco-vlan') {
      if (p.trunk) return { adminUp: p.adminUp, mode: 'trunk', vlan: null, voiceVlan: null };
      return { adminUp: p.adminUp, mode: 'access', vlan: p.vlan, voiceVlan: p.voiceVlan === CISCO_VOICE_NONE ? null : p.voiceVlan };
    }
    const m = qbridgeMembership(this.state, p.basePort);
    return { adminUp: p.adminUp, mode: m.mode, vlan: m.pvid, voiceVlan: m.voiceVlan };
  }

  /** The running configuration in a readable, stable form (for before/after diffs). */
  private config(): string {
    const s = this.state;
    const lines = [`hostname ${this.spec.hostname}`, `! ${this.family} ${this.spec.id}`];
    if (this.family === 'snmp-pdu') {
      for (const [i, o] of s.outlets.entries()) lines.push(`outlet ${i + 1} name "${o.name}" ${o.on ? 'on' : 'off'}`);
      return lines.join('\n') + '\n';
    }
    if (this.family === 'snmp-qbridge') {
      for (const [vid, v] of [...s.vlans].sort((a, b) => a[0] - b[0])) {
        const tagged = [...v.egress].filter((p) => !v.untagged.has(p));
        lines.push(`vlan ${vid} name "${v.name}" untagged ${portRange(v.untagged)} tagged ${portRange(new Set(tagged))}`);
      }
    } else if (this.family === 'snmp-cisco-vlan') {
      for (const [vid, v] of [...s.vlans].sort((a, b) => a[0] - b[0])) lines.push(`vlan ${vid} name ${v.name}`);
    }
    for (const p of s.ports) {
      const view = this.portView(p);
      const parts = [`interface ${p.name}`, `ifIndex ${p.ifIndex}`];
      if (this.family !== 'snmp-ifmib') parts.push(`bridge-port ${p.basePort}`);
      parts.push(p.adminUp ? 'no shutdown' : 'shutdown');
      if (view.mode) parts.push(`mode ${view.mode}`);
      if (view.vlan !== undefined && view.vlan !== null) parts.push(`${view.mode === 'trunk' ? 'native' : 'access'} vlan ${view.vlan}`);
      if (view.voiceVlan !== undefined && view.voiceVlan !== null) parts.push(`voice vlan ${view.voiceVlan}`);
      lines.push(parts.join(' '));
    }
    return lines.join('\n') + '\n';
  }
}

function col(number: number, name: string, type: number, maxAccess: number) {
  return { number, name, type, maxAccess };
}

function table(mib: AgentMib, name: string, oid: string, tableColumns: object[], tableIndex: unknown[] = [1]): void {
  mib.registerProvider({ name, type: snmp.MibProviderType.Table, oid, maxAccess: NA, tableColumns, tableIndex });
}

/**
 * Applies one SET PDU to a copy of the model; the first varbind that is wrong (or the one that
 * leaves the device inconsistent once the whole PDU is applied) fails it, and nothing changes.
 */
function applySet(state: DeviceModel, family: Family, varbinds: RawVarbind[]): SetResult {
  const next = structuredClone(state);
  const portByIfIndex = new Map(next.ports.map((p) => [p.ifIndex, p]));
  const knownBasePorts = new Set(next.ports.map((p) => p.basePort));
  const pvidAt = new Map<number, number>(); // bridge port -> varbind index
  const bitmapAt = new Map<number, number>(); // VLAN -> first varbind index touching it
  for (const [i, vb] of varbinds.entries()) {
    const fail = (status: snmp.ErrorStatus): SetResult => ({ index: i, status });
    const int = typeof vb.value === 'number' && Number.isInteger(vb.value) ? vb.value : null;
    const [column, index] = splitInstance(vb.oid);
    if (column === IF_ADMIN_STATUS) {
      const port = portByIfIndex.get(index);
      if (!port) return fail(snmp.ErrorStatus.NoCreation);
      if (vb.type !== T.Integer) return fail(snmp.ErrorStatus.WrongType);
      if (int !== 1 && int !== 2) return fail(snmp.ErrorStatus.WrongValue); // testing(3) is not settable here
      port.adminUp = int === 1;
    } else if (family === 'snmp-qbridge' && column === PVID) {
      if (vb.type !== T.Gauge) return fail(snmp.ErrorStatus.WrongType);
      if (int === null || int < 1 || int > 4094) return fail(snmp.ErrorStatus.WrongValue);
      if (!next.vlans.has(int)) return fail(snmp.ErrorStatus.InconsistentValue);
      next.pvid.set(index, int);
      pvidAt.set(index, i);
    } else if (family === 'snmp-qbridge' && (column === VLAN_EGRESS || column === VLAN_UNTAGGED)) {
      const vlan = next.vlans.get(index);
      if (!vlan) return fail(snmp.ErrorStatus.NoCreation);
      if (vb.type !== T.OctetString || !Buffer.isBuffer(vb.value)) return fail(snmp.ErrorStatus.WrongType);
      const ports = fromBitmap(vb.value);
      if ([...ports].some((p) => !knownBasePorts.has(p))) return fail(snmp.ErrorStatus.WrongValue);
      if (column === VLAN_EGRESS) vlan.egress = ports;
      else vlan.untagged = ports;
      if (!bitmapAt.has(index)) bitmapAt.set(index, i);
    } else if (family === 'snmp-cisco-vlan' && (column === VM_VLAN || column === VM_VOICE_VLAN)) {
      const port = portByIfIndex.get(index);
      if (!port || port.trunk) return fail(snmp.ErrorStatus.NoCreation);
      if (vb.type !== T.Integer) return fail(snmp.ErrorStatus.WrongType);
      if (column === VM_VLAN) {
        if (int === null || int < 1 || int > 4094) return fail(snmp.ErrorStatus.WrongValue);
        if (!next.vlans.has(int)) return fail(snmp.ErrorStatus.InconsistentValue);
        port.vlan = int;
      } else {
        if (int === null || int < 0 || int > CISCO_VOICE_NONE) return fail(snmp.ErrorStatus.WrongValue);
        // 0 (dot1p) and 4095 (untagged) name no VLAN; 1-4094 must exist.
        if (int >= 1 && int <= 4094 && !next.vlans.has(int)) return fail(snmp.ErrorStatus.InconsistentValue);
        port.voiceVlan = int;
      }
    } else if (family === 'snmp-pdu' && (column === APC_OUTLET_CTL || column === CPS_OUTLET_COMMAND)) {
      const outlet = next.outlets[index - 1];
      if (!outlet) return fail(snmp.ErrorStatus.NoCreation);
      if (vb.type !== T.Integer) return fail(snmp.ErrorStatus.WrongType);
      // on(1) / off(2) / reboot(3, which ends on); the delayed variants are not simulated.
      if (int !== 1 && int !== 2 && int !== 3) return fail(snmp.ErrorStatus.WrongValue);
      outlet.on = int !== 2;
    } else {
      return fail(snmp.ErrorStatus.NotWritable);
    }
  }
  if (family === 'snmp-qbridge') {
    // Untagged members must be egress members, and each port is untagged in exactly its PVID.
    for (const [vid, v] of next.vlans) {
      if ([...v.untagged].some((p) => !v.egress.has(p)))
        return { index: bitmapAt.get(vid) ?? 0, status: snmp.ErrorStatus.InconsistentValue };
    }
    for (const p of next.ports) {
      const untaggedIn = [...next.vlans].filter(([, v]) => v.untagged.has(p.basePort)).map(([vid]) => vid);
      const pvid = next.pvid.get(p.basePort);
      if (untaggedIn.length !== 1 || untaggedIn[0] !== pvid) {
        const at = pvidAt.get(p.basePort) ?? Math.min(...[...bitmapAt.values()], varbinds.length - 1);
        return { index: at, status: snmp.ErrorStatus.InconsistentValue };
      }
    }
  }
  return { next };
}

/** `1.3...column.index` -> [column, index] for single-integer indexes. */
function splitInstance(oid: string): [string, number] {
  const dot = oid.lastIndexOf('.');
  return [oid.slice(0, dot), Number(oid.slice(dot + 1))];
}

function qbridgeMembership(state: DeviceModel, basePort: number) {
  const tagged = [...state.vlans].filter(([, v]) => v.egress.has(basePort) && !v.untagged.has(basePort)).map(([vid]) => vid);
  const mode = tagged.length > 1 ? 'trunk' : 'access';
  return { mode, pvid: state.pvid.get(basePort) ?? null, voiceVlan: mode === 'access' && tagged.length === 1 ? tagged[0]! : null };
}

function initialState(spec: SimDeviceSpec, family: Family): DeviceModel {
  const vlans = new Map<number, VlanModel>();
  const addVlan = (vid: number) => {
    if (!vlans.has(vid)) {
      const name = SIM_BUILTIN_VLANS.get(vid) ?? (family === 'snmp-cisco-vlan' ? `VLAN${String(vid).padStart(4, '0')}` : `VLAN${vid}`);
      vlans.set(vid, { name, egress: new Set(), untagged: new Set() });
    }
  };
  for (const vid of SIM_BUILTIN_VLANS.keys()) addVlan(vid);
  for (const p of spec.ports) for (const vid of [p.vlan, p.voiceVlan]) if (typeof vid === 'number') addVlan(vid);
  const base = family === 'snmp-cisco-vlan' ? 10100 : 49;
  const ports: PortModel[] = spec.ports.map((p, i) => ({
    name: p.name,
    ifIndex: base + i + 1,
    basePort: i + 1,
    adminUp: p.adminUp ?? true,
    trunk: p.mode === 'trunk',
    vlan: p.vlan ?? 1,
    voiceVlan: p.voiceVlan ?? CISCO_VOICE_NONE,
  }));
  const pvid = new Map<number, number>();
  for (const [i, p] of ports.entries()) {
    const ps = spec.ports[i]!;
    const vlan = p.vlan ?? 1;
    pvid.set(p.basePort, vlan);
    vlans.get(vlan)!.untagged.add(p.basePort);
    vlans.get(vlan)!.egress.add(p.basePort);
    // A trunk carries every VLAN tagged except its native one; an access port only its voice VLAN.
    if (p.trunk) for (const v of vlans.values()) v.egress.add(p.basePort);
    else if (typeof ps.voiceVlan === 'number') vlans.get(ps.voiceVlan)!.egress.add(p.basePort);
  }
  const outlets = family === 'snmp-pdu' ? spec.ports.map((p) => ({ name: p.name, on: p.adminUp ?? true })) : [];
  return { ports, vlans, pvid, outlets };
}

function bitmapBytes(ports: PortModel[]): number {
  return Math.max(1, Math.ceil(Math.max(0, ...ports.map((p) => p.basePort)) / 8));
}

/** Q-BRIDGE PortList: the first octet's most significant bit is port 1. */
function toBitmap(ports: Set<number>, bytes: number): Buffer {
  const buf = Buffer.alloc(bytes);
  for (const p of ports) buf[(p - 1) >> 3]! |= 0x80 >> ((p - 1) & 7);
  return buf;
}

function fromBitmap(buf: Buffer): Set<number> {
  const out = new Set<number>();
  for (let i = 0; i < buf.length * 8; i++) if (buf[i >> 3]! & (0x80 >> (i & 7))) out.add(i + 1);
  return out;
}

function portRange(ports: Set<number>): string {
  return ports.size ? [...ports].sort((a, b) => a - b).join(',') : '-';
}

function checkSpec(spec: SimDeviceSpec, family: Family): void {
  const where = `sim ${spec.id} (${family})`;
  // Loopback only: a simulator must never answer on (or for) a real network.
  if (typeof spec.address !== 'string' || !isIPv4(spec.address) || !spec.address.startsWith('127.')) {
    throw new Error(`${where}: address ${JSON.stringify(spec.address)} is not a 127.x.y.z loopback address`);
  }
  const port = spec.snmpPort ?? 161;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${where}: snmpPort ${port} is not a UDP port`);
  const names = new Set<string>();
  for (const p of spec.ports) {
    if (typeof p.name !== 'string' || p.name.length === 0 || p.name.length > 64)
      throw new Error(`${where}: bad port name ${JSON.stringify(p.name)}`);
    if (names.has(p.name)) throw new Error(`${where}: port ${p.name} declared twice`);
    names.add(p.name);
    for (const vid of [p.vlan, p.voiceVlan]) {
      if (vid !== undefined && vid !== null && (!Number.isInteger(vid) || vid < 1 || vid > 4094)) {
        throw new Error(`${where}: port ${p.name}: VLAN ${vid} is not 1-4094`);
      }
    }
  }
  if (spec.ports.length === 0 || spec.ports.length > 256) throw new Error(`${where}: needs 1-256 ports (has ${spec.ports.length})`);
}

function factory(family: Family): SimFactory {
  return async (spec, creds) => {
    if (spec.family !== family) throw new Error(`sim ${spec.id}: spec family ${spec.family} given to the ${family} simulator`);
    checkSpec(spec, family);
    const pduMib = spec.pduMib ?? 'apc';
    if (pduMib !== 'apc' && pduMib !== 'cyberpower')
      throw new Error(`sim ${spec.id}: unknown pduMib ${String(pduMib)} (known: apc, cyberpower)`);
    const sim = new SnmpSim(spec, family, pduMib);
    await sim.start(creds);
    return { spec, control: sim, stop: () => sim.stop() } satisfies RunningSim;
  };
}

export const snmpIfmibSim: SimFactory = factory('snmp-ifmib');
export const snmpQbridgeSim: SimFactory = factory('snmp-qbridge');
export const snmpCiscoVlanSim: SimFactory = factory('snmp-cisco-vlan');
export const snmpPduSim: SimFactory = factory('snmp-pdu');
