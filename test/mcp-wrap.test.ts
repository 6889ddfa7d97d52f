// `ironclaw wrap`: real third-party MCP servers in real bwrap boxes, driven through the built
// binary by the real SDK client.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, REPO, runCli } from './helpers/cli.js';
import { auditRecords, summary } from './support/audit-records.js';

type Result = Awaited<ReturnType<Client['callTool']>>;

const NODE_MODULES = `${join(REPO, 'node_modules')}:/opt/mcp/node_modules:ro`;
// The server's entry file as its package names it (its `bin`), seen from inside the box.
const FS_PACKAGE = fileURLToPath(
  import.meta.resolve('@modelcontextprotocol/server-filesystem/package.json'),
);
const FS_ENTRY = (JSON.parse(readFileSync(FS_PACKAGE, 'utf8')) as { bin: Record<string, string> })
  .bin['mcp-server-filesystem'];
const FS_SERVER = [
  'node',
  join('/opt/mcp/node_modules/@modelcontextprotocol/server-filesystem', FS_ENTRY ?? 'missing'),
  '/data',
];
const FIXTURES = `${join(REPO, 'test', 'fixtures')}:/opt/fixtures:ro`;
const FIXTURE = ['node', '/opt/fixtures/mcp-fixture-server.mjs'];

let dataDir: string;
let canaryPath: string;
const open: Client[] = [];

/** A directory the box's uid (its own, from the box range, as root) can read. */
async function readableDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}

async function stateDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'ironclaw-wrap-state-'));
}

/** A fresh runtime and persistent state directory (the pins live in the latter). */
async function dirs(): Promise<{ IRONCLAW_STATE_DIR: string; IRONCLAW_DATA_DIR: string }> {
  const dir = await stateDir();
  return { IRONCLAW_STATE_DIR: dir, IRONCLAW_DATA_DIR: dir };
}

beforeAll(async () => {
  dataDir = await readableDir('ironclaw-wrap-data-');
  await writeFile(join(dataDir, 'hello.txt'), 'hello from the host\n', { mode: 0o644 });
  const canaryDir = await readableDir('ironclaw-wrap-canary-');
  canaryPath = join(canaryDir, 'canary.txt');
  await writeFile(canaryPath, 'CANARY-SECRET\n', { mode: 0o644 });
});

afterAll(async () => {
  await Promise.allSettled(open.map((client) => client.close()));
});

async function wrap(
  args: string[],
  options: {
    state: string;
    env?: Record<string, string>;
    /** What the client declares; elicitation (answered with "blue") unless given. */
    capabilities?: Record<string, unknown>;
  },
): Promise<{ client: Client; stderr: () => string }> {
  let stderr = '';
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'wrap', ...args],
    env: {
      ...process.env,
      IRONCLAW_STATE_DIR: options.state,
      IRONCLAW_DATA_DIR: options.state,
      ...options.env,
    },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client(
    { name: 'ironclaw-wrap-test', version: '1.0.0' },
    { capabilities: options.capabilities ?? { elicitation: { form: {} } } },
  );
  if (options.capabilities === undefined)
    client.setRequestHandler('elicitation/create', () =>
      Promise.resolve({ action: 'accept' as const, content: { colour: 'blue' } }),
    );
  await client.connect(transport);
  open.push(client);
  return { client, stderr: () => stderr };
}

function text(result: Result): string {
  const [first] = result.content;
  return first?.type === 'text' ? first.text : '';
}

async function toolNames(client: Client): Promise<string[]> {
  return (await client.listTools()).tools.map((tool) => tool.name);
}

function audits(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((line) => line.includes(' audit {'))
    .map((line) => JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>);
}

describe('ironclaw wrap with the real filesystem server', () => {
  test('lists tools, reads and lists the mounted directory, and stays inside it', async () => {
    const { client, stderr } = await wrap(
      ['--mount', NODE_MODULES, '--mount', `${dataDir}:/data:ro`, '--', ...FS_SERVER],
      { state: await stateDir() },
    );
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name);
    expect(names).toContain('read_text_file');
    expect(names).toContain('list_directory');

    const read = await client.callTool({
      name: 'read_text_file',
      arguments: { path: '/data/hello.txt' },
    });
    expect(read.isError).toBeFalsy();
    expect(text(read)).toBe('hello from the host\n');
    const listing = await client.callTool({ name: 'list_directory', arguments: { path: '/data' } });
    expect(text(listing)).toContain('hello.txt');

    const outside = await client.callTool({
      name: 'read_text_file',
      arguments: { path: canaryPath },
    });
    expect(outside.isError).toBe(true);
    expect(text(outside)).not.toContain('CANARY');

    const records = audits(stderr());
    expect(records.map((record) => [record.tool, record.decision])).toEqual([
      ['read_text_file', 'allowed'],
      ['list_directory', 'allowed'],
      ['read_text_file', 'allowed'],
    ]);
    expect(records[0]).toMatchObject({ isError: false });
    expect(records[0]?.argumentsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof records[0]?.durationMs).toBe('number');
  });
});

