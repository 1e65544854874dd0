/**
 * One error tree. Every error Firebreak raises is a FirebreakError with a stable `code`.
 * Drivers and transports wrap library errors at their edge; only api/ maps codes to HTTP and
 * only cli/ maps them to exit codes.
 */
export class FirebreakError extends Error {
  readonly code: string = 'FIREBREAK';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

function kind(code: string) {
  return class extends FirebreakError {
    override readonly code = code;
  };
}

/** A YAML file (playbook or inventory) that does not validate; message starts with file:line:col. */
export class PlaybookInvalid extends kind('PLAYBOOK_INVALID') {}
export class InventoryInvalid extends kind('INVENTORY_INVALID') {}
/** A run parameter that does not fit its declared type (message names the parameter). */
export class ParamInvalid extends kind('PARAM_INVALID') {}
/** Planning failed (unknown target, unsupported action, ...). */
export class PlanInvalid extends kind('PLAN_INVALID') {}
export class UnknownDriver extends kind('UNKNOWN_DRIVER') {}
export class UnsupportedAction extends kind('UNSUPPORTED_ACTION') {}
export class SecretUnavailable extends kind('SECRET_UNAVAILABLE') {}

export class DeviceUnreachable extends kind('DEVICE_UNREACHABLE') {}
export class AuthFailed extends kind('AUTH_FAILED') {}
export class HostKeyMismatch extends kind('HOST_KEY_MISMATCH') {}
export class CommandRejected extends kind('COMMAND_REJECTED') {}
export class DeviceTimeout extends kind('DEVICE_TIMEOUT') {}
export class SnmpError extends kind('SNMP_ERROR') {}
export class VerifyMismatch extends kind('VERIFY_MISMATCH') {}

export class RunNotFound extends kind('RUN_NOT_FOUND') {}
export class JournalCorrupt extends kind('JOURNAL_CORRUPT') {}
export class LabError extends kind('LAB_ERROR') {}
export class SimError extends kind('SIM_ERROR') {}
/** A run asked to move where its lifecycle does not allow (rolling back a running run, say). */
export class RunStateConflict extends kind('RUN_STATE_CONFLICT') {}
/** The queue (Redis) could not take or run the job. */
export class QueueUnavailable extends kind('QUEUE_UNAVAILABLE') {}
/** This executor lost its device lease (another took it after expiry): it must not change the device. */
export class LeaseLost extends kind('LEASE_LOST') {}

/** Best-effort message for anything thrown, FirebreakError or not. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export function errorCode(err: unknown): string {
  return err instanceof FirebreakError ? err.code : 'INTERNAL';
}

/** A device lease (one change session per device, invariant 5) stayed taken for the whole wait. */
export class LeaseBusy extends kind('LEASE_BUSY') {}
/** The coordination Redis could not be reached or did not answer in time (message never carries a password). */
export class RedisUnavailable extends kind('REDIS_UNAVAILABLE') {}
/** The journal database (PostgreSQL) could not be reached, refused us, or failed a write (message never carries a password). */
export class JournalUnavailable extends kind('JOURNAL_UNAVAILABLE') {}
/** Configuration (environment, flags) that cannot work, e.g. a worker without REDIS_URL. */
export class ConfigInvalid extends kind('CONFIG_INVALID') {}
/** A run with this idempotency key is in the journal already (another process made it first). */
export class IdempotencyTaken extends kind('IDEMPOTENCY_TAKEN') {}
/** An approval that policy does not allow: the requester approving their own run, say. */
export class ApprovalRefused extends kind('APPROVAL_REFUSED') {}
