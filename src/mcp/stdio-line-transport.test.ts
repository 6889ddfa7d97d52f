import { PassThrough } from 'node:stream';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { describe, expect, test } from 'vitest';
import { StdioLineTransport } from './stdio-line-transport.js';

async function open(maxMessageBytes = 1024): Promise<{
  input: PassThrough;
  received: JSONRPCMessage[];
  answers: () => unknown[];
  transport: StdioLineTransport;
}> {
  const input = new PassThrough();
  const output = new PassThrough();
  let written = '';
  output.on('data', (chunk: Buffer) => (written += chunk.toString()));
  const transport = new StdioLineTransport(input, output, { maxMessageBytes });
  const received: JSONRPCMessage[] = [];
  transport.onmessage = (message) => received.push(message);
  await transport.start();
  return {
    input,
    received,
    transport,
    answers: () =>
      written
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as unknown),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('StdioLineTransport', () => {
  test('delivers one message per line, across chunk boundaries and with CRLF', async () => {
    const { input, received } = await open();
    input.write('{"jsonrpc":"2.0","id":1,"me');
    input.write('thod":"ping"}\r\n\n{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
    await tick();
    expect(received).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
    ]);
  });

  test('answers a line that is not JSON with -32700 and one that is not JSON-RPC with -32600', async () => {
    const { input, received, answers } = await open();
    input.write('{not json\n{"id":7,"hello":1}\n["x"]\n{"jsonrpc":"2.0","id":8,"method":"ping"}\n');
    await tick();
    expect(answers()).toEqual([
      {
        jsonrpc: '2.0',
        id: null,
        error: { code: -32700, message: expect.stringMatching(/^Parse error/) as unknown },
      },
      { jsonrpc: '2.0', id: 7, error: { code: -32600, message: expect.any(String) as unknown } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.any(String) as unknown } },
    ]);
    expect(received).toEqual([{ jsonrpc: '2.0', id: 8, method: 'ping' }]);
  });

  test('drops an oversized line as it streams past and answers it with its id', async () => {
    const { input, received, answers } = await open(100);
    const big = JSON.stringify({
      jsonrpc: '2.0',
      method: 'tools/call',
      params: { pad: 'x'.repeat(500) },
      id: 42,
    });
    for (let at = 0; at < big.length; at += 64) input.write(big.slice(at, at + 64));
    input.write('\n{"jsonrpc":"2.0","id":43,"method":"ping"}\n');
    await tick();
    expect(answers()).toEqual([
      {
        jsonrpc: '2.0',
        id: 42,
        error: { code: -32600, message: expect.stringContaining('100-byte limit') as unknown },
      },
    ]);
    expect(received).toEqual([{ jsonrpc: '2.0', id: 43, method: 'ping' }]);
  });

  test('an oversized line is answered with its id wherever it stands before the big value', async () => {
    const { input, answers } = await open(100);
    input.write(
      `{"jsonrpc":"2.0","method":"tools/call","id":"call-7","params":{"id":1,"pad":"${'x'.repeat(500)}"}}\n`,
    );
    input.write(`{"method":"m","params":{"a":[1,{"id":2}]},"id":8,"x":"${'y'.repeat(500)}"}\n`);
    await tick();
    expect(answers()).toMatchObject([
      { id: 'call-7', error: { code: -32600 } },
      { id: 8, error: { code: -32600 } },
    ]);
  });

  test('an oversized line whose id cannot be found is answered with a null id', async () => {
    const { input, answers } = await open(10);
    input.write(`{"params":{"id":1,"x":"${'y'.repeat(50)}"},"method":"m","jsonrpc":"2.0"}\n`);
    await tick();
    expect(answers()).toMatchObject([{ id: null, error: { code: -32600 } }]);
  });

  test('sends messages as lines and closes once when its input ends', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const transport = new StdioLineTransport(input, output);
    let closes = 0;
    transport.onclose = () => closes++;
    await transport.start();
    await transport.send({ jsonrpc: '2.0', id: 1, result: {} });
    expect(String(output.read())).toBe('{"jsonrpc":"2.0","id":1,"result":{}}\n');
    input.end();
    await transport.closed;
    await transport.close();
    expect(closes).toBe(1);
    await expect(transport.send({ jsonrpc: '2.0', id: 2, result: {} })).rejects.toThrow(/closed/);
  });
});
