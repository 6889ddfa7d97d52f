// MCP `run` of a shell command takes a box started ahead of it with no guest agent (a primed
// box, src/runtime/primed-box.ts); a `run` that gives `env` goes through a sandbox and the
// guest agent. Both must build the same box: one canary, one answer, through the real server
// and the real SDK client.
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN } from './helpers/cli.js';
import { expectBoxUid } from './support/box-uid.js';

const isRoot = process.getuid?.() === 0;

interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  isolation: { hostUid: number };
}

/** What a box shows of its isolation: ids, capabilities, seccomp, signals, rlimits, env, fds, mounts, network. */
const CANARY = [
  // Each box has a host uid of its own (as root): the maps' outer uid is masked.
  "id; sed -E 's/^( *[0-9]+ +)[0-9]+/\\1HOST/' /proc/self/uid_map /proc/self/gid_map",
  'hostname; umask; pwd',
  "grep -E '^(Uid|Gid|Groups|NoNewPrivs|Seccomp|Seccomp_filters|SigBlk|SigIgn|Cap[A-Za-z]+):' /proc/self/status",
  'ulimit -a; env | sort; ls /proc/self/fd',
  // Without mount ids and device numbers, which differ from box to box.
  "cut -d' ' -f4- /proc/self/mountinfo | sed -E 's/ (shared|master|propagate_from):[0-9]+//g; s#/bindfile[^/]*#/bindfile#; s/uid=[0-9]+,gid=[0-9]+/uid=HOST,gid=HOST/'",
  'touch /usr/x /etc/x /x 2>&1; touch /tmp/x /workspace/x && echo writable',
  'cut -d: -f1 /proc/net/dev | tail -n +3; ls -A /',
].join('\n');

/** The box's processes by name: the guest agent is node, which only the sandbox path has. */
const PROCESSES = 'for p in /proc/[0-9]*; do cat $p/comm; done 2>/dev/null | sort | tr "\\n" " "';

/** An `ironclaw mcp` server on stdio with its client, optionally run under `prefix` (setpriv). */
async function connect(
  prefix: string[] = [],
  env: Record<string, string> = {},
): Promise<{ client: Client; stderr: () => string }> {
  let stderr = '';
  const [command = process.execPath, ...args] = [...prefix, process.execPath, BIN, 'mcp'];
  const transport = new StdioClientTransport({
    command,
    args,
    env: { ...process.env, IRONCLAW_POOL_SIZE: '1', ...env },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'ironclaw-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

async function run(client: Client, args: Record<string, unknown>): Promise<RunResult> {
  const result = await client.callTool({ name: 'run', arguments: args });
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  return result.structuredContent as RunResult;
}

/** The same canary through both paths; each answer says which path it took. */
async function compare(client: Client, callerUid?: number): Promise<void> {
  const fast = await run(client, { command: `${PROCESSES}; echo; ${CANARY}` });
  const agent = await run(client, { command: `${PROCESSES}; echo; ${CANARY}`, env: {} });
  const [fastProcesses, ...fastRest] = fast.stdout.split('\n');
  const [agentProcesses, ...agentRest] = agent.stdout.split('\n');
  expect(fastProcesses).not.toContain('MainThread');
  expect(fastProcesses).not.toContain('node');
  expect(agentProcesses).toMatch(/MainThread|node/);
  expect(fast).toMatchObject({ exitCode: 0, stderr: '' });
  expect(agent).toMatchObject({ exitCode: 0, stderr: '' });
  // The sandbox path's box holds the guest agent's bundle (/.ironclaw/agent.mjs); the primed
  // box has no agent, so nothing there. Everything else is the same.
  const withoutAgent = agentRest.filter(
    (line) => !line.includes('/.ironclaw/agent.mjs') && line !== '.ironclaw',
  );
  expect(agentRest.length - withoutAgent.length).toBe(2);
  expect(fastRest.join('\n')).toBe(withoutAgent.join('\n'));
  // The same layers and limits; only the box's own id (in its cgroup's path) and its own host
  // uid (as root: each box one of the box range) differ.
  const sansIds = (isolation: { hostUid: number }): string =>
    JSON.stringify({ ...isolation, hostUid: 'UID' }).replace(
      /sb-[0-9a-f]{20}\.[0-9]+-[0-9]+/g,
      'ID',
    );
  expect(sansIds(fast.isolation)).toBe(sansIds(agent.isolation));
  for (const { hostUid } of [fast.isolation, agent.isolation])
    if (callerUid === undefined) expectBoxUid(hostUid);
    else expect(hostUid).toBe(callerUid); // an unprivileged caller's boxes run as the caller
  // And it is a box: no capabilities, the filter on, signals at their defaults, rlimits set.
  for (const line of [
    'CapEff:\t0000000000000000',
    'NoNewPrivs:\t1',
    'Seccomp:\t2',
    'SigIgn:\t0000000000000000',
    'nofiles              4096',
    "cannot touch '/x': Read-only file system",
    'writable',
  ]) {
    expect(fast.stdout).toContain(line);
  }
}

describe('MCP run: the primed box and the sandbox path', () => {
  let server: Awaited<ReturnType<typeof connect>>;
  beforeAll(async () => {
    server = await connect();
  });
  afterAll(async () => {
    await server.client.close();
  });

  test('build the same box: one canary, one answer', async () => {
    await compare(server.client);
  });

  test('stdin, exit codes, output caps, timeouts and limits of its own on the primed path', async () => {
    const { client } = server;
    expect(
      await run(client, { command: 'cat; echo err >&2; exit 3', stdin: 'line one\nline two' }),
    ).toMatchObject({ stdout: 'line one\nline two', stderr: 'err\n', exitCode: 3 });
    // A command line of several lines, blank ones, backslashes and quotes arrives whole.
    const script = 'printf \'%s|\' "a\\\\b" \'c  d\'\n\n\necho "$0" \\\n  done\n';
    expect(await run(client, { command: script })).toMatchObject({
      stdout: 'a\\b|c  d|/bin/sh done\n',
      exitCode: 0,
    });
    expect(await run(client, { command: 'exit 125' })).toMatchObject({ exitCode: 125 });
    expect(
      await run(client, { command: 'head -c 5000 /dev/zero', maxOutputBytes: 100 }),
    ).toMatchObject({ truncated: true, exitCode: 0 });
    expect(await run(client, { command: 'sleep 30', timeoutSeconds: 0.5 })).toMatchObject({
      timedOut: true,
      exitCode: 124,
      signal: 'SIGKILL',
    });
    const limited = await run(client, { command: PROCESSES, pids: 64, memory: '256m' });
    expect(limited.stdout).not.toContain('MainThread');
    expect(JSON.stringify(limited.isolation)).toContain('pids 64, memory 268435456 bytes');
  });

  test.skipIf(!isRoot)(
    `as an unprivileged user too, the same canary gets the same answer${isRoot ? '' : ' [skipped: needs root to switch user]'}`,
    async () => {
      const home = await mkdtemp(join(tmpdir(), 'ironclaw-mcp-run-'));
      await chown(home, 65534, 65534);
      const unprivileged = await connect(
        ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'],
        { HOME: home },
      );
      try {
        await compare(unprivileged.client, 65534);
      } finally {
        await unprivileged.client.close();
        await rm(home, { recursive: true, force: true });
      }
    },
  );
});
