import { describe, expect, it } from 'vitest';
import { ClientMessageSchema, ServerMessageSchema } from './envelope.js';

describe('ClientMessageSchema', () => {
  it.each([
    { t: 'req', id: 0, method: 'ping', params: {} },
    { t: 'req', id: 1, method: 'exec', params: null },
    { t: 'cancel', id: 3 },
    { t: 'input', id: 3, data: 'aGk=' },
    { t: 'input', id: 3, eof: true },
    { t: 'fatal', error: { code: 'FRAME_INVALID', message: 'garbage' } },
  ])('accepts %j', (message) => {
    expect(ClientMessageSchema.safeParse(message).success).toBe(true);
  });

  it.each([
    ['a negative id', { t: 'req', id: -1, method: 'ping', params: {} }],
    ['a fractional id', { t: 'req', id: 1.5, method: 'ping', params: {} }],
    ['a string id', { t: 'req', id: '1', method: 'ping', params: {} }],
    ['a method over 64 characters', { t: 'req', id: 1, method: 'm'.repeat(65), params: {} }],
    ['a response, which only servers send', { t: 'res', id: 1, ok: true, result: {} }],
    ['an unknown type', { t: 'hello', id: 1 }],
    ['input data that is not a string', { t: 'input', id: 1, data: [1, 2] }],
    ['a fatal with an unknown code', { t: 'fatal', error: { code: 'OOPS', message: '' } }],
    ['not an object', 'req'],
  ])('rejects %s', (_what, message) => {
    expect(ClientMessageSchema.safeParse(message).success).toBe(false);
  });
});

describe('ServerMessageSchema', () => {
  it.each([
    { t: 'res', id: 1, ok: true, result: { pong: true } },
    { t: 'res', id: 1, ok: false, error: { code: 'NOT_FOUND', message: 'gone' } },
    { t: 'evt', id: 1, event: 'stdout', data: { data: 'aGk=' } },
    { t: 'fatal', error: { code: 'PROTOCOL_ERROR', message: 'bad' } },
  ])('accepts %j', (message) => {
    expect(ServerMessageSchema.safeParse(message).success).toBe(true);
  });

  it.each([
    ['ok that is not a boolean', { t: 'res', id: 1, ok: 'yes', result: {} }],
    ['a failure without an error', { t: 'res', id: 1, ok: false, result: {} }],
    [
      'an error with an unknown code',
      { t: 'res', id: 1, ok: false, error: { code: 'E', message: '' } },
    ],
    ['a request, which only clients send', { t: 'req', id: 1, method: 'ping', params: {} }],
    ['an event name over 64 characters', { t: 'evt', id: 1, event: 'e'.repeat(65), data: 1 }],
    ['null', null],
  ])('rejects %s', (_what, message) => {
    expect(ServerMessageSchema.safeParse(message).success).toBe(false);
  });
});
