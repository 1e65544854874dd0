import { createHmac } from 'node:crypto';
import { createTransport } from 'nodemailer';
import { errorMessage, FirebreakError, SecretUnavailable } from '../errors.js';
import { Redactor, resolveSecret } from '../secrets.js';
import type { Channel, SlackChannel, SmtpChannel, TeamsChannel, WebhookChannel } from './config.js';
import { type NotificationEvent, plainText } from './events.js';

/**
 * One sender per channel kind. A sender resolves its secrets when it sends, succeeds only on a
 * 2xx (HTTP) or an accepted message (SMTP), and fails with a NotifyFailed whose message names the
 * status or the error code: never the URL, the HMAC key or a password.
 */

/** A delivery that did not arrive; `permanent`: trying the same message again cannot help (HTTP 4xx, SMTP 5xx). */
export class NotifyFailed extends FirebreakError {
  override readonly code = 'NOTIFY_FAILED';
  constructor(
    message: string,
    readonly permanent = false,
  ) {
    super(message);
  }
}

export interface SendResult {
  /** HTTP status, or the SMTP server's reply code. */
  status?: number;
}

/** Per attempt; a receiver that hangs costs at most this. */
export const SEND_TIMEOUT_MS = 5000;

export const SIGNATURE_HEADER = 'X-Firebreak-Signature';
export const TIMESTAMP_HEADER = 'X-Firebreak-Timestamp';

/** Sends one message to one channel. `signal` aborts it (the notifier stopping). */
export async function sendNotification(channel: Channel, event: NotificationEvent, signal?: AbortSignal): Promise<SendResult> {
  const scrub = new Redactor();
  try {
    switch (channel.kind) {
      case 'webhook':
        return await sendWebhook(channel, event, scrub, signal);
      case 'slack':
        return await postJson(await target(channel, scrub), slackBody(event), {}, signal);
      case 'teams':
        return await postJson(await target(channel, scrub), teamsBody(event), {}, signal);
      case 'smtp':
        return await sendMail(channel, event, scrub, signal);
    }
  } catch (err) {
    // Belt and braces: whatever an error says, the channel's secrets and any URL are taken out.
    const message = scrub.text(errorMessage(err)).replace(/\bhttps?:\/\/\S+/gi, '[url]');
    throw new NotifyFailed(message.slice(0, 300), err instanceof NotifyFailed && err.permanent);
  }
}

/** The generic webhook's body: the event as JSON (title and lines included, for receivers that just show it). */
export function webhookBody(e: NotificationEvent): Record<string, unknown> {
  return { ...e, text: plainText(e) };
}

/** Slack and Mattermost incoming webhooks. */
export function slackBody(e: NotificationEvent): { text: string } {
  return { text: `*${e.title}*\n${e.lines.join('\n')}` };
}

const THEME: Record<NotificationEvent['severity'], string> = { bad: 'D7263D', wait: 'F4A300', good: '2E8540', info: '0072C6' };

/** Teams incoming webhook: a MessageCard (its text is markdown, so each fact gets its own paragraph). */
export function teamsBody(e: NotificationEvent): Record<string, string> {
  return {
    '@type': 'MessageCard',
    '@context': 'https://schema.org/extensions',
    summary: e.title,
    themeColor: THEME[e.severity],
    title: e.title,
    text: e.lines.join('\n\n'),
  };
}

/** `sha256=<hex>` of HMAC-SHA256 over `${timestamp}.${body}`. */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

async function sendWebhook(c: WebhookChannel, e: NotificationEvent, scrub: Redactor, signal?: AbortSignal): Promise<SendResult> {
  const url = await target(c, scrub);
  const body = JSON.stringify(webhookBody(e));
  const headers: Record<string, string> = {};
  if (c.secret) {
    const secret = await secretValue(c.secret, scrub);
    const timestamp = String(Math.floor(Date.now() / 1000));
    headers[SIGNATURE_HEADER] = signature(secret, timestamp, body);
    headers[TIMESTAMP_HEADER] = timestamp;
  }
  return postJson(url, body, headers, signal);
}