describe('ironclaw wrap with a hostile test server', () => {
  let host: Server;
  let connections = 0;
  beforeAll(async () => {
    host = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => host.close(() => resolve())));

  test('cannot read host files outside its mounts, nor reach the host network', async () => {
    const { client } = await wrap(['--mount', FIXTURES, '--', ...FIXTURE], {
      state: await stateDir(),
    });
    const read = await client.callTool({ name: 'read_host_file', arguments: { path: canaryPath } });
    expect(read.isError).toBe(true);
    expect(text(read)).toBe('cannot read: ENOENT');

    const port = (host.address() as { port: number }).port;
    const dial = await client.callTool({ name: 'connect', arguments: { port } });
    expect(dial.isError).toBe(true);
    expect(text(dial)).toMatch(/^cannot connect: E/);
    expect(connections).toBe(0);
  });

  test("relays the server's elicitation request to the client and the answer back", async () => {
    const { client } = await wrap(['--mount', FIXTURES, '--', ...FIXTURE], {
      state: await stateDir(),
    });
    const asked = await client.callTool({ name: 'ask', arguments: {} });
    expect(JSON.parse(text(asked))).toEqual({ action: 'accept', content: { colour: 'blue' } });
  });

  test('a tool denied by --policy is answered by the proxy and never reaches the server', async () => {
    const dir = await readableDir('ironclaw-wrap-policy-');
    const policy = join(dir, 'policy.json');
    const auditDb = join(await mkdtemp(join(tmpdir(), 'ironclaw-wrap-audit-')), 'audit.db');
    await writeFile(policy, JSON.stringify({ default: 'allow', tools: { echo: 'deny' } }));
    const { client, stderr } = await wrap(
      ['--policy', policy, '--mount', FIXTURES, '--', ...FIXTURE],
      {
        state: await stateDir(),
        env: { IRONCLAW_AUDIT_DB: auditDb },
      },
    );
    const denied = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(denied.isError).toBe(true);
    expect(text(denied)).toContain('policy denies tool "echo"');
    const allowed = await client.callTool({ name: 'read_host_file', arguments: { path: '/x' } });
    expect(text(allowed)).toBe('cannot read: ENOENT');
    expect(stderr()).not.toContain('fixture: called echo');
    expect(stderr()).toContain('fixture: called read_host_file');
    expect(audits(stderr()).map((record) => [record.tool, record.decision])).toEqual([
      ['echo', 'denied'],
      ['read_host_file', 'allowed'],
    ]);
    // Each call is requested before it goes anywhere, then settled with the policy's decision
    // (the allowed one failed: the file is not there).
    const calls = (await auditRecords(auditDb)).filter((record) => record.kind === 'tool-call');
    expect(summary(calls, 'tool', 'server', 'decision')).toEqual([
      ['tool-call requested', 'echo', FIXTURE, undefined],
      ['tool-call denied', undefined, undefined, 'denied'],
      ['tool-call requested', 'read_host_file', FIXTURE, undefined],
      ['tool-call failed', undefined, undefined, 'allowed'],
    ]);
    expect(calls[1]?.ref).toBe(calls[0]?.seq);
    expect(calls[3]?.ref).toBe(calls[2]?.seq);
  });

  test('a tool list that changes is held back, in this run and the next, until accepted', async () => {
    const state = await stateDir();
    const args = [
      '--env',
      'FIXTURE_RUG_PULL',
      '--env',
      'FIXTURE_VARIANT',
      '--mount',
      FIXTURES,
      '--',
      ...FIXTURE,
    ];
    const first = await wrap(args, { state, env: { FIXTURE_RUG_PULL: '1', FIXTURE_VARIANT: 'a' } });
    const { tools } = await first.client.listTools();
    expect(tools.find((tool) => tool.name === 'echo')?.description).toBe(
      'Echoes its text argument back.',
    );
    // The server now swaps in a poisoned description; the proxy does not pass it on.
    await expect(first.client.listTools()).rejects.toThrow(/changed: echo.*--accept-tools/);
    const blocked = await first.client.callTool({ name: 'echo', arguments: { text: 'x' } });
    expect(blocked.isError).toBe(true);
    expect(text(blocked)).toContain('rug pull');
    expect(first.stderr()).not.toContain('fixture: called echo');
    await first.client.close();

    // A later run that starts with the changed list is flagged too: the pin is on disk.
    const later = await wrap(args, { state, env: { FIXTURE_RUG_PULL: '0', FIXTURE_VARIANT: 'b' } });
    await expect(later.client.listTools()).rejects.toThrow(/changed: echo/);
    await later.client.close();

    const accepted = await runCli(['wrap', '--accept-tools', ...args], {
      env: {
        IRONCLAW_STATE_DIR: state,
        IRONCLAW_DATA_DIR: state,
        FIXTURE_RUG_PULL: '0',
        FIXTURE_VARIANT: 'b',
      },
    });
    expect(accepted.stderr).toContain('changed: echo');
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toBe('');
    const pins = await readdir(join(state, 'wrap'));
    expect(pins).toHaveLength(1);
    expect((await stat(join(state, 'wrap', pins[0] ?? ''))).mode & 0o777).toBe(0o600);

    const after = await wrap(args, { state, env: { FIXTURE_RUG_PULL: '0', FIXTURE_VARIANT: 'b' } });
    const again = await after.client.listTools();
    expect(again.tools.find((tool) => tool.name === 'echo')?.description).toContain('IMPORTANT');
  });
});

