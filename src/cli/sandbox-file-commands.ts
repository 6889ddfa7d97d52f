import type { RpcClient } from '../protocol/rpc-client.js';
import { DAEMON_METHODS } from '../protocol/daemon-api.js';
import { usageError } from './cli-error.js';
import type { CommandDef } from './command.js';
import { ProgressLine, progressMode } from './progress-line.js';
import { sandboxCp } from './sandbox-cp.js';
import { openSource, readFileOut, targetPath, writeFileIn } from './sandbox-files.js';

export type Values = Record<string, string | boolean | string[] | undefined>;

/** What the `sandbox` subcommands share: the daemon (connected on first use), error reporting. */
export interface SandboxCommandContext {
  daemon: () => Promise<RpcClient>;
  guarded: (
    run: (options: Values, positionals: string[]) => Promise<number | void>,
  ) => (options: Values, positionals: string[]) => Promise<number>;
  need: (positionals: string[], count: number, what: string) => void;
}

/** A path given as base64 of its bytes, for names that are not UTF-8 (write and read). */
const PATH_BASE64_OPTION = {
  'path-base64': {
    type: 'boolean',
    description:
      'the path is base64 of its bytes: a name that is not UTF-8 (ls --json shows pathBytes)',
  },
} as const;

/** `ironclaw sandbox write|read|cp|ls`: files in and out of a sandbox, through the daemon. */
export function sandboxFileCommands({
  daemon,
  guarded,
  need,
}: SandboxCommandContext): CommandDef[] {
  return [
    {
      name: 'write',
      summary: 'write a file in a sandbox from a host file, or from stdin with -',
      args: '<id> <path> [source|-]',
      options: PATH_BASE64_OPTION,
      examples: [
        'echo hi | ironclaw sandbox write work notes/hi.txt -',
        'ironclaw sandbox write work /workspace/ ./main.py',
      ],
      run: guarded(async (options, [id, path, source = '-']) => {
        need(
          [id ?? '', path ?? ''].filter(Boolean),
          2,
          'id and path: ironclaw sandbox write <id> <path> [source]',
        );
        const input = await openSource(source);
        try {
          const target = targetPath(path ?? '', source, options['path-base64'] === true);
          await writeFileIn(await daemon(), id ?? '', target, input);
        } finally {
          input.destroy();
        }
      }),
    },
    {
      name: 'read',
      summary: 'print a file of a sandbox to stdout',
      args: '<id> <path>',
      options: PATH_BASE64_OPTION,
      examples: [
        'ironclaw sandbox read work notes/hi.txt',
        'ironclaw sandbox read work /tmp/out.log > out.log',
      ],
      run: guarded(async (options, [id, path]) => {
        need(
          [id ?? '', path ?? ''].filter(Boolean),
          2,
          'id and path: ironclaw sandbox read <id> <path>',
        );
        const source = {
          path: path ?? '',
          ...(options['path-base64'] === true ? { pathEncoding: 'base64' as const } : {}),
        };
        await readFileOut(await daemon(), id ?? '', source, process.stdout);
      }),
    },
    {
      name: 'cp',
      summary: 'copy a file or directory between a sandbox and the host, as docker cp does',
      args: '<id>:<path> <host-path>|-  or  <host-path>|- <id>:<path>',
      options: {},
      examples: [
        'ironclaw sandbox cp dev:/workspace/build ./build      # a directory out',
        'ironclaw sandbox cp ./data.csv dev:/workspace/        # a file into a directory',
        'ironclaw sandbox cp dev:/workspace - | tar -tvf -     # a tar stream on stdout',
        'tar -cf - src | ironclaw sandbox cp - dev:/workspace  # a tar stream from stdin',
      ],
      run: guarded(async (_options, [from, to, ...rest]) => {
        if (from === undefined || to === undefined || rest.length > 0)
          throw usageError(
            'give a source and a destination: ironclaw sandbox cp <id>:<path> <host-path> (or the other way round)',
          );
        await sandboxCp(await daemon(), from, to, {
          stdin: process.stdin,
          stdout: process.stdout,
          progress: new ProgressLine(progressMode(false)),
        });
      }),
    },
    {
      name: 'ls',
      summary: 'list a directory of a sandbox',
      args: '<id> [path]',
      options: { json: { type: 'boolean', description: 'print the entries as JSON' } },
      examples: ['ironclaw sandbox ls work', 'ironclaw sandbox ls work /tmp --json'],
      run: guarded(async (options, [id, path = '/workspace']) => {
        need([id ?? ''].filter(Boolean), 1, 'id: ironclaw sandbox ls <id> [path]');
        const { entries, omitted } = await (
          await daemon()
        ).request('list', { id, path }, DAEMON_METHODS.list.result);
        if (options.json) process.stdout.write(`${JSON.stringify(entries)}\n`);
        else
          for (const entry of entries) {
            // A name that is not UTF-8 is printed as its bytes, as ls(1) does into a pipe.
            const name =
              entry.nameBytes === undefined
                ? Buffer.from(entry.name)
                : Buffer.from(entry.nameBytes, 'base64');
            const kind = entry.type === 'directory' ? 'd' : entry.type === 'symlink' ? 'l' : '-';
            process.stdout.write(
              Buffer.concat([
                Buffer.from(`${kind} ${String(entry.size).padStart(10)} `),
                name,
                Buffer.from('\n'),
              ]),
            );
          }
        if (omitted !== undefined)
          process.stderr.write(`ironclaw: ${omitted} more entries were left out of the listing\n`);
      }),
    },
  ];
}
