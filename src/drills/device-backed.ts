import type { Driver } from '../drivers/driver.js';
import type { Plan } from '../plan/types.js';

/**
 * A live drill's restore is a journaled deadline (the run's time to live); this adds the device's
 * own auto-revert as its backstop for when every Firebreak process is dead: each action on a
 * driver that has one (`confirm`) is armed for `minutes` and kept armed (`keepArmed`: the stage
 * does not confirm it). The drill's own minutes replace any the playbook asked for, which could
 * be shorter than the hold. Other drivers' actions stay as planned: those devices are not backed.
 * The engine disarms a kept-armed change before anything else changes its device
 * (src/engine/disarm.ts), so the timer can only ever undo the drill.
 */
export function deviceBacked(plan: Plan, drivers: Record<string, Driver>, minutes: number): Plan {
  if (minutes <= 0) return plan;
  return {
    ...plan,
    actions: plan.actions.map((a) => (drivers[a.driver]?.confirm ? { ...a, autoRevert: { minutes, keepArmed: true as const } } : a)),
  };
}

/** Whether every action of the plan on `device` is kept armed (false for a device it does not touch). */
export function isDeviceBacked(plan: Plan, device: string): boolean {
  const mine = plan.actions.filter((a) => a.device === device);
  return mine.length > 0 && mine.every((a) => a.autoRevert?.keepArmed === true);
}
