import { allowNetRules } from './allow-net-flag.js';
import { ALLOW_NET_OPTION } from './allow-net-option.js';
import { z } from 'zod/mini';
import { DAEMON_METHODS } from '../protocol/daemon-api.js';
import { OutputEventSchema } from '../protocol/guest-api.js';
import type { RpcClient } from '../protocol/rpc-client.js';
import { writeOrWait } from '../runtime/write-or-wait.js';
import { reportError, usageError } from './cli-error.js';
import { execReport, exitStatusOf, reportJsonError, reportOutcome } from './exec-report.js';
import { sandboxFileCommands, type Values } from './sandbox-file-commands.js';
import { type CommandDef, dispatch } from './command.js';
import { connectDaemon } from './daemon-client.js';
import { parseLimitFlags } from './limit-flags.js';
import { parseBoxFlags } from './box-flags.js';
import { CREATE_BOX_OPTIONS, SANDBOX_EXEC_OPTIONS } from './box-options.js';
import { parseDriverFlag } from './config-flags.js';
import { assertDaemonHonours } from './daemon-config-check.js';
import { formatStats } from './stats-table.js';
import { PUBLISH_OPTIONS, publishFlags } from './publish-flags.js';
import { DRIVERS } from '../core/isolation.js';
import { WORKSPACE_OPTIONS, workspaceFlags } from './workspace-flags.js';
import { INTERACTIVE_OPTIONS } from './interactive-options.js';
import { followWindow, ttySession } from './tty-session.js';
import { longWorkEvent, showLongWork } from './long-work-display.js';

/** What `sandbox shell` runs: the box's bash where it has one, else its sh. */
const BOX_SHELL = ['/bin/sh', '-c', 'command -v bash >/dev/null && exec bash; exec sh'];

