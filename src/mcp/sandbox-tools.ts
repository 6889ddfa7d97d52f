import type { McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod/mini';
import { DRIVERS } from '../core/isolation.js';
import { askingDuring } from './egress-asks.js';
import { execForTool, execText } from './exec-for-tool.js';
import {
  DriverInput,
  execOptionFields,
  execOutputFields,
  IsolationOutput,
  LimitFields,
  NetworkFields,
  MCP_LIMITS,
  PathInput,
  SandboxIdInput,
} from './schemas.js';
import { isolationJson, limitsFrom, type ToolDeps, toolCall } from './tool-context.js';
import { toolOk } from './tool-result.js';
import { toolSchema } from './tool-schema.js';
import { copyWorkspaceFor } from './workspace-tools.js';

const CreateInput = z.object({
  driver: z.optional(DriverInput),
  ...LimitFields,
  ...NetworkFields,
  workspace: z.optional(
    z
      .string()
      .check(
        z.maxLength(4096),
        z.describe(
          "A host directory to copy into the sandbox's /workspace (an absolute path inside this server's working directory). Its changes come back only through workspace_diff and workspace_apply, which asks the user.",
        ),
      ),
  ),
  ports: z.optional(
    z
      .array(z.number().check(z.int(), z.gte(1), z.lte(65535)))
      .check(
        z.maxLength(16),
        z.describe(
          'Ports of servers you will start in the sandbox (listening on 127.0.0.1 there), to reach from this host: each gets a free port on 127.0.0.1 of the host, given in the result as a URL. The sandbox still has no network.',
        ),
      ),
  ),
  timeoutSeconds: z.optional(
    z
      .number()
      .check(
        z.positive(),
        z.lte(MCP_LIMITS.maxTimeoutSeconds),
        z.describe(
          `Time limit of each sandbox_exec in this sandbox that gives none. Default ${MCP_LIMITS.defaultTimeoutSeconds}.`,
        ),
      ),
  ),
});

const CreateOutput = z.object({
  sandboxId: z.string(),
  fromPool: z.boolean(),
  defaultTimeoutSeconds: z.number(),
  idleTimeoutSeconds: z.number(),
  isolation: IsolationOutput,
  ports: z.optional(z.array(z.object({ boxPort: z.number(), url: z.string() }))),
});

const ExecInput = z
  .object({
    sandboxId: SandboxIdInput,
    command: z.optional(
      z
        .string()
        .check(
          z.minLength(1),
          z.maxLength(MCP_LIMITS.commandChars),
          z.describe('A shell command line, run by /bin/sh -c. Give this or `argv`.'),
        ),
    ),
    argv: z.optional(
      z
        .array(z.string().check(z.maxLength(MCP_LIMITS.commandChars)))
        .check(
          z.minLength(1),
          z.maxLength(4096),
          z.describe('A program and its arguments, run without a shell. Give this or `command`.'),
        ),
    ),
    cwd: z.optional(PathInput),
    ...execOptionFields,
  })
  .check(
    z.refine((args) => (args.command === undefined) !== (args.argv === undefined), {
      message: 'give exactly one of `command` or `argv`',
    }),
  );

const IdOnly = z.object({ sandboxId: SandboxIdInput });
const closed = { openWorldHint: false } as const;

export function registerSandboxTools(server: McpServer, deps: ToolDeps): void {
  const { sandboxes } = deps;
  server.registerTool(
    'sandbox_create',
    {
      title: 'Create a sandbox',
      description: `Start a sandbox that keeps its files and processes between calls, for work in several steps. Returns its sandboxId for sandbox_exec, sandbox_write_file, sandbox_read_file, sandbox_list_files and sandbox_destroy.
The sandbox has no network, a read-only system, a writable /workspace and /tmp, python3 and node. It belongs to this session only; destroy it with sandbox_destroy when done (it is also destroyed when the session ends or stays idle too long). Drivers: ${DRIVERS.join(', ')}.`,
      inputSchema: toolSchema(CreateInput),
      outputSchema: toolSchema(CreateOutput),
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        // With allowNet, its commands reach the hosts listed.
        openWorldHint: true,
      },
    },
    (args, ctx) =>
      toolCall(deps, 'sandbox_create', async () => {
        const defaultTimeoutSeconds = args.timeoutSeconds ?? MCP_LIMITS.defaultTimeoutSeconds;
        const entry = await sandboxes.create({
          driver: args.driver,
          limits: limitsFrom(args),
          allowNet: args.allowNet,
          signal: ctx.mcpReq.signal,
          defaultTimeoutSeconds,
          ...(args.ports ? { ports: args.ports } : {}),
        });
        const { sandbox } = entry;
        if (args.workspace !== undefined)
          await copyWorkspaceFor(deps, sandbox, args.workspace, ctx.mcpReq.signal);
        const idleTimeoutSeconds = Math.round(sandboxes.idleMs / 1000);
        const ports = entry.forwards?.ports.map(({ boxPort, url }) => ({ boxPort, url }));
        const reach = (ports ?? []).map(({ boxPort, url }) => ` Port ${boxPort} is at ${url}.`);
        return toolOk(
          {
            sandboxId: sandbox.id,
            fromPool: entry.fromPool,
            defaultTimeoutSeconds,
            idleTimeoutSeconds,
            isolation: isolationJson(sandbox.isolation),
            ...(ports ? { ports } : {}),
          },
          `Sandbox ${sandbox.id} is ready (driver ${sandbox.isolation.driver}).${reach.join('')} Use it with sandbox_exec and the file tools; destroy it with sandbox_destroy when done. It is destroyed anyway after ${idleTimeoutSeconds} s without a call from this session.`,
        );
      }),
  );

  server.registerTool(
    'sandbox_exec',
    {
      title: 'Run a command in a sandbox',
      description: `Run a command in a sandbox made by sandbox_create, in /workspace unless cwd says otherwise. Files persist between calls, and so do processes the command leaves running in the background (until sandbox_destroy).
Returns stdout, stderr, exitCode, durationMs and truncated; a long command reports its output so far as progress.`,
      inputSchema: toolSchema(ExecInput),
      outputSchema: toolSchema(z.object({ sandboxId: z.string(), ...execOutputFields })),
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, ...closed },
    },
    (args, ctx) =>
      toolCall(deps, 'sandbox_exec', async () => {
        const entry = sandboxes.get(args.sandboxId);
        const command = args.argv ?? args.command ?? 'true';
        const result = await askingDuring(server, ctx, deps, entry.sandbox.id, () =>
          execForTool(entry.sandbox, command, args, ctx, entry.defaultTimeoutSeconds),
        );
        return toolOk(
          { sandboxId: args.sandboxId, ...result },
          execText(result, args.timeoutSeconds ?? entry.defaultTimeoutSeconds),
        );
      }),
  );

  server.registerTool(
    'sandbox_destroy',
    {
      title: 'Destroy a sandbox',
      description:
        'Destroy a sandbox of this session: every process in it is killed and its files are gone for good. The id stops working.',
      inputSchema: toolSchema(IdOnly),
      outputSchema: toolSchema(z.object({ sandboxId: z.string(), destroyed: z.boolean() })),
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, ...closed },
    },
    (args) =>
      toolCall(deps, 'sandbox_destroy', async () => {
        await sandboxes.destroy(args.sandboxId);
        return toolOk(
          { sandboxId: args.sandboxId, destroyed: true },
          `Sandbox ${args.sandboxId} is destroyed.`,
        );
      }),
  );

  server.registerTool(
    'sandbox_list',
    {
      title: 'List this session’s sandboxes',
      description:
        'List the sandboxes this session created and has not destroyed, with their driver and whether they are still running.',
      inputSchema: toolSchema(z.object({})),
      outputSchema: toolSchema(
        z.object({
          sandboxes: z.array(
            z.object({
              sandboxId: z.string(),
              driver: z.enum(DRIVERS),
              alive: z.boolean(),
              createdAt: z.string(),
              lastUsedAt: z.string(),
              defaultTimeoutSeconds: z.number(),
            }),
          ),
          maxSandboxes: z.number(),
          idleTimeoutSeconds: z.number(),
        }),
      ),
      annotations: { readOnlyHint: true, idempotentHint: true, ...closed },
    },
    () =>
      toolCall(deps, 'sandbox_list', async () => {
        const listed = sandboxes.list().map((entry) => ({
          sandboxId: entry.sandbox.id,
          driver: entry.sandbox.isolation.driver,
          alive: entry.sandbox.alive,
          createdAt: entry.createdAt.toISOString(),
          lastUsedAt: entry.lastUsedAt.toISOString(),
          defaultTimeoutSeconds: entry.defaultTimeoutSeconds,
        }));
        const text = listed.length
          ? listed
              .map((s) => `${s.sandboxId} (${s.driver}${s.alive ? '' : ', not running'})`)
              .join('\n')
          : 'This session has no sandboxes; sandbox_create makes one.';
        return toolOk(
          {
            sandboxes: listed,
            maxSandboxes: sandboxes.maxSandboxes,
            idleTimeoutSeconds: Math.round(sandboxes.idleMs / 1000),
          },
          text,
        );
      }),
  );
}
