/** Milliseconds since the epoch, monotonic within a process (timings across hosts agree to NTP). */
export const monotonicClock = (): number => performance.timeOrigin + performance.now();
