import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import type { AgentServer } from '../core/agent-config.js';
import { IronClawError } from '../core/errors.js';
import { packageRoot } from '../host/package-files.js';
import type { ToolSpec } from './chat-provider.js';

/** One MCP server the agent uses, started as a child process speaking stdio. */
export interface McpServerSpec {
  /** Prefixes its tools' names (`name__tool`); IronClaw's own server has none. */
  name: string;
  command: string;
  args: readonly string[];
  /** Working directory (IronClaw's server may copy a workspace from inside it only). */
  cwd?: string;
}

/** A server asks the user something (an approval): the loop answers for the user, or declines. */
export interface Elicitation {
  server: string;
  message: string;
  requestedSchema: Record<string, unknown>;
  /**
   * What is asked about, as IronClaw's servers and wraps name it in the request's _meta (a
   * connection to a host, a wrapped tool); absent from other servers. Matched against
   * pre-approved scopes only, never trusted further: the card's text is what the user reads.
   */
  action?: AskedAction;
  /** Aborted when the server stops waiting for the answer. */
  signal?: AbortSignal;
}

export type AskedAction =
  { kind: 'egress'; host: string; port: number } | { kind: 'tool'; tool: string };
export interface ElicitAnswer {
  [key: string]: unknown;
  action: 'accept' | 'decline' | 'cancel';
  content?: Record<string, string>;
}
export type ElicitHandler = (request: Elicitation) => Promise<ElicitAnswer>;

export interface ToolOutcome {
  text: string;
  isError: boolean;
}

/** Where IronClaw's servers and wraps name the action an elicitation asks about. */
const ACTION_META_KEY = 'ironclaw/action';

function askedAction(value: unknown): AskedAction | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const action = value as Record<string, unknown>;
  if (
    action.kind === 'egress' &&
    typeof action.host === 'string' &&
    typeof action.port === 'number'
  )
    return { kind: 'egress', host: action.host, port: action.port };
  if (action.kind === 'tool' && typeof action.tool === 'string')
    return { kind: 'tool', tool: action.tool };
  return undefined;
}

/** Variables the agent's children never get: the model API keys stay with the loop. */
const SECRET_VARIABLES = /^(OPENAI|ANTHROPIC)_API_KEY$/;

/**
 * IronClaw's own MCP server, started by the installed binary's absolute path (bin/ironclaw.cjs
 * under this package, run by this node), never through a development runner.
 */
export async function ironclawServer(): Promise<McpServerSpec> {
  return {
    name: 'ironclaw',
    command: process.execPath,
    args: [join(await packageRoot(), 'bin', 'ironclaw.cjs'), 'mcp'],
  };
}

/**
 * A third-party MCP server from the user's configuration, run through `ironclaw wrap` (by the
 * same installed binary): in a sandbox with no network but its allowed hosts and no host files
 * but its mounts, under its tool policy. Its tools reach the model as `name__tool`.
 */
export async function wrappedServer(server: AgentServer): Promise<McpServerSpec> {
  const wrapArgs = [
    ...(server.mounts ?? []).flatMap((mount) => ['--mount', mount]),
    ...(server.env ?? []).flatMap((name) => ['--env', name]),
    ...(server.allowNet?.length ? ['--allow-net', server.allowNet.join(',')] : []),
    ...(server.policy === undefined ? [] : ['--policy', server.policy]),
  ];
  return {
    name: server.name,
    command: process.execPath,
    args: [
      join(await packageRoot(), 'bin', 'ironclaw.cjs'),
      'wrap',
      ...wrapArgs,
      '--',
      server.command,
      ...(server.args ?? []),
    ],
  };
}

/**
 * The tools of a set of MCP servers, as the model sees them (names, descriptions, schemas), and
 * calls routed to the server that owns each. A server that does not answer `initialize` fails
 * the connect, before anything is planned.
 */
export class McpToolbox {
  readonly #routes = new Map<string, { client: Client; tool: string }>();
  readonly #clients: Client[] = [];
  readonly tools: ToolSpec[] = [];

  private constructor() {}

  /**
   * With `onElicit`, every client declares form elicitation and routes each request to it, so a
   * server's approval reaches the user; without, the servers learn that nobody can be asked.
   */
  static async connect(
    servers: readonly McpServerSpec[],
    options: { signal?: AbortSignal; onElicit?: ElicitHandler } = {},
  ): Promise<McpToolbox> {
    const box = new McpToolbox();
    const { signal } = options;
    try {
      for (const server of servers) await box.#add(server, signal, options.onElicit);
    } catch (error) {
      await box.close();
      throw error;
    }
    return box;
  }

