import type { Driver } from './driver.js';
import { UnknownDriver } from '../errors.js';
import { aristaEos } from './arista-eos.js';
import { arubaAoscx } from './aruba-aoscx.js';
import { ciscoIos } from './cisco-ios.js';
import { fortios } from './fortios.js';
import { junos } from './junos.js';
import { linux } from './linux.js';
import { routeros } from './routeros.js';
import { snmpIfmib } from './snmp-ifmib.js';
import { snmpQbridge } from './snmp-qbridge.js';
import { snmpCiscoVlan } from './snmp-cisco-vlan.js';
import { snmpPdu } from './snmp-pdu.js';

/** Every device family Firebreak can drive, written out by hand. */
export const drivers: Record<string, Driver> = {
  'arista-eos': aristaEos,
  'aruba-aoscx': arubaAoscx,
  'cisco-ios': ciscoIos,
  fortios,
  junos,
  linux,
  routeros,
  'snmp-ifmib': snmpIfmib,
  'snmp-qbridge': snmpQbridge,
  'snmp-cisco-vlan': snmpCiscoVlan,
  'snmp-pdu': snmpPdu,
};

export function getDriver(family: string): Driver {
  const driver = Object.hasOwn(drivers, family) ? drivers[family] : undefined;
  if (!driver) throw new UnknownDriver(`unknown driver "${family}" (known: ${Object.keys(drivers).join(', ')})`);
  return driver;
}
