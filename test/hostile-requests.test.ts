// Issue 13: no single request may kill a process that holds other people's sandboxes. Hostile
// requests go to a daemon (through the CLI) and to an MCP server, each holding a live sandbox;
// every request gets a clear error, and afterwards the live sandbox still answers. The library
// gets the same: a hostile sandbox inside try/catch never takes the process down.
import { type ChildProcess, spawn } from 'node:child_process';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bwrapDriver } from '../src/drivers/bwrap/index.js';
import { detectCgroups } from '../src/host/cgroups.js';
import { createSandbox } from '../src/runtime/create-sandbox.js';
import { runOnce } from '../src/runtime/run-once.js';
import { BIN, type CliResult, freshStateDir, runCli } from './helpers/cli.js';
import { probeCgroups } from './support/cgroup-probe.js';

const cgroups = await probeCgroups();
const noCgroups = cgroups.available ? '' : ` (skipped: ${cgroups.reason})`;

/** An error line of the CLI: `ironclaw: CODE: words`, and never a stack trace. */
const CLI_ERROR = /^ironclaw: [A-Z_]+: \S.*/m;
const STACK_FRAME = /^\s+at .+\(.+:\d+:\d+\)$|node:internal|Unhandled 'error' event/m;

function expectCliError(result: CliResult, pattern: RegExp): void {
  expect(result.code, result.stderr).not.toBe(0);
  expect(result.stderr).toMatch(CLI_ERROR);
  expect(result.stderr).toMatch(pattern);
  expect(result.stderr).not.toMatch(STACK_FRAME);
}

describe('hostile requests against the daemon (through the CLI)', () => {
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { env });

  beforeAll(async () => {
    env = { IRONCLAW_STATE_DIR: await freshStateDir(), IRONCLAW_POOL_SIZE: '0' };
    expect(await cli(['sandbox', 'create', '--id', 'keeper'])).toMatchObject({ code: 0 });
  });

  afterAll(async () => {
    await cli(['daemon', '--stop']);
  });

  async function expectKeeperAlive(): Promise<void> {
    const alive = await cli(['sandbox', 'exec', 'keeper', '--', 'echo', 'alive']);
    expect(alive, alive.stderr).toMatchObject({ code: 0, stdout: 'alive\n' });
  }

  const refused: [string, string[], RegExp][] = [
    ['a memory limit of 1 KiB', ['sandbox', 'create', '--memory', '1k'], /memory limit 1 KiB/],
    ['a memory limit of 512 bytes', ['sandbox', 'create', '--memory', '512'], /below the/],
    ['a pids limit of 1', ['sandbox', 'create', '--pids', '1'], /pids limit 1 is below/],
    ['a huge pids limit', ['sandbox', 'create', '--pids', '99999999999'], /pids limit/],
    ['a huge memory limit', ['sandbox', 'create', '--memory', '9e99g'], /--memory/],
    ['a bad id', ['sandbox', 'create', '--id', '../../etc'], /INVALID_ID/],
    ['an exec in a bad id', ['sandbox', 'exec', 'Bad!', '--', 'true'], /INVALID_ID/],
    ['an exec in no such box', ['sandbox', 'exec', 'nosuch', '--', 'true'], /SANDBOX_NOT_FOUND/],
    ['a read outside the box', ['sandbox', 'read', 'keeper', '../../etc/shadow'], /OUTSIDE/],
    ['a read of a missing file', ['sandbox', 'read', 'keeper', 'nothing-here'], /nothing-here/],
  ];
  test.each(refused)('refuses %s clearly and keeps serving', async (_, args, pattern) => {
    expectCliError(await cli(args), pattern);
    await expectKeeperAlive();
  });

  test('huge but well-formed limits are taken as no real limit, or refused clearly', async () => {
    for (const limits of [
      ['--memory', '8000000g'],
      ['--pids', String(4_194_304)],
    ]) {
      const result = await cli(['sandbox', 'create', '--id', 'huge', ...limits]);
      if (result.code === 0) {
        const ok = await cli(['sandbox', 'exec', 'huge', '--', 'echo', 'ok']);
        expect(ok).toMatchObject({ code: 0, stdout: 'ok\n' });
        expect(await cli(['sandbox', 'rm', 'huge'])).toMatchObject({ code: 0 });
      } else expectCliError(result, /limit/);
      await expectKeeperAlive();
    }
  });

  test('an exec that kills every process of its box (kill -9 -1) ends that box only', async () => {
    expect(await cli(['sandbox', 'create', '--id', 'victim'])).toMatchObject({ code: 0 });
    const killed = await cli(['sandbox', 'exec', 'victim', '--', 'kill', '-9', '-1']);
    expectCliError(killed, /victim has ended \(.*\): its guest agent was killed/);
    expectCliError(await cli(['sandbox', 'exec', 'victim', '--', 'true']), /victim/);
    await expectKeeperAlive();
    expect(await cli(['sandbox', 'rm', 'victim'])).toMatchObject({ code: 0 });
  });

  test('an exec that signals the box pid 1 gets an answer, and the daemon lives', async () => {
    expect(await cli(['sandbox', 'create', '--id', 'pid-one'])).toMatchObject({ code: 0 });
    const result = await cli(['sandbox', 'exec', 'pid-one', '--', 'kill', '-9', '1']);
    // Whether the box's init may be killed from inside is the kernel's call; either way the
    // answer is an exit status or a clear error, never a dead daemon.
    if (result.code !== 0 && result.code !== 1) expect(result.stderr).toMatch(CLI_ERROR);
    expect(result.stderr).not.toMatch(STACK_FRAME);
    await expectKeeperAlive();
    await cli(['sandbox', 'rm', 'pid-one']);
  });

  test.skipIf(!cgroups.available)(
    `a box whose workload runs out of memory ends that workload only${noCgroups}`,
    async () => {
      expect(await cli(['sandbox', 'create', '--id', 'hungry', '--memory', '48m'])).toMatchObject({
        code: 0,
      });
      const result = await cli([
        'sandbox',
        'exec',
        'hungry',
        '--',
        'python3',
        '-c',
        'x = bytearray(512 * 1024 * 1024)',
      ]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).not.toMatch(STACK_FRAME);
      if (result.code === 125) expect(result.stderr).toMatch(/hungry/);
      await expectKeeperAlive();
      await cli(['sandbox', 'rm', 'hungry']);
    },
  );

  test('the daemon that answered all of that is the one that holds keeper', async () => {
    const list = await cli(['sandbox', 'list']);
    expect(list.stdout).toContain('keeper');
  });
});

