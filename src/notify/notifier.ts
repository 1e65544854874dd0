import { errorMessage } from '../errors.js';
import type { EntryDataMap, EntryType, Journal, JournalEntry } from '../journal/types.js';
import { NotifyFailed, sendNotification } from './channels.js';
import type { Channel, NotifyConfig } from './config.js';
import { type NotificationEvent, notificationsFor, pickFor, type RunInfo, runInfoFrom } from './events.js';

/**
 * The notifier tails the journal in a loop of its own and pushes each run's news to every channel
 * of notify.yaml. Containment never waits for it: it only reads what the engine journaled. Each
 * (entry, channel) delivery runs on its own, is retried with exponential backoff, and every attempt
 * is journaled under the run (`notify.sent` / `notify.failed`, with `aboutSeq`: the entry notified about).
 */

export interface Notifier {
  /** Stops the tail; in-flight deliveries get about 2 s to finish, then are abandoned. */
  stop(): Promise<void>;
  /** Resolves when the tail has caught up and no delivery is pending (for tests). */
  idle(): Promise<void>;
}

export interface NotifierOptions {
  journal: Journal;
  config: NotifyConfig;
  /** How often the journal is read (default 100 ms). */
  pollMs?: number;
  log?: (line: string) => void;
  /** The clock for the resume window (default Date.now). */
  now?: () => number;
}

const RUN_TYPES: EntryType[] = ['run.created', 'run.state', 'rollback.requested', 'drill.report', 'drill.missed'];
const NOTIFY_TYPES: EntryType[] = ['notify.sent', 'notify.failed'];
const PAGE = 500;
/** On restart, what happened while down is sent, but nothing older than this (no re-sending of history). */
export const RESUME_WINDOW_MS = 15 * 60_000;
const STOP_GRACE_MS = 2000;
const MAX_BACKOFF_MS = 5 * 60_000;
/** Runs whose facts are kept; older ones are read from the journal again when needed. */
const RUN_CACHE = 1000;

/**
 * The seq the tail starts after: the newest entry any delivery was about, but never an entry older
 * than the resume window; with no deliveries journaled yet, the current end of the journal.
 */
export async function resumePoint(journal: Journal, now: number): Promise<number> {
  let lastAbout = 0;
  let notified = false;
  for (let after = 0; ; ) {
    const page = await journal.find({ types: NOTIFY_TYPES, afterSeq: after, limit: PAGE });
    for (const e of page) {
      notified = true;
      if (typeof e.data.aboutSeq === 'number' && e.data.aboutSeq > lastAbout) lastAbout = e.data.aboutSeq;
    }
    if (page.length < PAGE) break;
    after = page.at(-1)!.seq;
  }
  const cutoff = now - RESUME_WINDOW_MS;
  let point = lastAbout;
  for (let after = lastAbout; ; ) {
    const page = await journal.find({ types: RUN_TYPES, afterSeq: after, limit: PAGE });
    for (const e of page) {
      if (notified && Date.parse(e.ts) >= cutoff) return point;
      point = e.seq;
    }
    if (page.length < PAGE) return point;
    after = page.at(-1)!.seq;
  }
}

