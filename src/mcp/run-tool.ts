import type { McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod/mini';
import { askingDuring } from './egress-asks.js';
import { execForTool, execText } from './exec-for-tool.js';
import {
  DriverInput,
  EncodingInput,
  execOptionFields,
  execOutputFields,
  FileContentInput,
  IsolationOutput,
  LimitFields,
  NetworkFields,
  MCP_LIMITS,
  PathInput,
} from './schemas.js';
import {
  decodeContent,
  isolationJson,
  limitsFrom,
  type ToolDeps,
  toolCall,
} from './tool-context.js';
import { runPrimedForTool, type RunPlan } from './run-primed.js';
import { toolOk } from './tool-result.js';
import { toolSchema } from './tool-schema.js';

/** How code in each language is run: the file it is written to and the interpreter. */
const LANGUAGES = {
  sh: { file: 'main.sh', argv: ['sh'] },
  bash: { file: 'main.sh', argv: ['bash'] },
  python: { file: 'main.py', argv: ['python3'] },
  node: { file: 'main.js', argv: ['node'] },
} as const;

/** Code goes to /tmp, so /workspace holds only the caller's files. */
const CODE_DIR = '/tmp/.ironclaw-run';

const RunInput = z
  .object({
    command: z.optional(
      z
        .string()
        .check(
          z.minLength(1),
          z.maxLength(MCP_LIMITS.commandChars),
          z.describe('A shell command line, run by /bin/sh -c in /workspace. Give this or `code`.'),
        ),
    ),
    code: z.optional(
      z
        .string()
        .check(
          z.maxLength(MCP_LIMITS.fileBytes),
          z.describe(
            'Source code to run as a program; give `language` too. Give this or `command`.',
          ),
        ),
    ),
    language: z.optional(
      z.enum(['sh', 'bash', 'python', 'node']).check(z.describe('Language of `code`.')),
    ),
    files: z.optional(
      z
        .array(
          z.object({
            path: PathInput,
            content: FileContentInput,
            encoding: z.optional(EncodingInput),
          }),
        )
        .check(
          z.maxLength(MCP_LIMITS.files),
          z.describe('Files written before the command runs, e.g. inputs or a project to test.'),
        ),
    ),
    ...execOptionFields,
    driver: z.optional(DriverInput),
    ...LimitFields,
    ...NetworkFields,
  })
  .check(
    z.refine((args) => (args.command === undefined) !== (args.code === undefined), {
      message: 'give exactly one of `command` or `code`',
    }),
    z.refine((args) => args.code === undefined || args.language !== undefined, {
      message: '`code` needs a `language`: sh, bash, python or node',
    }),
  );

const RunOutput = z.object({ ...execOutputFields, isolation: IsolationOutput });

const DESCRIPTION = `Run a shell command, or a program in sh, bash, python or node, in a fresh sandbox that is destroyed as soon as it finishes: nothing persists between calls.
The sandbox has no network, a read-only system, and a writable /workspace (the working directory) and /tmp; python3 and node are installed. Pass input files with \`files\` (paths relative to /workspace).
Returns stdout, stderr, exitCode, durationMs and truncated. For work over several steps (build, then test, then inspect), use sandbox_create and sandbox_exec instead.`;

export function registerRunTool(server: McpServer, deps: ToolDeps): void {
  server.registerTool(
    'run',
    {
      title: 'Run code in a fresh sandbox',
      description: DESCRIPTION,
      inputSchema: toolSchema(RunInput),
      outputSchema: toolSchema(RunOutput),
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        // With allowNet, what it runs reaches the hosts listed.
        openWorldHint: true,
      },
    },
    (args, ctx) =>
      toolCall(deps, 'run', async () => {
        const signal = ctx.mcpReq.signal;
        const request = {
          driver: args.driver,
          limits: limitsFrom(args),
          allowNet: args.allowNet,
          signal,
        };
        const files = (args.files ?? []).map((file) => ({
          path: file.path,
          data: decodeContent(file.content, file.encoding, file.path, MCP_LIMITS.fileBytes),
        }));
        let command: string | string[] = args.command ?? 'true';
        let plan: RunPlan = { files, command };
        if (args.code !== undefined && args.language !== undefined) {
          const language = LANGUAGES[args.language];
          const path = `${CODE_DIR}/${language.file}`;
          command = [...language.argv, path];
          // The argv is ours (no characters a shell would read), so a plain join is exact.
          plan = {
            files: [...files, { path, data: Buffer.from(args.code, 'utf8') }],
            command: `exec ${command.join(' ')}`,
          };
        }
        const primed = await runPrimedForTool(deps.sandboxes, request, plan, args, ctx);
        if (primed) {
          const { isolation, ...result } = primed;
          return toolOk(
            { ...result, isolation: isolationJson(isolation) },
            execText(result, args.timeoutSeconds ?? MCP_LIMITS.defaultTimeoutSeconds),
          );
        }
        return deps.sandboxes.oneShot(request, async (sandbox) => {
          for (const file of plan.files) await sandbox.writeFile(file.path, file.data, { signal });
          const result = await askingDuring(server, ctx, deps, sandbox.id, () =>
            execForTool(sandbox, command, args, ctx),
          );
          return toolOk(
            { ...result, isolation: isolationJson(sandbox.isolation) },
            execText(result, args.timeoutSeconds ?? MCP_LIMITS.defaultTimeoutSeconds),
          );
        });
      }),
  );
}
