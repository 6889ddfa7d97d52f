// `wrap --accept-tools` against an in-memory server whose tools depend on the client's capabilities.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { expect, test } from 'vitest';
import { acceptTools } from './wrap-accept.js';
import type { Upstream } from './wrap-box-server.js';
import { readPins, toolDigest, writePins } from './wrap-tool-pins.js';

const tool = (name: string, description = `${name} does one thing.`) => ({ name, description });

/** Lists `ask` only to a client that declared elicitation, and `roots` to one that declared roots. */
function server(): Upstream {
  let capabilities: Record<string, unknown> = {};
  const upstream: Upstream = {
    onmessage: () => undefined,
    exited: new Promise<string>(() => undefined),
    close: () => Promise.resolve(),
    send(message: JSONRPCMessage) {
      if (!('method' in message) || !('id' in message)) return;
      const params = (message.params ?? {}) as { capabilities?: Record<string, unknown> };
      let result: Record<string, unknown> = {};
      if (message.method === 'initialize') capabilities = params.capabilities ?? {};
      if (message.method === 'tools/list')
        result = {
          tools: [
            tool('echo', 'Echoes, now better.'),
            ...(capabilities.elicitation ? [tool('ask')] : []),
            ...(capabilities.roots ? [tool('roots')] : []),
          ],
        };
      queueMicrotask(() => upstream.onmessage({ jsonrpc: '2.0', id: message.id, result }));
    },
  };
  return upstream;
}

test('accepting sees the fullest list, and keeps the pins of tools it was not shown', async () => {
  const pinPath = join(await mkdtemp(join(tmpdir(), 'ironclaw-accept-')), 'pins.json');
  await writePins(pinPath, ['server'], {
    echo: toolDigest(tool('echo')),
    ask: toolDigest(tool('ask')),
    hidden: toolDigest(tool('hidden')),
  });
  const report = await acceptTools(server(), {
    pinPath,
    argv: ['server'],
    version: '0',
    signal: AbortSignal.timeout(5000),
  });
  expect(report).toContain('new: roots');
  expect(report).toContain('changed: echo');
  expect(report).toMatch(/kept, though not listed now .*: hidden/);
  expect((await readPins(pinPath))?.tools).toEqual({
    echo: toolDigest(tool('echo', 'Echoes, now better.')),
    ask: toolDigest(tool('ask')),
    roots: toolDigest(tool('roots')),
    hidden: toolDigest(tool('hidden')),
  });
});
