import * as z from 'zod/mini';
import { ERROR_CODES } from '../core/errors.js';
import { WindowSizeSchema } from './window-size.js';

/**
 * The envelope every frame carries, for the guest channel and the daemon socket alike:
 * requests with ids, one response per request, streamed events and input tied to a request.
 */
const RequestId = z.number().check(z.int(), z.nonnegative());

export const RequestSchema = z.object({
  t: z.literal('req'),
  id: RequestId,
  method: z.string().check(z.maxLength(64)),
  params: z.unknown(),
});

export const WireErrorSchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
});

export const ResponseSchema = z.union([
  z.object({ t: z.literal('res'), id: RequestId, ok: z.literal(true), result: z.unknown() }),
  z.object({ t: z.literal('res'), id: RequestId, ok: z.literal(false), error: WireErrorSchema }),
]);

/** A streamed event of a pending request (stdout and stderr chunks of an exec). */
export const EventSchema = z.object({
  t: z.literal('evt'),
  id: RequestId,
  event: z.string().check(z.maxLength(64)),
  data: z.unknown(),
});

/** Asks the serving side to abort a pending request. */
export const CancelSchema = z.object({ t: z.literal('cancel'), id: RequestId });

/**
 * More input for a pending request (stdin of an exec), base64; `eof` closes it. `resize` is the
 * new size of the caller's terminal, for an exec that runs in a pseudo-terminal.
 */
export const InputSchema = z.object({
  t: z.literal('input'),
  id: RequestId,
  data: z.optional(z.string()),
  eof: z.optional(z.boolean()),
  resize: z.optional(WindowSizeSchema),
});

/** The last frame before a side closes a connection whose peer broke the protocol. */
export const FatalSchema = z.object({ t: z.literal('fatal'), error: WireErrorSchema });

/** What a client may send to a server. */
export const ClientMessageSchema = z.discriminatedUnion('t', [
  RequestSchema,
  CancelSchema,
  InputSchema,
  FatalSchema,
]);

/** What a server may send to a client. */
export const ServerMessageSchema = z.union([ResponseSchema, EventSchema, FatalSchema]);
