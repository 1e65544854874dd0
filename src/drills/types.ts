/**
 * Drills as data: what drills.yaml declares, and what a drill run's report holds (JSON as it is,
 * and the input of the HTML report).
 */
export interface DrillSpec {
  /** `^[a-z][a-z0-9-]{0,31}$`, unique. */
  id: string;
  title?: string;
  playbook: string;
  params: Record<string, string>;
  /** `verify`: preflight only, changes nothing. `live`: contain for real, hold, restore. */
  mode: 'verify' | 'live';
  /** Live: how long the containment is held before the automatic restore. */
  holdSeconds: number;
  /**
   * Live: minutes of the device-side auto-revert armed with the drill's changes and kept armed
   * through the hold, on drivers that have one (the restore's backstop if every Firebreak process
   * is dead). 0: off. Default ceil(holdSeconds / 60) + 2 when that is at most 60, else 0.
   */
  deviceRevertMinutes?: number;
  /** Cron (5 or 6 fields) in `tz` (IANA name, default UTC). */
  schedule?: { cron: string; tz: string };
  /** A time to contain this much slower (percent) than the earlier drills' median is a regression. */
  regressionMarginPct: number;
  /**
   * Live: traffic proof from a probe host (an inventory device reached over SSH that can run
   * `ping`): `to` must not answer while the drill holds, and must answer again after the restore.
   */
  probe?: { from: string; to: string };
}

export interface DrillDevice {
  device: string;
  driver?: string;
  /** Trigger to this device's last action verified. */
  containMs?: number;
  /** Rollback start to this device's last action reverted. */
  restoreMs?: number;
  /** Live: every change here was armed with the device's own auto-revert, kept armed through the hold. */
  deviceBacked?: boolean;
  ok: boolean;
  error?: string;
}

export interface DrillRunSummary {
  drillId: string;
  runId: string;
  playbook: string;
  mode: 'verify' | 'live';
  startedAt: string;
  /** The run's final state (`contained` then `rolled-back` for a good live drill); `verified` / `failed` for a preflight. */
  state: string;
  ok: boolean;
  timeToContainMs: number | null;
  /** Rollback start to last action reverted (live drills). */
  timeToRestoreMs: number | null;
  devices: DrillDevice[];
  failures: { device: string; actionId?: string; code: string; error: string }[];
  /** The traffic probe (live drills that configure one): what `to` did from `from`. */
  probe?: { from: string; to: string; whileHeld: ProbeResult; afterRestore: ProbeResult };
}

/** `cut`: no answer; `reachable`: it answered; `error`: the probe itself could not run (the reason). */
export type ProbeResult = 'cut' | 'reachable' | `error: ${string}`;

export interface DrillReport {
  drill: DrillSpec;
  run: DrillRunSummary;
  /** Earlier runs of the same drill, oldest first. */
  history: DrillRunSummary[];
  trend: {
    /** Median time to contain of the earlier good runs (null: none yet). */
    baselineTtcMs: number | null;
    /** How much slower (percent; negative: faster) this run was than the baseline. */
    changePct: number | null;
    regressed: boolean;
    marginPct: number;
  };
  generatedAt: string;
}
