// MCP `run` takes a box started ahead of it with no guest agent (a primed box,
// src/runtime/primed-box.ts), files, env and code included; a `run` that gives `cwd` goes
// through a sandbox and the guest agent. Both must build the same box: one canary, one answer, through the real server
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

async function tool(client: Client, name: string, args: Record<string, unknown>) {
  const result = await client.callTool({ name, arguments: args });
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  return result.structuredContent as Record<string, unknown>;
}

/**
 * The same `run` done as an agent would without it: a sandbox, its guest agent writing each
 * file and running the command (code as `run` runs it: a file in /tmp and its interpreter).
 */
async function runThroughSandbox(
  client: Client,
  call: Record<string, unknown> & { files?: unknown[] },
): Promise<RunResult> {
  const { sandboxId, isolation } = await tool(client, 'sandbox_create', {});
  try {
    for (const file of call.files ?? [])
      await tool(client, 'sandbox_write_file', { sandboxId, ...(file as object) });
    let command: Record<string, unknown> = { command: call.command };
    if (typeof call.code === 'string') {
      await tool(client, 'sandbox_write_file', {
        sandboxId,
        path: '/tmp/.ironclaw-run/main.sh',
        content: call.code,
      });
      command = { argv: ['sh', '/tmp/.ironclaw-run/main.sh'] };
    }
    const result = await tool(client, 'sandbox_exec', {
      sandboxId,
      ...command,
      ...(call.env === undefined ? {} : { env: call.env }),
      ...(call.stdin === undefined ? {} : { stdin: call.stdin }),
    });
    return { ...(result as unknown as RunResult), isolation: isolation as RunResult['isolation'] };
  } finally {
    await tool(client, 'sandbox_destroy', { sandboxId });
  }
}

/** What the files a call wrote look like to the command: modes, owners, sizes, bytes. */
const FILES_SEEN =
  "find /workspace /tmp -exec stat -c '%a %u %g %s %F %n' {} + | sort; find /workspace /tmp -type f -exec md5sum {} + | sort";

/** Files and variables that carry what a header could garble: newlines, NUL bytes, quotes. */
const WITH_INPUT = {
  files: [
    { path: 'in/data.txt', content: 'line one\nline two\n' },
    { path: '/tmp/deep/er/bytes.bin', content: 'AAoKAP8NCjEK', encoding: 'base64' },
    { path: '/workspace/empty', content: '' },
    { path: 'in/data.txt', content: 'written twice: the last one stays\n' },
  ],
  env: { GREETING: 'multi\nline "quoted" \\ value\n', n: 'a name the runner uses', EMPTY: '' },
};

/** The same canary through both paths; each answer says which path it took. */
async function compare(
  client: Client,
  extra: Record<string, unknown> = {},
  callerUid?: number,
): Promise<void> {
  const canary = `${PROCESSES}; echo; ${CANARY}\n${FILES_SEEN}`;
  const call = 'code' in extra ? { ...extra, code: canary } : { ...extra, command: canary };
  const fast = await run(client, call);
  const agent = await runThroughSandbox(client, call);
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

  test('write the same files and set the same variables; run code the same way', async () => {
    await compare(server.client, WITH_INPUT);
    await compare(server.client, { ...WITH_INPUT, code: '', language: 'sh' });
    const fast = await run(server.client, {
      code: 'import os, sys; print(sys.argv[1:], os.environ["GREETING"], open("in/data.txt").read())',
      language: 'python',
      ...WITH_INPUT,
    });
    expect(fast).toMatchObject({
      stdout: '[] multi\nline "quoted" \\ value\n written twice: the last one stays\n\n',
      exitCode: 0,
    });
  });

  test('a file the guest agent would refuse gets its refusal, in the same words', async () => {
    for (const files of [
      [{ path: '../etc/passwd', content: 'x' }],
      [{ path: '/tmp', content: 'x' }],
      // A file, then a file under it: write_file cannot make a directory of a file.
      [
        { path: 'a', content: 'x' },
        { path: 'a/b', content: 'y' },
      ],
    ]) {
      const fast = await server.client.callTool({
        name: 'run',
        arguments: { command: 'true', files },
      });
      expect(fast.isError, JSON.stringify(fast.content)).toBe(true);
      // The guest agent's own refusal of the last file, word for word.
      const { sandboxId } = await tool(server.client, 'sandbox_create', {});
      try {
        let refusal: unknown;
        for (const file of files) {
          const agent = await server.client.callTool({
            name: 'sandbox_write_file',
            arguments: { sandboxId, ...file },
          });
          if (agent.isError) refusal = agent.content;
        }
        expect(fast.content).toEqual(refusal);
      } finally {
        await tool(server.client, 'sandbox_destroy', { sandboxId });
      }
    }
  });

  test('stdin, exit codes, output caps, timeouts and limits of its own on the primed path', async () => {
    const { client } = server;
    expect(
      await run(client, {
        command: 'cat; echo err >&2; exit 3',
        stdin: 'line one\nline two',
        // The files are read off the same pipe first: none of their bytes, nor of stdin, is lost.
        ...WITH_INPUT,
      }),
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
        await compare(unprivileged.client, {}, 65534);
      } finally {
        await unprivileged.client.close();
        await rm(home, { recursive: true, force: true });
      }
    },
  );
});
