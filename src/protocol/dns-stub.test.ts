import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DNS_SENTINEL_IPV4, buildStubReply } from './dns-stub.js';

/** A query as resolvers send it: id, RD set, one question, optionally an EDNS OPT record. */
function query(name: string, type: number, options: { klass?: number; edns?: boolean } = {}) {
  const labels = name
    .split('.')
    .filter(Boolean)
    .flatMap((label) => [label.length, ...Buffer.from(label)]);
  const opt = options.edns ? [0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0] : [];
  return new Uint8Array([
    ...[0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, opt.length ? 1 : 0],
    ...labels,
    0,
    ...[type >> 8, type & 0xff, 0, options.klass ?? 1],
    ...opt,
  ]);
}

function parsed(reply: Uint8Array | undefined) {
  if (!reply) return undefined;
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  const flags = view.getUint16(2);
  return {
    id: view.getUint16(0),
    response: Boolean(flags & 0x8000),
    rd: Boolean(flags & 0x100),
    rcode: flags & 0xf,
    questions: view.getUint16(4),
    answers: view.getUint16(6),
    address: view.getUint16(6) ? [...reply.subarray(-4)].join('.') : undefined,
  };
}

describe('buildStubReply', () => {
  it('answers an A query with the sentinel, echoing the id and the question as sent', () => {
    const q = query('Files.PyPI.org', 1, { edns: true });
    const reply = buildStubReply(q)!;
    expect(parsed(reply)).toEqual({
      id: 0xbeef,
      response: true,
      rd: true,
      rcode: 0,
      questions: 1,
      answers: 1,
      address: DNS_SENTINEL_IPV4,
    });
    const questionEnd = q.length - 11;
    expect(Buffer.from(reply.subarray(12, questionEnd))).toEqual(
      Buffer.from(q.subarray(12, questionEnd)),
    );
    expect(parsed(buildStubReply(q, { sentinel: '192.0.2.9' }))?.address).toBe('192.0.2.9');
  });

  it.each([
    ['AAAA', 28],
    ['MX', 15],
    ['TXT', 16],
    ['HTTPS', 65],
    ['ANY', 255],
  ])('answers %s with NODATA: success and no answers', (_name, type) => {
    expect(parsed(buildStubReply(query('example.com', type)))).toMatchObject({
      rcode: 0,
      questions: 1,
      answers: 0,
    });
  });

  it('answers localhost with the box loopback', () => {
    expect(parsed(buildStubReply(query('localhost', 1)))?.address).toBe('127.0.0.1');
    expect(parsed(buildStubReply(query('a.LOCALHOST', 1)))?.address).toBe('127.0.0.1');
    expect(parsed(buildStubReply(query('localhost.evil.com', 1)))?.address).toBe(DNS_SENTINEL_IPV4);
  });

  it('refuses other classes, other opcodes and malformed questions with a code', () => {
    expect(parsed(buildStubReply(query('version.bind', 16, { klass: 3 })))?.rcode).toBe(5);
    const update = query('example.com', 1);
    update[2] = 0x28; // opcode 5, UPDATE
    expect(parsed(buildStubReply(update))).toMatchObject({ rcode: 4, questions: 0 });
    const two = query('example.com', 1);
    two[5] = 2;
    expect(parsed(buildStubReply(two))?.rcode).toBe(1);
    const pointer = query('example.com', 1);
    pointer[12] = 0xc0;
    expect(parsed(buildStubReply(pointer))?.rcode).toBe(1);
    expect(parsed(buildStubReply(query('example.com', 1).subarray(0, 20)))?.rcode).toBe(1);
    const long = query(Array.from({ length: 5 }, () => 'a'.repeat(63)).join('.'), 1);
    expect(parsed(buildStubReply(long))?.rcode).toBe(1);
  });

  it('drops packets with no header, and responses', () => {
    expect(buildStubReply(new Uint8Array(11))).toBeUndefined();
    const response = query('example.com', 1);
    response[2]! |= 0x80;
    expect(buildStubReply(response)).toBeUndefined();
  });

  it('never throws, and answers with the query id, on any bytes (seeded)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const reply = parsed(buildStubReply(bytes));
        if (reply) expect(reply.id).toBe((bytes[0]! << 8) | bytes[1]!);
      }),
      { seed: 0xd25, numRuns: 5000 },
    );
  });
});