  async #add(
    server: McpServerSpec,
    signal: AbortSignal | undefined,
    onElicit: ElicitHandler | undefined,
  ): Promise<void> {
    const env = Object.fromEntries(
      Object.entries(process.env).filter(
        (entry): entry is [string, string] =>
          entry[1] !== undefined && !SECRET_VARIABLES.test(entry[0]),
      ),
    );
    const transport = new StdioClientTransport({
      command: server.command,
      args: [...server.args],
      env,
      ...(server.cwd === undefined ? {} : { cwd: server.cwd }),
      stderr: 'inherit',
    });
    const client = new Client(
      { name: 'ironclaw-agent', version: '1' },
      { capabilities: onElicit ? { elicitation: { form: {} } } : {} },
    );
    if (onElicit)
      client.setRequestHandler('elicitation/create', (request, ctx) => {
        const params = request.params as {
          message?: string;
          requestedSchema?: unknown;
          _meta?: Record<string, unknown>;
        };
        const action = askedAction(params._meta?.[ACTION_META_KEY]);
        return onElicit({
          server: server.name,
          message: params.message ?? '',
          ...(action ? { action } : {}),
          signal: ctx.mcpReq.signal,
          requestedSchema:
            typeof params.requestedSchema === 'object' && params.requestedSchema !== null
              ? (params.requestedSchema as Record<string, unknown>)
              : {},
        });
      });
    try {
      await client.connect(transport, signal ? { signal } : {});
    } catch (error) {
      throw new IronClawError(
        'DAEMON_UNAVAILABLE',
        `the MCP server ${server.name} (${[server.command, ...server.args].join(' ')}) did not answer initialize: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    this.#clients.push(client);
    if (client.getServerVersion() === undefined)
      throw new IronClawError(
        'DAEMON_UNAVAILABLE',
        `the MCP server ${server.name} sent no server info`,
      );
    const { tools } = await client.listTools(undefined, signal ? { signal } : {});
    for (const tool of tools) {
      const name = server.name === 'ironclaw' ? tool.name : `${server.name}__${tool.name}`;
      this.#routes.set(name, { client, tool: tool.name });
      this.tools.push({
        name,
        description: tool.description ?? '',
        inputSchema: tool.inputSchema,
      });
    }
  }

  has(name: string): boolean {
    return this.#routes.has(name);
  }

  /** Calls a tool; a tool error, or a failed call, is an outcome for the model, never a throw. */
  async call(
    name: string,
    args: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<ToolOutcome> {
    const route = this.#routes.get(name);
    if (!route) return { text: `no tool named ${name}`, isError: true };
    try {
      const result = await route.client.callTool(
        { name: route.tool, arguments: args },
        signal ? { signal } : {},
      );
      const text = (result.content as { type: string; text?: string }[])
        .map((part) => (part.type === 'text' ? (part.text ?? '') : `[${part.type} content]`))
        .join('\n');
      return { text, isError: result.isError === true };
    } catch (error) {
      return {
        text: `the call failed: ${error instanceof Error ? error.message : String(error)}`,
        isError: true,
      };
    }
  }

  /**
   * One of IronClaw's own tools called by the loop itself (not the model): its text, its
   * structured result, and whether it is an error (the text then says which).
   */
  async callOwn(
    name: string,
    args: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<ToolOutcome & { data: Record<string, unknown> }> {
    const route = this.#routes.get(name);
    if (!route)
      throw new IronClawError('INVALID_ARGUMENT', `IronClaw's MCP server has no tool ${name}`);
    const result = await route.client.callTool(
      { name: route.tool, arguments: args },
      signal ? { signal } : {},
    );
    const text = (result.content as { type: string; text?: string }[])
      .map((part) => part.text ?? '')
      .join('\n');
    const data: Record<string, unknown> = { ...(result.structuredContent as object | undefined) };
    return { text, isError: result.isError === true, data };
  }

  /** Closes every server connection (and so the servers). Idempotent. */
  async close(): Promise<void> {
    const clients = this.#clients.splice(0);
    await Promise.allSettled(clients.map((client) => client.close()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
