import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { ConfigInvalid } from '../errors.js';
import { isReference } from '../secrets.js';
import { issuesMessage, type SourceIssue, validateYaml } from '../yaml-source.js';

/**
 * notify.yaml: where the news of runs goes (webhook, Slack/Mattermost, Teams, e-mail) and how
 * hard delivery is retried. Secrets (Slack/Teams URLs, HMAC keys, SMTP passwords) are written as
 * references (`env:NAME`, `file:PATH`) and read only when a message is sent.
 */

export const EVENT_KINDS = ['started', 'state', 'awaiting-approval', 'failed'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];
export const CHANNEL_KINDS = ['webhook', 'slack', 'teams', 'smtp'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

const CHANNEL_NAME = /^[a-z][a-z0-9-]{0,31}$/;
// Deliberately loose: the SMTP server is the judge of an address; this catches typos and lists.
const EMAIL = /^[^\s@<>,;]+@[^\s@<>,;]+$/;

/** A secret reference: `env:NAME` or `file:PATH` (the value itself never sits in the file). */
const reference = z.string().refine(isReference, 'must be a secret reference (env:NAME or file:PATH), not the secret itself');

/** A literal http(s) URL without credentials, or a reference to one. Messages never echo the URL. */
const url = z.string().superRefine((v, ctx) => {
  if (isReference(v)) return;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL or a secret reference (env:NAME or file:PATH)' });
    return;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `must be an http(s) URL (not ${u.protocol.slice(0, 16)}) or a secret reference` });
  } else if (u.username || u.password) {
    ctx.addIssue({ code: 'custom', message: 'a literal URL must not carry credentials: put the whole URL in env:NAME or file:PATH' });
  }
});

const events = z
  .array(z.enum(EVENT_KINDS, { error: (iss) => `unknown event ${JSON.stringify(iss.input)} (known: ${EVENT_KINDS.join(', ')})` }))
  .min(1, 'must list at least one event (leave it out for all)')
  .optional();

const common = {
  name: z.string().regex(CHANNEL_NAME, `must match ${CHANNEL_NAME.source}`),
  events,
};

const webhook = z.strictObject({ ...common, kind: z.literal('webhook'), url, secret: reference.optional() });
const slack = z.strictObject({ ...common, kind: z.literal('slack'), url });
const teams = z.strictObject({ ...common, kind: z.literal('teams'), url });
const smtp = z.strictObject({
  ...common,
  kind: z.literal('smtp'),
  host: z.string().min(1, 'must name the SMTP server'),
  port: z.number().int().min(1).max(65535).optional(),
  secure: z.boolean().optional(),
  from: z.string().regex(EMAIL, 'must be an e-mail address'),
  to: z.array(z.string().regex(EMAIL, 'must be an e-mail address')).min(1, 'must list at least one recipient'),
  user: z.string().min(1).optional(),
  password: reference.optional(),
});

const channel = z.discriminatedUnion('kind', [webhook, slack, teams, smtp], {
  error: (iss) => {
    const kind = (iss.input as { kind?: unknown } | undefined)?.kind;
    if (kind === undefined) return 'is required';
    return `unknown channel kind ${JSON.stringify(kind)} (known: ${CHANNEL_KINDS.join(', ')})`;
  },
});

export const notifySchema = z.strictObject({
  channels: z.array(channel),
  retry: z
    .strictObject({
      attempts: z.number().int().min(1).max(10).optional(),
      firstDelayMs: z.number().int().min(1).max(60_000).optional(),
    })
    .optional(),
});

export type WebhookChannel = z.output<typeof webhook>;
export type SlackChannel = z.output<typeof slack>;
export type TeamsChannel = z.output<typeof teams>;
export type SmtpChannel = z.output<typeof smtp>;
export type Channel = z.output<typeof channel>;

export interface NotifyConfig {
  channels: Channel[];
  retry: { attempts: number; firstDelayMs: number };
}

export const DEFAULT_RETRY = { attempts: 5, firstDelayMs: 500 } as const;

/** The checks that need the whole file: unique names, an SMTP user and password together. */
function checkNotify(v: z.output<typeof notifySchema>): SourceIssue[] {
  const issues: SourceIssue[] = [];
  const seen = new Map<string, number>();
  v.channels.forEach((c, i) => {
    const first = seen.get(c.name);
    if (first !== undefined)
      issues.push({ path: ['channels', i, 'name'], message: `duplicate channel name "${c.name}" (also channels[${first}])` });
    else seen.set(c.name, i);
    if (c.kind === 'smtp' && (c.user === undefined) !== (c.password === undefined)) {
      const missing = c.user === undefined ? 'user' : 'password';
      issues.push({ path: ['channels', i], message: `user and password go together: ${missing} is missing` });
    }
  });
  return issues;
}

/** Pure: one notify.yaml text -> NotifyConfig (retry defaults filled in), or ConfigInvalid with every problem placed. */
export function parseNotifyConfig(file: string, text: string): NotifyConfig {
  const r = validateYaml(file, text, notifySchema, checkNotify);
  if (!r.ok) throw new ConfigInvalid(issuesMessage(r.issues));
  return { channels: r.value.channels, retry: { ...DEFAULT_RETRY, ...r.value.retry } };
}

export async function loadNotifyConfig(file: string): Promise<NotifyConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigInvalid(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseNotifyConfig(file, text);
}