/** `ironclaw sandbox create|exec|write|read|ls|rm|list`, served by the daemon. */
export async function sandboxCommand(args: string[]): Promise<number> {
  let client: RpcClient | undefined;
  const daemon = async (): Promise<RpcClient> =>
    (client ??= await connectDaemon({ autoStart: true }));
  const guarded =
    (run: (options: Values, positionals: string[]) => Promise<number | void>) =>
    async (options: Values, positionals: string[]) => {
      try {
        return (await run(options, positionals)) ?? 0;
      } catch (error) {
        // A --json run answers with JSON on stdout even when it fails.
        return options.json === true ? reportJsonError(error) : reportError(error);
      }
    };
  const need = (positionals: string[], count: number, what: string): void => {
    if (positionals.length < count) throw usageError(`missing ${what}`);
  };
  const str = (value: string | boolean | string[] | undefined): string | undefined =>
    typeof value === 'string' ? value : undefined;

  const commands: CommandDef[] = [
    {
      name: 'create',
      summary: 'create a sandbox and print its id',
      args: '',
      options: {
        id: { type: 'string', value: '<id>', description: 'the id to give it (a-z, 0-9, -)' },
        driver: {
          type: 'string',
          value: '<driver>',
          description: `sandbox driver: ${DRIVERS.join(', ')} (default: the daemon's)`,
        },
        memory: {
          type: 'string',
          value: '<size>',
          description: 'memory limit: a number with k, m or g (512m, 2g; needs cgroups)',
        },
        pids: { type: 'string', value: '<n>', description: 'process limit, e.g. 256' },
        ...CREATE_BOX_OPTIONS,
        ...PUBLISH_OPTIONS,
        json: { type: 'boolean', description: 'print the id and isolation report as JSON' },
        ...WORKSPACE_OPTIONS,
        ...ALLOW_NET_OPTION,
      },
      examples: [
        'ironclaw sandbox create --id dev',
        'ironclaw sandbox create --driver gvisor --memory 1g --pids 256',
        'ironclaw sandbox create -e API_URL=http://127.0.0.1:8080 -v ~/data:/data',
        'ironclaw sandbox create --workspace . --allow-net github.com',
        'ironclaw sandbox create --id web -p 8080:8000   # then: curl http://127.0.0.1:8080/',
      ],
      run: guarded(async (options) => {
        const allowNet = allowNetRules(options['allow-net']);
        const { limits } = parseLimitFlags({
          memory: str(options.memory),
          pids: str(options.pids),
        });
        const id = str(options.id);
        const driverFlag = str(options.driver);
        const driver = driverFlag === undefined ? undefined : parseDriverFlag(driverFlag);
        const workspace = workspaceFlags(options);
        const { env, mounts } = await parseBoxFlags(options);
        const ports = publishFlags(options);
        const rpc = await daemon();
        await assertDaemonHonours(rpc, {
          driver: driver !== undefined,
          memory: limits.memoryBytes !== undefined,
        });
        // A first image build or VM template boot, done by the daemon, shows here as it goes.
        showLongWork(options.json === true);
        const result = await rpc.request(
          'create',
          {
            ...(id === undefined ? {} : { id }),
            limits,
            ...(workspace ? { workspace } : {}),
            ...(allowNet ? { allowNet } : {}),
            ...(driver === undefined ? {} : { driver }),
            ...(env === undefined ? {} : { env }),
            ...(mounts === undefined ? {} : { mounts }),
            ...(ports === undefined ? {} : { ports }),
          },
          DAEMON_METHODS.create.result,
          { onEvent: longWorkEvent },
        );
        process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : `${result.id}\n`);
        if (!options.json)
          for (const port of result.ports ?? [])
            process.stderr.write(`ironclaw: box port ${port.boxPort} is at ${port.url}\n`);
      }),
    },
    {
      name: 'exec',
      summary:
        'run a command in a sandbox; stdin is passed on when it is not a terminal, or with -i',
      args: '<id> -- <command> [args...]',
      options: {
        timeout: {
          type: 'string',
          value: '<duration>',
          description: 'kill the command after this long',
        },
        json: {
          type: 'boolean',
          description: 'print one JSON object with the result instead of streaming',
        },
        ...INTERACTIVE_OPTIONS,
        ...SANDBOX_EXEC_OPTIONS,
      },
      examples: [
        'ironclaw sandbox exec dev -- ls -l /workspace',
        "ironclaw sandbox exec -e DEBUG=1 -w /tmp dev -- sh -c 'echo $DEBUG; pwd'",
        'echo hi | ironclaw sandbox exec dev -- tr a-z A-Z',
        'ironclaw sandbox exec --timeout 10s --json dev -- make test',
      ],
      run: guarded(async (options, [id, ...argv]) => {
        need(argv, 1, 'command: ironclaw sandbox exec <id> -- <command> [args...]');
        const { timeoutMs } = parseLimitFlags({ timeout: str(options.timeout) });
        const stopped = new AbortController();
        using terminal = ttySession(options, () => stopped.abort());
        const { env, cwd } = await parseBoxFlags(options);
        const rpc = await daemon();
        const stdinOpen = !process.stdin.isTTY || options.interactive === true || !!terminal;
        const json = options.json === true;
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        const call = rpc.call(
          'exec',
          {
            id,
            argv,
            stdinOpen,
            ...(env === undefined ? {} : { env }),
            ...(cwd === undefined ? {} : { cwd }),
            ...(timeoutMs === undefined ? {} : { timeoutMs }),
            // Streamed, the output has no cap but the caller's pipe; --json keeps the default cap.
            ...(json ? {} : { maxOutputBytes: Number.MAX_SAFE_INTEGER }),
            ...(terminal ? { tty: terminal.tty } : {}),
          },
          DAEMON_METHODS.exec.result,
          {
            signal: stopped.signal,
            onEvent: (event, data) => {
              const parsed = OutputEventSchema.safeParse(data);
              if (!parsed.success) return;
              const chunk = Buffer.from(parsed.data.data, 'base64');
              if (json) {
                (event === 'stdout' ? stdout : stderr).push(chunk);
                return;
              }
              const wait = writeOrWait(event === 'stdout' ? process.stdout : process.stderr, chunk);
              if (wait) rpc.pauseReading(wait);
            },
          },
        );
        if (stdinOpen) {
          process.stdin.on('data', (chunk: Buffer) => {
            if (call.input(chunk)) return;
            process.stdin.pause();
            void rpc.drained().then(() => process.stdin.resume());
          });
          process.stdin.once('end', () => call.input(undefined, true));
        }
        if (terminal) void followWindow(terminal, call);
        const result = await call.result.finally(() => {
          terminal?.close();
          process.stdin.destroy();
        });
        if (json) {
          const output = { stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
          process.stdout.write(`${JSON.stringify(execReport(result, output))}\n`);
        }
        reportOutcome(result, str(options.timeout));
        return exitStatusOf(result);
      }),
    },
    {
      name: 'shell',
      summary: "an interactive shell in a sandbox, in a pseudo-terminal (the box's bash, else sh)",
      args: '<id>',
      options: {},
      run: guarded(async (options, [id, ...rest]) => {
        if (!id || rest.length > 0) throw usageError('give one id: ironclaw sandbox shell <id>');
        const exec = commands.find((command) => command.name === 'exec');
        return exec?.run({ ...options, tty: true }, [id, ...BOX_SHELL]);
      }),
    },
    ...sandboxFileCommands({ daemon, guarded, need }),
    {
      name: 'stats',
      summary:
        "memory, processes and CPU time a sandbox uses, against its limits: bwrap from the box's host cgroup; gvisor from its host cgroup, which holds the whole sandbox (the sentry's memory, its host threads as pids); qemu from the guest kernel's box cgroup, asked of the guest agent",
      args: '[id]',
      options: { json: { type: 'boolean', description: 'print them as JSON' } },
      examples: ['ironclaw sandbox stats', 'ironclaw sandbox stats dev --json'],
      run: guarded(async (options, [id]) => {
        const { sandboxes } = await (
          await daemon()
        ).request('stats', id === undefined ? {} : { id }, DAEMON_METHODS.stats.result);
        if (options.json) {
          process.stdout.write(`${JSON.stringify(sandboxes)}\n`);
          return;
        }
        process.stdout.write(formatStats(sandboxes));
      }),
    },
    {
      name: 'ports',
      summary: "list a sandbox's published ports (sandbox create -p)",
      args: '<id>',
      options: { json: { type: 'boolean', description: 'print them as JSON' } },
      examples: ['ironclaw sandbox ports web'],
      run: guarded(async (options, [id]) => {
        need([id ?? ''].filter(Boolean), 1, 'id: ironclaw sandbox ports <id>');
        const { ports } = await (
          await daemon()
        ).request('ports', { id }, DAEMON_METHODS.ports.result);
        if (options.json) process.stdout.write(`${JSON.stringify(ports)}\n`);
        else
          for (const port of ports)
            process.stdout.write(`${port.boxPort} -> ${port.address}:${port.hostPort}\n`);
      }),
    },
    {
      name: 'rm',
      summary: 'destroy sandboxes',
      args: '<id...>',
      options: {},
      examples: ['ironclaw sandbox rm work', 'ironclaw sandbox rm work web'],
      run: guarded(async (_options, ids) => {
        need(ids, 1, 'id: ironclaw sandbox rm <id...>');
        const rpc = await daemon();
        for (const id of ids) await rpc.request('destroy', { id }, z.object({}));
      }),
    },
    {
      name: 'list',
      summary: 'list live sandboxes',
      args: '',
      options: { json: { type: 'boolean', description: 'print them as JSON' } },
      examples: ['ironclaw sandbox list', 'ironclaw sandbox list --json'],
      run: guarded(async (options) => {
        const result = await (
          await daemon()
        ).request('sandboxes', {}, DAEMON_METHODS.sandboxes.result);
        if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else
          for (const sandbox of result.sandboxes)
            process.stdout.write(`${sandbox.id}\t${sandbox.handedOutAt ?? sandbox.createdAt}\n`);
      }),
    },
  ];
  try {
    return await dispatch(
      commands,
      args,
      'ironclaw sandbox',
      'Long-lived sandboxes, held by the IronClaw daemon (started on first use).',
    );
  } finally {
    client?.close();
  }
}