describe.each(['stdio', 'http'] as const)('hostile requests against an MCP server (%s)', (kind) => {
  type Result = Awaited<ReturnType<Client['callTool']>>;
  let client: Client;
  let keeper: string;
  let server: ChildProcess | undefined;
  let stderr = '';

  const call = (name: string, args: Record<string, unknown>): Promise<Result> =>
    client.callTool({ name, arguments: args });
  const text = (result: Result): string => {
    const [first] = result.content;
    return first?.type === 'text' ? first.text : '';
  };

  beforeAll(async () => {
    const env = { ...process.env, IRONCLAW_POOL_SIZE: '0' } as Record<string, string>;
    client = new Client({ name: 'ironclaw-hostile-test', version: '1.0.0' });
    if (kind === 'stdio') {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [BIN, 'mcp'],
        env,
        stderr: 'pipe',
      });
      transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      await client.connect(transport);
    } else {
      const child = spawn(process.execPath, [BIN, 'mcp', '--http', '127.0.0.1:0'], {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      server = child;
      const { url, token } = await new Promise<{ url: string; token: string }>(
        (resolve, reject) => {
          child.stderr.on('data', (chunk: Buffer) => {
            stderr += chunk.toString();
            const url = /serving Streamable HTTP at (\S+)/.exec(stderr)?.[1];
            const token = /bearer token [^:]*: (\S+)/.exec(stderr)?.[1];
            if (url && token) resolve({ url, token });
          });
          child.once('exit', (code) => reject(new Error(`the server exited (${code}): ${stderr}`)));
        },
      );
      await client.connect(
        new StreamableHTTPClientTransport(new URL(url), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
    }
    const created = await call('sandbox_create', {});
    expect(created.isError, text(created)).toBeFalsy();
    keeper = (created.structuredContent as { sandboxId: string }).sandboxId;
  });

  afterAll(async () => {
    await client.close();
    server?.kill('SIGTERM');
  });

  async function expectKeeperAlive(): Promise<void> {
    const alive = await call('sandbox_exec', { sandboxId: keeper, command: 'echo alive' });
    expect(alive.isError, text(alive)).toBeFalsy();
    expect(alive.structuredContent).toMatchObject({ exitCode: 0, stdout: 'alive\n' });
  }

  const refused: [string, string, Record<string, unknown>, RegExp][] = [
    ['run with 1 KiB of memory', 'run', { command: 'true', memory: '1k' }, /memory limit 1 KiB/],
    ['run with 1 pid', 'run', { command: 'true', pids: 1 }, /pids limit 1 is below/],
    ['a sandbox with 512 bytes', 'sandbox_create', { memory: '512' }, /below the/],
    ['a sandbox with a huge memory', 'sandbox_create', { memory: '9e99g' }, /memory/],
    ['an exec in a bad id', 'sandbox_exec', { sandboxId: '../x', command: 'true' }, /[A-Z_]+/],
    ['a read outside', 'sandbox_read_file', { sandboxId: 'k', path: '/etc/shadow' }, /[A-Z_]+/],
  ];
  test.each(refused)('refuses %s clearly and keeps serving', async (_, tool, args, pattern) => {
    const result = await call(tool, args);
    expect(result.isError, text(result)).toBe(true);
    expect(text(result)).toMatch(/^[A-Z_]+: \S/);
    expect(text(result)).toMatch(pattern);
    await expectKeeperAlive();
  });

  test('a read outside the live sandbox is refused', async () => {
    const result = await call('sandbox_read_file', { sandboxId: keeper, path: '../../etc/shadow' });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^PATH_OUTSIDE_SANDBOX: /);
    await expectKeeperAlive();
  });

  test('a run that kills every process of its box gets an answer', async () => {
    const result = await call('run', { command: 'kill -9 -1' });
    if (result.isError) expect(text(result)).toMatch(/has ended|did not/);
    await expectKeeperAlive();
  });

  test('an exec that kills its own sandbox ends that sandbox only', async () => {
    const created = await call('sandbox_create', {});
    const victim = (created.structuredContent as { sandboxId: string }).sandboxId;
    const killed = await call('sandbox_exec', { sandboxId: victim, command: 'kill -9 -1' });
    expect(killed.isError).toBe(true);
    expect(text(killed)).toMatch(/^CHANNEL_CLOSED: .*has ended/);
    await expectKeeperAlive();
    await call('sandbox_destroy', { sandboxId: victim });
  });

  test('the server logged no crash and still runs', () => {
    expect(stderr).not.toMatch(STACK_FRAME);
    if (server) expect(server.exitCode).toBeNull();
  });
});

describe('hostile sandboxes in a program (the library)', () => {
  test('limits too small to start are refused before anything starts', async () => {
    await expect(createSandbox({ limits: { memoryBytes: 1024 } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/memory limit 1 KiB is below the \d+ MiB/) as unknown,
    });
    await expect(
      runOnce(['true'], { stdio: 'pipe', limits: { memoryBytes: 1024 } }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  // Under the floor, straight to the driver: the box is OOM-killed while the host still talks
  // to it on several socket pairs. Before the fix one of them raised an 'error' event that
  // nothing listened to, which killed this process whatever try/catch surrounded the call.
  test.skipIf(!cgroups.available)(
    `a box that dies while starting is an error, not a dead process${noCgroups}`,
    async () => {
      const backend = await detectCgroups();
      for (const payload of [
        { kind: 'agent' } as const,
        { kind: 'command', argv: ['true'], stdio: 'pipe' } as const,
      ]) {
        const outcome = await bwrapDriver
          .spawn({
            id: `hostile-${payload.kind}`,
            limits: { memoryBytes: 1024 },
            payload,
            cgroups: backend,
            rootBoxUid: 65534,
          })
          .then(
            async (box) => {
              // The box may be handed over before it dies: its end is what is awaited then.
              await box.exited;
              await box.destroy();
              return 'ended';
            },
            (error: unknown) => error,
          );
        if (outcome !== 'ended') expect(outcome).toMatchObject({ code: 'SANDBOX_START_FAILED' });
      }
      // No event says "no stray 'error' event will come": this pause only lets one surface while
      // this test still runs, to be blamed on it. One that comes later, on a slow machine, still
      // fails the run (vitest reports unhandled errors whenever they happen).
      await new Promise((resolve) => setTimeout(resolve, 200));
    },
  );

  test.skipIf(!cgroups.available)(
    `a sandbox whose agent is OOM-killed says so${noCgroups}`,
    async () => {
      await using sandbox = await createSandbox({ limits: { memoryBytes: 32 * 1024 ** 2 } });
      const outcome = await sandbox
        .exec(['node', '-e', 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1))'])
        .then(
          (result) => ({ exitCode: result.exitCode, signal: result.signal }),
          (error: unknown) => error,
        );
      // The kernel picks its victim: the command (killed by SIGKILL) or the agent (the box ends).
      if (outcome instanceof Error)
        expect(outcome).toMatchObject({
          code: 'CHANNEL_CLOSED',
          message: expect.stringContaining('has ended') as unknown,
        });
      else expect(outcome).toMatchObject({ signal: 'SIGKILL' });
    },
  );
});
