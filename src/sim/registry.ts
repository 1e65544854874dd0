import type { SimFactory } from './types.js';
import { aristaEosSim } from './arista-eos.js';
import { arubaAoscxSim } from './aruba-aoscx.js';
import { ciscoIosSim } from './cisco-ios.js';
import { fortiosSim } from './fortios.js';
import { junosSim } from './junos.js';
import { routerosSim } from './routeros.js';
import { snmpCiscoVlanSim, snmpIfmibSim, snmpPduSim, snmpQbridgeSim } from './snmp-agent.js';

/** Every simulator, by the driver family it imitates, written out by hand like drivers/registry.ts. */
export const simulators: Record<string, SimFactory> = {
  'arista-eos': aristaEosSim,
  'aruba-aoscx': arubaAoscxSim,
  'cisco-ios': ciscoIosSim,
  fortios: fortiosSim,
  junos: junosSim,
  routeros: routerosSim,
  'snmp-ifmib': snmpIfmibSim,
  'snmp-qbridge': snmpQbridgeSim,
  'snmp-cisco-vlan': snmpCiscoVlanSim,
  'snmp-pdu': snmpPduSim,
};

/** Which transport the inventory entry of a simulated device uses. */
export function simTransport(family: string): 'ssh' | 'snmp' {
  return family.startsWith('snmp-') ? 'snmp' : 'ssh';
}
