import { readFile } from 'node:fs/promises';
import { z } from 'zod/mini';
import { exitStatusForSignal } from '../core/exit-status.js';
import { DAEMON_METHODS } from '../protocol/daemon-api.js';
import { OutputEventSchema } from '../protocol/guest-api.js';
import type { RpcClient } from '../protocol/rpc-client.js';
import { reportError, usageError } from './cli-error.js';
import { type CommandDef, dispatch } from './command.js';
import { connectDaemon } from './daemon-client.js';
import { parseLimitFlags } from './limit-flags.js';
import { WORKSPACE_OPTIONS, workspaceFlags } from './workspace-flags.js';

type Values = Record<string, string | boolean | undefined>;

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
        return reportError(error);
      }
    };
  const need = (positionals: string[], count: number, what: string): void => {
    if (positionals.length < count) throw usageError(`missing ${what}`);
  };
  const str = (value: string | boolean | undefined): string | undefined =>
    typeof value === 'string' ? value : undefined;

  const commands: CommandDef[] = [
    {
      name: 'create',
      summary: 'create a sandbox and print its id',
      args: '',
      options: {
        id: { type: 'string', value: '<id>', description: 'the id to give it (a-z, 0-9, -)' },
        memory: {
          type: 'string',
          value: '<size>',
          description: 'memory limit, e.g. 512m (needs cgroups)',
        },
        pids: { type: 'string', value: '<n>', description: 'process limit' },
        json: { type: 'boolean', description: 'print the id and isolation report as JSON' },
        ...WORKSPACE_OPTIONS,
      },
      run: guarded(async (options) => {
        const { limits } = parseLimitFlags({
          memory: str(options.memory),
          pids: str(options.pids),
        });
        const id = str(options.id);
        const workspace = workspaceFlags(options);
        const result = await (
          await daemon()
        ).request(
          'create',
          { ...(id === undefined ? {} : { id }), limits, ...(workspace ? { workspace } : {}) },
          DAEMON_METHODS.create.result,
        );
        process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : `${result.id}\n`);
      }),
    },
    {
      name: 'exec',
      summary: 'run a command in a sandbox; stdin is passed on when it is not a terminal',
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
      },
      run: guarded(async (options, [id, ...argv]) => {
        need(argv, 1, 'command: ironclaw sandbox exec <id> -- <command> [args...]');
        const { timeoutMs } = parseLimitFlags({ timeout: str(options.timeout) });
        const rpc = await daemon();
        const stdinOpen = !process.stdin.isTTY;
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        const call = rpc.call(
          'exec',
          { id, argv, stdinOpen, ...(timeoutMs === undefined ? {} : { timeoutMs }) },
          DAEMON_METHODS.exec.result,
          {
            onEvent: (event, data) => {
              const parsed = OutputEventSchema.safeParse(data);
              if (!parsed.success) return;
              const chunk = Buffer.from(parsed.data.data, 'base64');
              if (options.json) (event === 'stdout' ? stdout : stderr).push(chunk);
              else (event === 'stdout' ? process.stdout : process.stderr).write(chunk);
            },
          },
        );
        if (stdinOpen) {
          process.stdin.on('data', (chunk: Buffer) => call.input(chunk));
          process.stdin.once('end', () => call.input(undefined, true));
        }
        const result = await call.result.finally(() => process.stdin.destroy());
        if (options.json) {
          process.stdout.write(
            `${JSON.stringify({ ...result, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') })}\n`,
          );
        }
        return result.timedOut ? 124 : (result.exitCode ?? exitStatusForSignal(result.signal));
      }),
    },
    {
      name: 'write',
      summary: 'write a file in a sandbox from a host file, or from stdin with -',
      args: '<id> <path> [source|-]',
      options: {},
      run: guarded(async (_options, [id, path, source = '-']) => {
        need(
          [id ?? '', path ?? ''].filter(Boolean),
          2,
          'id and path: ironclaw sandbox write <id> <path> [source]',
        );
        const data = source === '-' ? await readAll(process.stdin) : await readFile(source);
        await (
          await daemon()
        ).request(
          'write_file',
          { id, path, data: data.toString('base64') },
          DAEMON_METHODS.write_file.result,
        );
      }),
    },
    {
      name: 'read',
      summary: 'print a file of a sandbox to stdout',
      args: '<id> <path>',
      options: {},
      run: guarded(async (_options, [id, path]) => {
        need(
          [id ?? '', path ?? ''].filter(Boolean),
          2,
          'id and path: ironclaw sandbox read <id> <path>',
        );
        const result = await (
          await daemon()
        ).request('read_file', { id, path }, DAEMON_METHODS.read_file.result);
        process.stdout.write(Buffer.from(result.data, 'base64'));
      }),
    },
    {
      name: 'ls',
      summary: 'list a directory of a sandbox',
      args: '<id> [path]',
      options: { json: { type: 'boolean', description: 'print the entries as JSON' } },
      run: guarded(async (options, [id, path = '/workspace']) => {
        need([id ?? ''].filter(Boolean), 1, 'id: ironclaw sandbox ls <id> [path]');
        const { entries } = await (
          await daemon()
        ).request('list', { id, path }, DAEMON_METHODS.list.result);
        if (options.json) process.stdout.write(`${JSON.stringify(entries)}\n`);
        else
          for (const entry of entries)
            process.stdout.write(
              `${entry.type === 'directory' ? 'd' : entry.type === 'symlink' ? 'l' : '-'} ${String(entry.size).padStart(10)} ${entry.name}\n`,
            );
      }),
    },
    {
      name: 'rm',
      summary: 'destroy sandboxes',
      args: '<id...>',
      options: {},
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
      run: guarded(async (options) => {
        const result = await (
          await daemon()
        ).request('sandboxes', {}, DAEMON_METHODS.sandboxes.result);
        if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else
          for (const sandbox of result.sandboxes)
            process.stdout.write(`${sandbox.id}\t${sandbox.createdAt}\n`);
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

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}
