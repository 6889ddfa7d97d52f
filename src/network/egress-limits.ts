import { z } from 'zod';

/** The proxy's caps and timeouts, each with the default a sandbox gets. */
export const EgressLimitsSchema = z.strictObject({
  /** Request line plus headers of one HTTP request (431 beyond it). */
  maxHeaderBytes: z
    .int()
    .min(1024)
    .max(1024 * 1024)
    .default(16 * 1024),
  /** From accept to a tunnel or a first request: a silent or slow client is closed after it. */
  handshakeTimeoutMs: z.int().positive().default(10_000),
  /** A tunnel or forwarded request with no byte moving either way is closed after it. */
  idleTimeoutMs: z.int().positive().default(300_000),
  /** Per address tried. */
  connectTimeoutMs: z.int().positive().default(10_000),
  /** Client connections at once; more are closed at accept. */
  maxConnections: z.int().positive().max(65_536).default(256),
});
export type EgressLimits = z.infer<typeof EgressLimitsSchema>;
