import type { Socket } from 'node:net';
import type { GateContext } from './egress-gate.js';
import type { EgressListener } from './egress-record.js';

/** What each protocol handler of one proxy shares: the gate, limits, the listener, teardown. */
export interface ProxyContext {
  readonly gate: GateContext;
  readonly onConnection: EgressListener | undefined;
  readonly idleMs: number;
  /** Aborted when the proxy closes: ends every pending decision, lookup and dial. */
  readonly signal: AbortSignal;
  /** Registers a destination socket so close() ends it too. */
  track(socket: Socket): void;
  /** The client connection has finished its handshake: its handshake deadline no longer applies. */
  established(client: Socket): void;
}
