/**
 * SQLite's own busy wait blocks the event loop and backs off up to 100 ms a sleep; the journal and
 * the lease file set it short (SQLITE_BUSY_WAIT_MS) and wait for another process's write lock here
 * instead, asynchronously.
 */
export const SQLITE_BUSY_WAIT_MS = 5;

/** Retries `fn` while another connection holds the write lock, yielding to the event loop between tries. */
export async function withWriteLock<T>(timeoutMs: number, fn: () => T): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 1; ; pause = Math.min(pause * 2, 8)) {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if ((code !== 'SQLITE_BUSY' && code !== 'SQLITE_BUSY_SNAPSHOT') || Date.now() >= deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