export function startNotifier(o: NotifierOptions): Notifier {
  const { journal, config } = o;
  const pollMs = o.pollMs ?? 100;
  const log = o.log ?? (() => undefined);
  const now = o.now ?? Date.now;
  const runs = new Map<string, RunInfo>();
  const pending = new Set<Promise<void>>();
  /** Ends the tail and every backoff wait. */
  const stopping = new AbortController();
  /** Ends sends still in flight after the grace period. */
  const abandon = new AbortController();
  let closed = false;
  let lastBatch = 0;
  let pollWaiters: (() => void)[] = [];

  const pollDone = () => {
    const waiters = pollWaiters;
    pollWaiters = [];
    for (const w of waiters) w();
  };
  const nextPoll = () => (stopping.signal.aborted ? Promise.resolve() : new Promise<void>((r) => pollWaiters.push(r)));

  async function record<T extends 'notify.sent' | 'notify.failed'>(runId: string, type: T, data: EntryDataMap[T]): Promise<void> {
    if (closed) return;
    try {
      await journal.append(runId, type, data);
    } catch (err) {
      log(`notify: could not journal ${type} for run ${runId}: ${errorMessage(err)}`);
    }
  }

  async function deliver(entry: JournalEntry, channel: Channel, event: NotificationEvent): Promise<void> {
    const base = { channel: channel.name, event: event.event, aboutSeq: entry.seq };
    const { attempts, firstDelayMs } = config.retry;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const t0 = performance.now();
      try {
        const r = await sendNotification(channel, event, abandon.signal);
        const ms = Math.round(performance.now() - t0);
        await record(entry.runId, 'notify.sent', { ...base, attempt, ms, ...(r.status !== undefined ? { status: r.status } : {}) });
        return;
      } catch (err) {
        const error = err instanceof NotifyFailed ? err.message : 'send failed';
        const final = attempt === attempts || (err instanceof NotifyFailed && err.permanent) || stopping.signal.aborted;
        await record(entry.runId, 'notify.failed', { ...base, attempt, error, final });
        log(
          `notify: ${channel.name} ${event.event} for run ${entry.runId}: attempt ${attempt} failed: ${error}${final ? ' (given up)' : ''}`,
        );
        if (final) return;
        await sleep(Math.min(firstDelayMs * 2 ** (attempt - 1), MAX_BACKOFF_MS), stopping.signal);
        if (stopping.signal.aborted) return;
      }
    }
  }

  function track(p: Promise<void>): void {
    const done = p.catch((err) => log(`notify: delivery failed: ${errorMessage(err)}`)).finally(() => pending.delete(done));
    pending.add(done);
  }

  async function runInfo(runId: string, created?: JournalEntry): Promise<RunInfo> {
    let info = runs.get(runId);
    if (!info) {
      info = runInfoFrom(created ?? (await journal.find({ runId, types: ['run.created'], limit: 1 }))[0]);
      runs.set(runId, info);
      if (runs.size > RUN_CACHE) runs.delete(runs.keys().next().value as string);
    }
    return info;
  }

  async function handle(entry: JournalEntry): Promise<void> {
    if (entry.type === 'run.created') {
      await runInfo(entry.runId, entry);
      return;
    }
    const events = notificationsFor(entry, await runInfo(entry.runId));
    if (events.length === 0) return;
    for (const channel of config.channels) {
      const event = pickFor(events, channel.events);
      if (event) track(deliver(entry, channel, event));
    }
  }

  async function loop(): Promise<void> {
    let cursor: number | undefined;
    while (!stopping.signal.aborted) {
      try {
        cursor ??= await resumePoint(journal, now());
        const batch = await journal.find({ types: RUN_TYPES, afterSeq: cursor, limit: PAGE });
        for (const e of batch) {
          if (stopping.signal.aborted) break;
          await handle(e);
          cursor = e.seq;
        }
        lastBatch = batch.length;
      } catch (err) {
        lastBatch = -1;
        log(`notify: reading the journal failed: ${errorMessage(err)}`);
      }
      pollDone();
      if (lastBatch < PAGE) await sleep(pollMs, stopping.signal);
    }
    pollDone();
  }

  const looping = loop();
  let stopped: Promise<void> | undefined;

  return {
    stop() {
      stopped ??= (async () => {
        stopping.abort();
        await looping;
        const grace = new AbortController();
        await Promise.race([Promise.allSettled([...pending]), sleep(STOP_GRACE_MS, grace.signal)]);
        grace.abort();
        // Sends still hanging are cut off and journal nothing more: the journal may be closed next.
        closed = true;
        abandon.abort();
      })();
      return stopped;
    },
    async idle() {
      for (;;) {
        // Two polls: the second began after this call, so it saw everything appended before it.
        await nextPoll();
        await nextPoll();
        if (stopping.signal.aborted || (pending.size === 0 && lastBatch === 0)) return;
        await Promise.allSettled([...pending]);
      }
    },
  };
}

/** Resolves after `ms`, or at once when `signal` fires. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
