// `ironclaw wrap` pins a tool's annotations with the rest of it: a server that drops a
// destructiveHint between runs (the tool would no longer be asked for) has changed the tool, and
// its list is held back with -32010 like any other change. Pin files written before annotations
// were pinned (version 1) are upgraded on the next run, not flagged. A real wrapped server (the
// test fixture) in a real bwrap box, through the built binary and the SDK client.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, describe, expect, test } from 'vitest';
import { canonicalJson, pinFilePath, sha256 } from '../src/mcp/wrap-tool-pins.js';
import { BIN, REPO } from './helpers/cli.js';

const FIXTURES = `${join(REPO, 'test', 'fixtures')}:/opt/fixtures:ro`;
const SERVER = ['node', '/opt/fixtures/mcp-fixture-server.mjs'];
const ARGS = ['wrap', '--env', 'FIXTURE_ANNOTATED', '--mount', FIXTURES, '--', ...SERVER];
/** The TOOLS_CHANGED error of wrap-proxy.ts. */
const TOOLS_CHANGED = -32010;

const open: Client[] = [];
afterAll(async () => {
  await Promise.allSettled(open.map((client) => client.close()));
});

type Hints = '1' | 'dropped';

async function wrap(
  state: string,
  hints: Hints,
): Promise<{ client: Client; stderr: () => string }> {
  let stderr = '';
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, ...ARGS],
    env: {
      ...process.env,
      IRONCLAW_STATE_DIR: state,
      IRONCLAW_DATA_DIR: state,
      IRONCLAW_AUDIT_DB: join(state, 'audit.db'),
      FIXTURE_ANNOTATED: hints,
    },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'wrap-pins-test', version: '1.0.0' }, { capabilities: {} });
  await client.connect(transport);
  open.push(client);
  return { client, stderr: () => stderr };
}

/** Lists the tools: the list, or the error the proxy answered with. */
async function listing(client: Client) {
  try {
    return { tools: (await client.listTools()).tools, error: undefined };
  } catch (error) {
    return { tools: undefined, error: error as { code?: number; message: string } };
  }
}

const stateDir = () => mkdtemp(join(tmpdir(), 'ironclaw-wrap-pins-'));

describe('wrap pins tool annotations', () => {
  test('a server that drops destructiveHint between runs is held back with -32010; unchanged hints pass', async () => {
    const state = await stateDir();
    const first = await wrap(state, '1');
    const listed = await listing(first.client);
    expect(listed.tools?.find((tool) => tool.name === 'remove')?.annotations).toMatchObject({
      destructiveHint: true,
    });
    await first.client.close();

    // Negative control: the same list again is no change.
    const same = await wrap(state, '1');
    expect((await listing(same.client)).error).toBeUndefined();
    await same.client.close();

    const dropped = await wrap(state, 'dropped');
    const flagged = await listing(dropped.client);
    expect(flagged.error?.code).toBe(TOOLS_CHANGED);
    expect(flagged.error?.message).toMatch(/changed: remove\).*destructiveHint.*--accept-tools/);
    const call = await dropped.client.callTool({ name: 'remove', arguments: { path: '/tmp/x' } });
    expect(call.isError).toBe(true);
    expect(dropped.stderr()).not.toContain('fixture: called remove');
    await dropped.client.close();
  });

  test('a pin file from before annotations were pinned is upgraded, not flagged; a later drop is flagged', async () => {
    // The tools as the server lists them, from a run of its own.
    const scratch = await wrap(await stateDir(), '1');
    const tools = (await listing(scratch.client)).tools ?? [];
    await scratch.client.close();
    expect(tools.map((tool) => tool.name)).toContain('remove');

    // A version 1 file, as wrap wrote it then: digests without annotations.
    const state = await stateDir();
    const path = pinFilePath(state, SERVER);
    await mkdir(join(state, 'wrap'), { recursive: true, mode: 0o700 });
    const v1 = Object.fromEntries(
      tools.map(({ name, title, description, inputSchema, outputSchema }) => [
        name,
        sha256(canonicalJson({ name, title, description, inputSchema, outputSchema })),
      ]),
    );
    const file = { version: 1, argv: SERVER, acceptedAt: new Date(0).toISOString(), tools: v1 };
    await writeFile(path, JSON.stringify(file), { mode: 0o600 });

    const upgraded = await wrap(state, '1');
    expect((await listing(upgraded.client)).error).toBeUndefined();
    await upgraded.client.close();
    const after = JSON.parse(await readFile(path, 'utf8')) as typeof file;
    expect(after.version).toBe(2);
    expect(Object.keys(after.tools).sort()).toEqual(Object.keys(v1).sort());
    // Tools with annotations got a new digest; those without keep theirs (the same text).
    expect(after.tools.remove).not.toBe(v1.remove);
    expect(after.tools.echo).toBe(v1.echo);
    expect(upgraded.stderr()).toContain('pinned the annotations of');

    const dropped = await wrap(state, 'dropped');
    const flagged = await listing(dropped.client);
    expect(flagged.error?.code).toBe(TOOLS_CHANGED);
    expect(flagged.error?.message).toContain('changed: remove)');
    await dropped.client.close();
  });
});
