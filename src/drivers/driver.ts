import type { Action, ActionKind } from '../actions.js';
import type { Device } from '../inventory/types.js';
import type { Session } from '../transports/types.js';

/**
 * The driver contract. One file per device family implements it; all pass one conformance suite.
 *
 * The engine, for each action:  read -> (holds? `already`) -> journal intent {before, inverse}
 *   -> apply -> read -> holds? `verified` : VerifyMismatch.
 * Rollback runs `inverse` through the same read/apply/read cycle.
 *
 * `State` is whatever the driver observes that is relevant to the action, as plain JSON. Example
 * for linux `interface.disable eth-uplink`:
 *   { interface: 'eth-uplink', adminUp: true, routes: [{ dst: 'default', gateway: '198.51.100.1' }] }
 * and for linux `host.block 10.20.0.11`:
 *   { address: '10.20.0.11', rules: [{ handle: 7, comment: 'fb:p-1a2b:a1 host.block 10.20.0.11 saddr' }, ...] }
 */
export type State = Record<string, unknown>;

export interface ActionContext {
  device: Device;
  /** Identifies what this action adds, e.g. `fb:<planId>:<actionId>`; safe to put in a comment. */
  tag: string;
  /** Per-command timeout. */
  timeoutMs: number;
  /**
   * Device-side auto-revert: when set (and the driver has `confirm`), `apply` arms the platform's
   * own timer (Junos `commit confirmed`, IOS `configure terminal revert timer`, ...) so that the
   * device undoes the change by itself unless `confirm` is called after the read-back verified it.
   */
  autoRevert?: { minutes: number };
}

export interface Driver {
  family: string;
  transport: 'ssh' | 'snmp';
  /** Forward and inverse actions this family can carry out. */
  supports: readonly ActionKind[];
  /** Pure: the commands / varbinds the plan shows for this action. */
  render(action: Action, ctx: ActionContext): string[];
  /** Reads the state relevant to `action` from the device. */
  read(session: Session, action: Action, ctx: ActionContext): Promise<State>;
  /** Pure: does `state` already show what `action` wants? */
  holds(action: Action, state: State, ctx: ActionContext): boolean;
  /** Changes the device; returns the device's output (redacted before it is journaled). */
  apply(session: Session, action: Action, ctx: ActionContext): Promise<string>;
  /**
   * Pure: the action that restores `before`, or null when nothing needs undoing (the wanted state
   * already held, e.g. a port that was already down stays down after rollback).
   */
  invert(action: Action, before: State, ctx: ActionContext): Action | null;
  /**
   * Optional, for the coordinated cut: applies several actions of one stage on this device as
   * close together as the platform allows (one configuration session, one commit), in order.
   * Same effect as `apply` for each; a failure throws, and the engine then goes through the
   * actions one by one (reading each first, so what already took effect is not sent again).
   */
  applyAll?(session: Session, items: { action: Action; ctx: ActionContext }[]): Promise<string>;
  /**
   * Only on platforms with a device-side auto-revert: makes an armed change permanent. Called by
   * the engine after the read-back verified the change. Idempotent: confirming when nothing is
   * pending (already confirmed, or the timer already fired) succeeds and says so in its output.
   */
  confirm?(session: Session, action: Action, ctx: ActionContext): Promise<string>;
}
