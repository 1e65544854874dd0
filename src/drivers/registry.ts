import type { Driver } from './driver.js';
import { UnknownDriver } from '../errors.js';
import { linux } from './linux.js';
import { snmpIfmib } from './snmp-ifmib.js';

/** Every device family Firebreak can drive, written out by hand. */
export const drivers: Record<string, Driver> = {
  linux,
  'snmp-ifmib': snmpIfmib,
};

export function getDriver(family: string): Driver {
  const driver = Object.hasOwn(drivers, family) ? drivers[family] : undefined;
  if (!driver) throw new UnknownDriver(`unknown driver "${family}" (known: ${Object.keys(drivers).join(', ')})`);
  return driver;
}
