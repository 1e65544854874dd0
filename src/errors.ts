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

/** Best-effort message for anything thrown, FirebreakError or not. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export function errorCode(err: unknown): string {
  return err instanceof FirebreakError ? err.code : 'INTERNAL';
}
