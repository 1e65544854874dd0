import { Socket } from 'node:net';
import { z } from 'zod';
import type { DeviceHealth } from '../../app/device-health.js';
import type { Device } from '../../inventory/types.js';
import { planSchema } from '../schemas.js';
import { NotFound } from '../errors.js';
import { route, type RouteSpec } from '../route.js';
import type { ApiDeps } from '../server.js';

/** What can be run and against what: playbooks, devices (with reachability), plan previews. */
/** Device health answered from the last check younger than this (each check logs in to every device). */
const HEALTH_MAX_AGE_MS = 60_000;

export function catalogRoutes(deps: ApiDeps): RouteSpec[] {
  const health = healthCache(deps.paths.inventory);
  const playbooks = async () => {
    const { loadPlaybooks } = await import('../../playbooks/load.js');
    return loadPlaybooks(deps.paths.playbooks);
  };
  return [
    route({
      method: 'get',
      path: '/playbooks',
      tag: 'catalog',
      summary: 'The playbooks that can be run, with their parameters and policy',
      scope: 'read',
      responses: { 200: { description: 'playbooks', schema: z.array(z.looseObject({ id: z.string(), title: z.string() })) } },
      async handler({ res }) {
        res.json((await playbooks()).map(playbookView));
      },
    }),
    route({
      method: 'get',
      path: '/playbooks/:id',
      tag: 'catalog',
      summary: 'One playbook',
      scope: 'read',
      responses: {
        200: { description: 'the playbook', schema: z.looseObject({ id: z.string() }) },
        404: { description: 'no such playbook' },
      },
      async handler({ req, res }) {
        const p = (await playbooks()).find((x) => x.id === req.params.id);
        if (!p) throw new NotFound(`no playbook ${JSON.stringify(String(req.params.id).slice(0, 64))}`);
        res.json({ ...playbookView(p), stages: p.stages });
      },
    }),
    route({
      method: 'get',
      path: '/devices',
      tag: 'catalog',
      summary: 'The inventory: devices, their site, driver, interfaces and whether their management port answers now',
      scope: 'read',
      query: z.strictObject({ probe: z.enum(['0', '1']).default('1') }),
      responses: { 200: { description: 'devices', schema: z.array(z.looseObject({ id: z.string(), reachable: z.boolean().nullable() })) } },
      async handler({ res, query }) {
        const { loadInventory } = await import('../../inventory/load.js');
        const inv = await loadInventory(deps.paths.inventory);
        const devices = [...inv.devices.values()];
        const reach = query.probe === '1' ? await Promise.all(devices.map((d) => reachable(d))) : devices.map(() => null);
        res.json(devices.map((d, i) => ({ ...deviceView(d), reachable: reach[i] })));
      },
    }),
    route({
      method: 'get',
      path: '/hosts',
      tag: 'catalog',
      summary: "Hosts people may isolate, from the inventory's _hosts.yaml: name, address, switch port, segment",
      scope: 'read',
      responses: {
        200: {
          description: 'hosts (empty when the inventory lists none)',
          schema: z.array(z.object({ name: z.string(), address: z.string(), port: z.string().optional(), segment: z.string().optional() })),
        },
      },
      async handler({ res }) {
        const [{ loadInventory }, { loadHosts }] = await Promise.all([
          import('../../inventory/load.js'),
          import('../../inventory/hosts.js'),
        ]);
        res.json(await loadHosts(deps.paths.inventory, await loadInventory(deps.paths.inventory)));
      },
    }),
    route({
      method: 'get',
      path: '/devices/health',
      tag: 'catalog',
      summary:
        'Per device: reachable, logged in, host key as pinned, and when that was last checked (a login to each device; changes nothing)',
      scope: 'read',
      query: z.strictObject({ refresh: z.enum(['0', '1']).default('0') }),
      responses: {
        200: {
          description: 'device health, at most HEALTH_MAX_AGE old unless refreshed',
          schema: z.array(
            z.looseObject({
              device: z.string(),
              reachable: z.boolean(),
              authenticated: z.boolean(),
              hostKeyOk: z.boolean().nullable(),
              checkedAt: z.string(),
            }),
          ),
        },
      },
      async handler({ res, query }) {
        res.json(await health.get(query.refresh === '1'));
      },
    }),
    route({
      method: 'post',
      path: '/plans',
      tag: 'catalog',
      summary: 'Preview: the plan a run would execute (devices, actions, commands, lockout findings); changes nothing',
      scope: 'plan',
      body: planSchema,
      responses: { 200: { description: 'the plan', schema: z.looseObject({ id: z.string(), actions: z.array(z.unknown()) }) } },
      async handler({ res, body }) {
        res.json(await deps.app.preview({ playbook: body.playbook, params: body.params }));
      },
    }),
  ];
}

function playbookView(p: Awaited<ReturnType<typeof import('../../playbooks/load.js').loadPlaybooks>>[number]) {
  return {
    id: p.id,
    title: p.title,
    group: p.group,
    description: p.description,
    params: p.params,
    policy: { approval: p.policy.approval, rollbackApproval: p.policy.rollbackApproval },
  };
}

/** A device as the API shows it: no credential references, no host key material beyond its fingerprint. */
function deviceView(d: Device) {
  return {
    id: d.id,
    site: d.site,
    driver: d.driver,
    address: d.address,
    tags: d.tags,
    transport: d.ssh ? 'ssh' : d.snmp ? 'snmp' : 'none',
    hostKey: d.ssh?.hostKey,
    interfaces: Object.fromEntries(Object.entries(d.interfaces).map(([n, i]) => [n, { roles: i.roles, description: i.description }])),
  };
}

/** One check at a time, shared by every caller; results kept HEALTH_MAX_AGE_MS. */
function healthCache(inventoryDir: string) {
  let last: { at: number; results: DeviceHealth[] } | undefined;
  let running: Promise<DeviceHealth[]> | undefined;
  const check = async () => {
    const [{ loadInventory }, { checkInventory }, { openSession }, { resolveSecret }] = await Promise.all([
      import('../../inventory/load.js'),
      import('../../app/device-health.js'),
      import('../../transports/connect.js'),
      import('../../secrets.js'),
    ]);
    const results = await checkInventory(await loadInventory(inventoryDir), openSession, resolveSecret);
    last = { at: Date.now(), results };
    return results;
  };
  return {
    get(refresh: boolean): Promise<DeviceHealth[]> {
      if (!refresh && last && Date.now() - last.at < HEALTH_MAX_AGE_MS) return Promise.resolve(last.results);
      running ??= check().finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}

/** SSH devices: does the management port accept a TCP connection within 1 s. SNMP (UDP) is not probed here: null. */
function reachable(d: Device): Promise<boolean | null> {
  if (!d.ssh) return Promise.resolve(null);
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1_000, () => done(false));
    s.once('error', () => done(false));
    s.connect(d.ssh!.port, d.address, () => done(true));
  });
}
