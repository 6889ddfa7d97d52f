import type { EgressProtocol } from './decider.js';

/**
 * One connection the box asked for, as the audit store wants it: reported once, when it ends
 * (a refusal ends at once). For plain HTTP, one record per request.
 */
export interface EgressRecord {
  readonly sandbox: string;
  readonly protocol: EgressProtocol;
  /** The host as asked, normalised (punycode, lower case), or as sent if it was not a host. */
  readonly host: string;
  readonly port: number;
  /** The address dialed, or the one that was refused; absent when none was resolved. */
  readonly address?: string;
  readonly decision: 'allowed' | 'denied';
  /** Why: the rule that allowed it, or the refusal as the box was told it. */
  readonly reason: string;
  /** Bytes sent to the destination, and received from it. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly durationMs: number;
  /** How an allowed connection failed or ended abnormally: unreachable, timed out, idle… */
  readonly error?: string;
}

export type EgressListener = (record: EgressRecord) => void;

/** Calls the caller's listener, which must never take the proxy down with it. */
export function reportTo(listener: EgressListener | undefined, record: EgressRecord): void {
  if (!listener) return;
  try {
    listener(record);
  } catch (error) {
    process.stderr.write(
      `ironclaw: the egress listener threw: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  }
}

/** The record of a connection the gate did not open: denied by policy, or failed after an allow. */
export function refusalRecord(
  base: Pick<EgressRecord, 'sandbox' | 'protocol' | 'host' | 'port'>,
  refusal: { kind: string; reason: string; address?: string },
  started: number,
): EgressRecord {
  const policy = ['too-large', 'invalid', 'denied', 'address'].includes(refusal.kind);
  return {
    ...base,
    ...(refusal.address === undefined ? {} : { address: refusal.address }),
    decision: policy ? 'denied' : 'allowed',
    reason: refusal.reason,
    bytesUp: 0,
    bytesDown: 0,
    durationMs: performance.now() - started,
    ...(policy ? {} : { error: refusal.kind }),
  };
}

/** The record of a connection the gate opened, once it has ended. */
export function openedRecord(
  base: Pick<EgressRecord, 'sandbox' | 'protocol' | 'port'>,
  gate: { host: string; address: string; reason: string },
  started: number,
  end: { bytesUp: number; bytesDown: number; error?: string | undefined },
): EgressRecord {
  return {
    ...base,
    host: gate.host,
    address: gate.address,
    decision: 'allowed',
    reason: gate.reason,
    bytesUp: end.bytesUp,
    bytesDown: end.bytesDown,
    durationMs: performance.now() - started,
    ...(end.error === undefined ? {} : { error: end.error }),
  };
}