describe('ironclaw wrap pins tools by name', () => {
  const args = [
    '--env',
    'FIXTURE_BY_CAPABILITY',
    '--env',
    'FIXTURE_VARIANT',
    '--mount',
    FIXTURES,
    '--',
    ...FIXTURE,
  ];
  const env = { FIXTURE_BY_CAPABILITY: '1', FIXTURE_VARIANT: 'a' };

  test("a tool list that depends on the client's capabilities is no rug pull; accepting locks no client out", async () => {
    const state = await stateDir();
    const plain = await wrap(args, { state, env, capabilities: {} });
    expect(await toolNames(plain.client)).toEqual(['echo', 'read_host_file', 'connect', 'wait']);
    await plain.client.close();

    // A richer client is shown one more tool: new, not changed, so it is passed on and pinned.
    const rich = await wrap(args, { state, env });
    expect(await toolNames(rich.client)).toContain('ask');
    const asked = await rich.client.callTool({ name: 'ask', arguments: {} });
    expect(JSON.parse(text(asked))).toEqual({ action: 'accept', content: { colour: 'blue' } });
    expect(rich.stderr()).toContain('lists tools not seen before');
    await rich.client.close();

    const accepted = await runCli(['wrap', '--accept-tools', ...args], {
      env: { IRONCLAW_STATE_DIR: state, IRONCLAW_DATA_DIR: state, ...env },
    });
    expect(accepted.code).toBe(0);
    expect(accepted.stderr).toContain('accepted 5 tools (no changes)');

    for (const capabilities of [undefined, {}]) {
      const after = await wrap(args, { state, env, ...(capabilities ? { capabilities } : {}) });
      expect(await toolNames(after.client)).toHaveLength(capabilities ? 4 : 5);
      await after.client.close();
    }
  }, 90_000);

  test('a changed tool is still flagged when a new one comes with it', async () => {
    const state = await stateDir();
    const plain = await wrap(args, { state, env, capabilities: {} });
    await toolNames(plain.client);
    await plain.client.close();
    const changed = await wrap(args, { state, env: { ...env, FIXTURE_VARIANT: 'b' } });
    await expect(changed.client.listTools()).rejects.toThrow(/\(changed: echo\)/);
    const blocked = await changed.client.callTool({ name: 'echo', arguments: { text: 'x' } });
    expect(text(blocked)).toContain('rug pull');
  });
});

// The reference server whose capability-dependent tool list showed the false alarm. It is not a
// dependency of the project: install it anywhere (`npm install --prefix DIR
// @modelcontextprotocol/server-everything`) and set IRONCLAW_TEST_SERVER_EVERYTHING=DIR/node_modules.
const EVERYTHING = process.env.IRONCLAW_TEST_SERVER_EVERYTHING;
describe.skipIf(EVERYTHING === undefined)(
  'ironclaw wrap with server-everything (needs IRONCLAW_TEST_SERVER_EVERYTHING)',
  () => {
    test('clients with and without capabilities are both served, before and after --accept-tools', async () => {
      const state = await stateDir();
      const args = [
        '--mount',
        `${EVERYTHING ?? ''}:/opt/mcp/node_modules:ro`,
        '--',
        'node',
        '/opt/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js',
        'stdio',
      ];
      const rich = { sampling: {}, elicitation: { form: {}, url: {} } };
      const counts = async (): Promise<number[]> => {
        const seen: number[] = [];
        for (const capabilities of [{}, rich, {}]) {
          const { client } = await wrap(args, { state, capabilities });
          seen.push((await toolNames(client)).length);
          await client.close();
        }
        return seen;
      };
      const before = await counts();
      expect(before[1]).toBeGreaterThan(before[0] ?? 0);
      expect(before[2]).toBe(before[0]);
      const accepted = await runCli(['wrap', '--accept-tools', ...args], {
        env: { IRONCLAW_STATE_DIR: state, IRONCLAW_DATA_DIR: state },
      });
      expect(accepted.code).toBe(0);
      expect(await counts()).toEqual(before);
    }, 120_000);
  },
);