/** The channel's URL: literal, or read from its reference (then a secret: scrubbed from errors). */
async function target(c: WebhookChannel | SlackChannel | TeamsChannel, scrub: Redactor): Promise<URL> {
  const raw = c.url.startsWith('env:') || c.url.startsWith('file:') ? await secretValue(c.url, scrub) : c.url;
  scrub.add(raw);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new NotifyFailed(`the URL ${refOf(c.url)} is not a URL`, true);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new NotifyFailed(`the URL ${refOf(c.url)} is not http(s)`, true);
  return url;
}

const refOf = (v: string): string => (v.startsWith('env:') || v.startsWith('file:') ? `from ${v}` : 'in notify.yaml');

async function secretValue(ref: string, scrub: Redactor): Promise<string> {
  const value = (await resolveSecret(ref)).trim();
  if (!value) throw new SecretUnavailable(`secret ${ref} is empty`);
  scrub.add(value);
  return value;
}

/** HTTP statuses worth another try; every other 4xx means the receiver will not take this message. */
const RETRYABLE_4XX = [408, 425, 429];

async function postJson(url: URL, body: unknown, headers: Record<string, string>, signal?: AbortSignal): Promise<SendResult> {
  const auth: Record<string, string> = {};
  // fetch refuses user-info in a URL: a referenced URL with credentials becomes Basic auth.
  if (url.username || url.password) {
    const basic = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    auth.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const timeout = AbortSignal.timeout(SEND_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'firebreak-notify', ...auth, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      // A redirect could carry the message (and a signed body) elsewhere: it counts as an answer, not followed.
      redirect: 'manual',
      signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
    });
  } catch (err) {
    throw new NotifyFailed(fetchFailure(err, timeout));
  }
  await res.body?.cancel().catch(() => undefined);
  if (res.status < 200 || res.status > 299) {
    const permanent = res.status >= 400 && res.status < 500 && !RETRYABLE_4XX.includes(res.status);
    throw new NotifyFailed(`HTTP ${res.status}${res.statusText ? ` ${res.statusText.slice(0, 60)}` : ''}`, permanent);
  }
  return { status: res.status };
}

/** A fetch error in words, from its code only (undici's messages and causes can hold the address). */
function fetchFailure(err: unknown, timeout: AbortSignal): string {
  if (timeout.aborted) return `no answer within ${SEND_TIMEOUT_MS} ms`;
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) return 'stopped: the notifier is shutting down';
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host name not resolved (${code})`;
  if (code) return `request failed (${code})`;
  return 'request failed';
}

async function sendMail(c: SmtpChannel, e: NotificationEvent, scrub: Redactor, signal?: AbortSignal): Promise<SendResult> {
  const password = c.password ? await secretValue(c.password, scrub) : undefined;
  const secure = c.secure ?? false;
  const transport = createTransport({
    host: c.host,
    port: c.port ?? (secure ? 465 : 587),
    secure,
    ...(c.user && password ? { auth: { user: c.user, pass: password } } : {}),
    connectionTimeout: SEND_TIMEOUT_MS,
    greetingTimeout: SEND_TIMEOUT_MS,
    socketTimeout: SEND_TIMEOUT_MS,
  });
  try {
    const info = await transport.sendMail({
      from: c.from,
      to: c.to,
      subject: e.title,
      text: plainText(e),
      headers: { 'X-Firebreak-Run': e.runId, 'X-Firebreak-Event': e.event },
      ...(signal ? { signal } : {}),
    });
    const code = /^(\d{3})/.exec(String(info.response ?? ''))?.[1];
    return code ? { status: Number(code) } : {};
  } catch (err) {
    throw smtpFailure(err);
  } finally {
    transport.close();
  }
}

function smtpFailure(err: unknown): NotifyFailed {
  const e = err as { code?: unknown; responseCode?: unknown; originalCode?: unknown; permanent?: unknown; name?: unknown };
  if (e?.name === 'AbortError') return new NotifyFailed('stopped: the notifier is shutting down');
  const code = typeof e?.originalCode === 'string' ? e.originalCode : typeof e?.code === 'string' ? e.code : undefined;
  const reply = typeof e?.responseCode === 'number' ? e.responseCode : undefined;
  const first = (errorMessage(err).split('\n')[0] ?? '').slice(0, 160);
  const words = code === 'ECONNREFUSED' ? 'connection refused' : first;
  return new NotifyFailed(
    `SMTP ${[code, reply].filter((x) => x !== undefined).join(' ')}: ${words}`.replace('SMTP :', 'SMTP:'),
    e?.permanent === true,
  );
}
