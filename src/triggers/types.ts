import { FirebreakError } from '../errors.js';

/** What a detector-trigger is (triggers.yaml) and what one detector event becomes (a run request, or not). */

export type TriggerKind = 'alertmanager' | 'wazuh' | 'webhook';
export const TRIGGER_KINDS = ['alertmanager', 'wazuh', 'webhook'] as const satisfies readonly TriggerKind[];

export interface TriggerSpec {
  name: string;
  kind: TriggerKind;
  playbook: string;
  /** Parameter name -> template (`{{ dotted.path }}` placeholders in literal text). */
  params: Record<string, string>;
  /** Equality filters: label name (alertmanager: commonLabels) or dotted field path -> exact string. */
  match: Record<string, string>;
  /** Wazuh only: alerts whose rule level is below this are not matched. */
  minLevel?: number;
  /** A reference (`env:NAME`, `file:/path`), never the value. Webhook: the HMAC key (required). */
  secret?: string;
  cooldownSeconds: number;
  /** `playbook`: the playbook's own policy decides; `required`: always ask a person. */
  approval: 'required' | 'playbook';
  /** `rollback`: a resolved event asks for a rollback, which always needs approval. */
  onResolved: 'record' | 'rollback';
  breakGlass: boolean;
  rateLimit: { runs: number; perSeconds: number };
  /** Time to live of the runs it starts (a detector's host block lifts itself unless a person keeps it). */
  ttlSeconds?: number;
}

export interface TriggerEvent {
  trigger: string;
  kind: TriggerKind;
  status: 'firing' | 'resolved';
  dedupKey: string;
  /** Rendered parameters, not yet validated: the caller runs validateParams against the playbook. */
  params: Record<string, string>;
  /** The rendered params as `name=value`, sorted by name, space-separated ("" when not matched). */
  target: string;
  /** One line for the journal: control characters stripped, at most 200 characters. */
  summary: string;
  matched: boolean;
  /** Why the event does not match the trigger (only when `matched` is false). */
  why?: string;
}

/** A detector event that cannot become a run request; `field` is where it went wrong (`params.address`, `alerts[0].status`). */
export class TriggerInvalid extends FirebreakError {
  override readonly code = 'TRIGGER_INVALID';
  readonly field: string;
  constructor(field: string, problem: string) {
    super(field ? `${field}: ${problem}` : problem);
    this.field = field;
  }
}
