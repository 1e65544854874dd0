/** The lab's public surface: build/remove/inspect the namespace lab and probe traffic inside it. */
export * from './lab.js';
export { labPaths, type LabPaths } from './paths.js';
export { NAMESPACES, MANAGEMENT, HOSTS, LAB_PREFIXES, ORCHESTRATOR_ADDRESSES, SNMP_USER } from './layout.js';
