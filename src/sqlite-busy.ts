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

/**
 * Runs `fn` (an open-time step: switching to WAL, creating the schema) again while another process
 * opening the same new file holds the lock. Switching a fresh file to WAL can fail with "database
 * is locked" at once, without SQLite's busy handler, when two processes open it together (two CLI
 * runs started at the same moment). Open time only: the wait blocks, briefly.
 */
export function retryBusySync<T>(timeoutMs: number, fn: () => T): T {
  const deadline = Date.now() + timeoutMs;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if ((code !== 'SQLITE_BUSY' && code !== 'SQLITE_BUSY_SNAPSHOT') || Date.now() >= deadline) throw err;
    }
    Atomics.wait(sleeper, 0, 0, pause);
  }
}
