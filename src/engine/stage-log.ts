import type { EntryDataMap, EntryInput, EntryType, Journal } from '../journal/types.js';

/**
 * Journal entries written in group commits: callers add entries, then `flush()`; every flush asked
 * for in the same turn of the event loop goes out as one `appendMany` (one transaction, one fsync),
 * so a stage over 200 devices does not pay 200 synchronous fsyncs, and nothing is written while
 * other devices are being changed unless someone asked for it. `flush()` resolves when the entries
 * added before it are durable (write-ahead waits on it).
 */
export class StageLog {
  private items: EntryInput[] = [];
  private scheduled: Promise<void> | undefined;
  /** The write in progress: writes go one after another, so entries keep the order they were added in. */
  private tail: Promise<void> = Promise.resolve();

  constructor(
    readonly journal: Journal,
    private readonly runId: string,
  ) {}

  add<T extends EntryType>(type: T, data: EntryDataMap[T]): void {
    this.items.push({ runId: this.runId, type, data } as EntryInput);
  }

  flush(): Promise<void> {
    this.scheduled ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.scheduled = undefined;
      const items = this.items;
      this.items = [];
      const write = this.tail.then(async () => {
        if (items.length) await this.journal.appendMany(items);
      });
      // A failed write fails its own flush; the next one still runs.
      this.tail = write.catch(() => undefined);
      return write;
    });
    return this.scheduled;
  }
}
