import type { Barrier } from './stage.js';

/**
 * The in-process barrier of a coordinated cut: every device of the stage arrives (prepared, its
 * intents durable) or leaves (its step failed outright); when the last one does, all get "go" at
 * once. `stop` fired before that: nobody strikes.
 */
export function localBarrier(devices: number, onGo: () => void, stop?: AbortSignal): Barrier & { leave(device: string): void } {
  let count = 0;
  let waiting: ((v: 'go' | 'stop') => void)[] = [];
  const open = () => {
    const v = stop?.aborted ? 'stop' : 'go';
    if (v === 'go') onGo();
    for (const w of waiting) w(v);
    waiting = [];
  };
  const tick = () => {
    count++;
    if (count === devices) open();
  };
  return {
    arrive() {
      return new Promise((resolve) => {
        waiting.push(resolve);
        tick();
      });
    },
    leave() {
      tick();
    },
  };
}
