import type { SimFactory } from './types.js';

/** Every simulator, by the driver family it imitates, written out by hand like drivers/registry.ts. */
export const simulators: Record<string, SimFactory> = {};

/** Which transport the inventory entry of a simulated device uses. */
export function simTransport(family: string): 'ssh' | 'snmp' {
  return family.startsWith('snmp-') ? 'snmp' : 'ssh';
}