describe('ironclaw wrap and cancellation', () => {
  test('a cancelled call is audited as cancelled, and its late answer is dropped quietly', async () => {
    const { client, stderr } = await wrap(['--mount', FIXTURES, '--', ...FIXTURE], {
      state: await stateDir(),
    });
    const controller = new AbortController();
    const call = client.callTool(
      { name: 'wait', arguments: { ms: 1000 } },
      { signal: controller.signal },
    );
    await expect.poll(stderr).toContain('fixture: called wait');
    controller.abort('the test cancels');
    await expect(call).rejects.toThrow();
    await expect
      .poll(() => audits(stderr()))
      .toContainEqual(
        expect.objectContaining({ tool: 'wait', decision: 'allowed', outcome: 'cancelled' }),
      );
    await expect.poll(stderr, { timeout: 10_000 }).toContain('fixture: answered wait');
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'after' } });
    expect(text(echo)).toBe('after');
    expect(stderr()).not.toContain('never sent');
    expect(audits(stderr()).map((record) => [record.tool, record.outcome])).toEqual([
      ['wait', 'cancelled'],
      ['echo', 'answered'],
    ]);
  });
});

describe('ironclaw wrap input handling', () => {
  test('malformed input from the client gets an error and the proxy keeps serving', async () => {
    const child = spawn(process.execPath, [BIN, 'wrap', '--mount', FIXTURES, '--', ...FIXTURE], {
      env: { ...process.env, ...(await dirs()) },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    const lines: Record<string, unknown>[] = [];
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    const send = (line: string): boolean => child.stdin.write(`${line}\n`);
    send('this is not json');
    send('{"jsonrpc":"2.0","id":7}');
    send(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 't', version: '1' },
        },
      }),
    );
    send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }));
    await expect.poll(() => lines.length, { timeout: 15_000 }).toBe(4);
    child.stdin.end();
    const exit = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(exit).toBe(0);
    expect(lines[0]).toMatchObject({ id: null, error: { code: -32700 } });
    expect(lines[1]).toMatchObject({ id: 7, error: { code: -32600 } });
    expect(lines[2]).toMatchObject({ id: 1, result: { serverInfo: { name: 'fixture' } } });
    expect(lines[3]).toMatchObject({ id: 2 });
    expect((lines[3]?.result as { tools?: unknown[] }).tools).toHaveLength(5);
  });

  test('refuses what it cannot enforce, with a clear message', async () => {
    const state = await stateDir();
    const env = { IRONCLAW_STATE_DIR: state, IRONCLAW_DATA_DIR: state };
    const net = await runCli(['wrap', '--allow-net', 'exa*mple.com', '--', 'true'], { env });
    expect(net.code).toBe(2);
    expect(net.stderr).toMatch(/INVALID_ARGUMENT: .*exa\*mple\.com/);

    const dir = await readableDir('ironclaw-wrap-policy-');
    await writeFile(join(dir, 'policy.json'), JSON.stringify({ tools: { echo: 'maybe' } }));
    const vague = await runCli(['wrap', '--policy', join(dir, 'policy.json'), '--', 'true'], {
      env,
    });
    expect(vague.code).toBe(2);
    expect(vague.stderr).toMatch(/INVALID_ARGUMENT: .*is not a valid wrap policy/);

    const bad = await runCli(['wrap', '--mount', `${dataDir}:/proc/x`, '--', 'true'], { env });
    expect(bad.stderr).toContain('cannot mount at "/proc/x"');
    const missing = await runCli(['wrap', '--mount', '/no/such/dir:/data', '--', 'true'], { env });
    expect(missing.stderr).toContain('cannot mount /no/such/dir: it does not exist');
  });

  test.skipIf(process.getuid?.() !== 0)(
    'as root, a host path the box uid cannot read is refused, naming it',
    async () => {
      const closed = await mkdtemp(join(tmpdir(), 'ironclaw-wrap-closed-'));
      const result = await runCli(['wrap', '--mount', `${closed}:/data:ro`, '--', 'true'], {
        env: await dirs(),
      });
      expect(result.stderr).toMatch(
        new RegExp(
          `POLICY_UNENFORCEABLE: cannot mount ${closed}: host uid 1879[01]\\d{5}, which the box runs as`,
        ),
      );
    },
  );
});
