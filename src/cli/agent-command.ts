import { realpath, stat } from 'node:fs/promises';
import { IronClawError, unwrap } from '../core/errors.js';
import { parseDuration } from '../core/units.js';
import type { AgentBudgets, SpentBudgets } from '../agent/agent-loop.js';
import type { AgentMessage, ChatProvider } from '../agent/chat-provider.js';
import type { SessionRecord } from '../agent/session-record.js';
import type { Transcript } from '../agent/transcript.js';
import type { ModelPrice, ResolvedAgentConfig } from '../core/agent-config.js';
import { audit } from '../audit/audit-trail.js';
import { loadConfig } from '../host/config-file.js';
import { agentApprover, yesForScopes } from './agent-approvals.js';
import { reportError, usageError } from './cli-error.js';

type AgentFlags = Record<string, string | boolean | string[] | undefined>;

/** Exit status when a budget ran out before the model called finish. */
const EXIT_BUDGET = 3;
/** Told to the model when a stopped session goes on. */
const RESUMED =
  'This session was stopped and is now resumed. The sandboxes you created before are gone (their files with them): create new ones as needed, and redo any work whose result you still need.';
/** A tool call's arguments or result as shown on stderr: enough to follow, not a flood. */
const SHOWN_CHARS = 200;

/**
 * `ironclaw agent "<task>"`: IronClaw's own small agent loop. The model (OpenAI-compatible chat
 * completions or Anthropic Messages) works through IronClaw's MCP server, so every command it
 * runs is in a sandbox. Its text streams to stdout, its tool calls to stderr; the summary it
 * finishes with is printed last. The API key is read from the environment by the provider's SDK
 * and is kept from every child process.
 */
export async function agentCommand(positionals: string[], flags: AgentFlags): Promise<number> {
  try {
    const task = positionals.join(' ').trim();
    const resumeId = stringFlag(flags, 'resume');
    if (resumeId !== undefined && task !== '')
      throw usageError(`give a task or --resume ${resumeId}, not both`);
    if (resumeId === undefined && task === '')
      throw usageError('give a task, e.g. ironclaw agent "count the primes below 1000"');
    const { loadSession } = await import('../agent/session-record.js');
    const earlier = resumeId === undefined ? undefined : await loadSession(resumeId);
    if (earlier && stringFlag(flags, 'workspace') !== undefined)
      throw usageError(
        `--resume ${earlier.id} works on the session's own workspace (${earlier.workspace ?? 'none'}); drop --workspace`,
      );
    const config = await agentConfig(flags, earlier);
    const provider = await makeProvider(config);
    const { DEFAULT_BUDGETS } = await import('../agent/agent-loop.js');
    const budgets = budgetsOf(
      flags,
      earlier ? earlierBudgets(earlier, DEFAULT_BUDGETS) : DEFAULT_BUDGETS,
    );
    const price = priceOf(config, provider.model, budgets);
    const workspace = earlier ? earlier.workspace : await workspaceDir(flags);
    const yesFor = yesForScopes(
      stringFlag(flags, 'yes-for'),
      config.servers.map((server) => server.name),
    );
    const { Transcript } = await import('../agent/transcript.js');
    const transcript = earlier
      ? Transcript.reopen(earlier.id, earlier.path)
      : await Transcript.open();
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    process.once('SIGINT', stop).once('SIGTERM', stop);
    try {
      transcript.write(earlier ? 'resume' : 'start', {
        ...(earlier ? {} : { task }),
        provider: provider.name,
        model: provider.model,
        budgets,
        ...(workspace === undefined ? {} : { workspace }),
        yesFor: [...yesFor],
        servers: config.servers.map((server) => server.name),
      });
      // Pre-approval is a decision of the user's: recorded before anything runs.
      for (const scope of yesFor) {
        transcript.write('pre-approval', { scope, by: '--yes-for' });
        audit({
          kind: 'pre-approval',
          data: { scope, by: '--yes-for', agentSession: transcript.id },
        });
      }
      if (earlier)
        process.stderr.write(
          `agent: resuming ${earlier.id} after ${earlier.spent.steps} turns and ${earlier.spent.tokens} tokens\n`,
        );
      return await session(earlier ? earlier.task : task, {
        provider,
        config,
        budgets,
        ...(price ? { price } : {}),
        ...(workspace === undefined ? {} : { workspace }),
        ...(earlier
          ? {
              earlier: {
                messages: earlier.messages,
                spent: {
                  steps: earlier.spent.steps,
                  tokens: earlier.spent.tokens,
                  wallMs: earlier.spent.wallMs,
                  cost: price
                    ? (earlier.spent.inputTokens * price.inputPerMTok +
                        earlier.spent.outputTokens * price.outputPerMTok) /
                      1e6
                    : 0,
                },
              },
            }
          : {}),
        yesFor,
        transcript,
        signal: controller.signal,
      });
    } catch (error) {
      transcript.write('error', {
        message: error instanceof Error ? error.message : String(error),
      });
      throw error;
    } finally {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      await transcript.close();
      process.stderr.write(`agent: transcript ${transcript.path}\n`);
      process.stderr.write(`agent: session ${transcript.id}\n`);
    }
  } catch (error) {
    return reportError(error);
  }
}

/** One session, its servers connected and closed around it; every event goes to the transcript. */
async function session(
  task: string,
  options: {
    provider: ChatProvider;
    config: ResolvedAgentConfig;
    budgets: Partial<AgentBudgets>;
    price?: ModelPrice;
    workspace?: string;
    /** A resumed session: its conversation so far and what it spent. */
    earlier?: { messages: readonly AgentMessage[]; spent: SpentBudgets };
    yesFor: ReturnType<typeof yesForScopes>;
    transcript: Transcript;
    signal: AbortSignal;
  },
): Promise<number> {
  const { provider, config, transcript, signal } = options;
  // Loaded here: the model SDKs and the MCP client are for this command only.
  const [
    { runAgent },
    { ironclawServer, McpToolbox, wrappedServer },
    { openWorkspace, reviewWorkspace, workspaceBrief },
  ] = await Promise.all([
    import('../agent/agent-loop.js'),
    import('../agent/mcp-toolbox.js'),
    import('../agent/workspace-session.js'),
  ]);
  let phase: 'run' | 'apply' = 'run';
  const onElicit = agentApprover({
    yesFor: options.yesFor,
    phase: () => phase,
    record: (entry) => {
      transcript.write('approval', { ...entry });
      const about = entry.action
        ? entry.action.kind === 'egress'
          ? ` to connect to ${entry.action.host}:${entry.action.port}`
          : ` to call ${entry.action.tool}`
        : '';
      process.stderr.write(
        `agent: ${entry.server} asked for approval${about} (${entry.phase}): ${entry.decision === 'approve' ? 'approved' : 'declined'} by ${entry.by}\n`,
      );
    },
    signal,
  });
  const { workspace } = options;
  const servers = [
    { ...(await ironclawServer()), ...(workspace === undefined ? {} : { cwd: workspace }) },
    ...(await Promise.all(config.servers.map(wrappedServer))),
  ];
  await using tools = await McpToolbox.connect(servers, { signal, onElicit });
  const wrapped = config.servers.map((server) => server.name);
  process.stderr.write(
    `agent: ${provider.name} ${provider.model}, ${tools.tools.length} tools from IronClaw's MCP server${wrapped.length ? ` and ${wrapped.join(', ')} (wrapped)` : ''}\n`,
  );
  const copy = workspace === undefined ? undefined : await openWorkspace(tools, workspace, signal);
  if (copy) {
    transcript.write('workspace', { ...copy });
    process.stderr.write(`agent: working on a copy of ${copy.dir} in sandbox ${copy.sandboxId}\n`);
  }
  const { earlier } = options;
  let resume;
  if (earlier) {
    // The servers (and so the sandboxes) of the stopped run are gone: the model is told so.
    const note = `${RESUMED}${copy ? ` ${workspaceBrief(copy)}` : ''}`;
    transcript.write('note', { text: note });
    resume = {
      messages: [...earlier.messages, { role: 'user' as const, text: note }],
      spent: earlier.spent,
    };
  }
  const outcome = await runAgent(copy ? `${task}\n\n${workspaceBrief(copy)}` : task, {
    provider,
    tools,
    ...(resume ? { resume } : {}),
    budgets: options.budgets,
    ...(options.price ? { price: options.price } : {}),
    signal,
    events: {
      onText: (text) => process.stdout.write(text),
      onTurn: (turn) => transcript.write('turn', { ...turn }),
      onToolCall: (call) => process.stderr.write(`\n→ ${call.name} ${shorten(call.arguments)}\n`),
      onToolResult: (call, result) => {
        transcript.write('tool-result', { callId: call.id, name: call.name, ...result });
        process.stderr.write(`${result.isError ? '✗' : '←'} ${shorten(result.text)}\n`);
      },
    },
  });
  transcript.write('end', { ...outcome });
  if (outcome.ended === 'finished') {
    process.stdout.write(`\n${outcome.summary}\n`);
    if (copy) {
      phase = 'apply';
      const review = await reviewWorkspace(tools, copy, {
        onDiff: (diff) => process.stderr.write(`\nagent: the changes to ${copy.dir}:\n${diff}\n`),
        signal,
      });
      transcript.write('review', { ...review });
      process.stderr.write(
        review.changes === 0
          ? `agent: no changes to ${copy.dir}\n`
          : `agent: ${review.applied ? 'applied' : 'not applied'}: ${review.answer}\n`,
      );
    }
    return 0;
  }
  if (copy)
    process.stderr.write(
      `agent: the session did not finish, so its changes to ${copy.dir} are not offered\n`,
    );
  process.stderr.write(
    `\nagent: stopped: the ${outcome.budget} budget ran out (${outcome.detail}) after ${outcome.steps} turns and ${outcome.tokens} tokens\n`,
  );
  return EXIT_BUDGET;
}

/** flags > a resumed session's > IRONCLAW_AGENT_PROVIDER/_MODEL > the file's > defaults. */
async function agentConfig(
  flags: AgentFlags,
  earlier: SessionRecord | undefined,
): Promise<ResolvedAgentConfig> {
  const provider = stringFlag(flags, 'provider') ?? earlier?.provider;
  if (provider !== undefined && provider !== 'openai' && provider !== 'anthropic')
    throw usageError(
      `--provider ${provider}: use openai (also Ollama, llama.cpp, vLLM, LM Studio) or anthropic`,
    );
  const modelFlag = stringFlag(flags, 'model') ?? earlier?.model;
  const { agent } = await loadConfig({
    agent: {
      ...(provider === undefined ? {} : { provider }),
      ...(modelFlag ? { model: modelFlag } : {}),
    },
  });
  return agent;
}

async function makeProvider(config: ResolvedAgentConfig): Promise<ChatProvider> {
  const { provider: name, model } = config;
  if (model === undefined)
    throw usageError(
      'give --model (or IRONCLAW_AGENT_MODEL, or agent.model in the configuration file), e.g. --model gpt-5 or --model claude-sonnet-4-5',
    );
  const key = name === 'anthropic' ? 'ANTHROPIC_API_KEY' : 'OPENAI_API_KEY';
  if (!process.env[key])
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `set ${key} in the environment (a local OpenAI-compatible server accepts any value); the key is read from there only`,
    );
  return name === 'anthropic'
    ? (await import('../agent/anthropic-provider.js')).anthropicProvider(model)
    : (await import('../agent/openai-provider.js')).openaiProvider(model);
}

/** The budgets a session started with (JSON keeps no Infinity: null is unlimited). */
function earlierBudgets(earlier: SessionRecord, defaults: AgentBudgets): AgentBudgets {
  const budgets = { ...defaults };
  for (const name of Object.keys(defaults) as (keyof AgentBudgets)[]) {
    const value = earlier.budgets[name];
    if (value === null) budgets[name] = Number.POSITIVE_INFINITY;
    else if (typeof value === 'number' && value > 0) budgets[name] = value;
  }
  return budgets;
}

function budgetsOf(flags: AgentFlags, defaults: AgentBudgets): Partial<AgentBudgets> {
  const count = (name: string): number | undefined => {
    const text = stringFlag(flags, name);
    if (text === undefined) return undefined;
    if (!/^[1-9]\d{0,8}$/.test(text))
      throw usageError(`--${name} ${text}: give a positive whole number`);
    return Number(text);
  };
  const wall = stringFlag(flags, 'timeout');
  const cost = stringFlag(flags, 'max-cost');
  if (cost !== undefined && !(/^\d{1,6}(\.\d{1,6})?$/.test(cost) && Number(cost) > 0))
    throw usageError(`--max-cost ${cost}: give US dollars, e.g. 0.50`);
  return {
    maxSteps: count('max-steps') ?? defaults.maxSteps,
    maxTokens: count('max-tokens') ?? defaults.maxTokens,
    maxCost: cost === undefined ? defaults.maxCost : Number(cost),
    maxWallMs: wall === undefined ? defaults.maxWallMs : unwrap(parseDuration(wall, '--timeout')),
  };
}

/** The model's configured price; a cost budget without one is refused before anything runs. */
function priceOf(
  config: ResolvedAgentConfig,
  model: string,
  budgets: Partial<AgentBudgets>,
): ModelPrice | undefined {
  const price = Object.hasOwn(config.prices, model) ? config.prices[model] : undefined;
  if (price === undefined && budgets.maxCost !== undefined && Number.isFinite(budgets.maxCost))
    throw usageError(
      `--max-cost needs the price of ${model}, which IronClaw cannot know: set agent.prices["${model}"] = {"inputPerMTok": USD, "outputPerMTok": USD} in the configuration file`,
    );
  return price;
}

/** `--workspace DIR`: an existing directory, by its real path (the server compares real paths). */
async function workspaceDir(flags: AgentFlags): Promise<string | undefined> {
  const dir = stringFlag(flags, 'workspace');
  if (dir === undefined) return undefined;
  const real = await realpath(dir).catch(() => undefined);
  if (real === undefined || !(await stat(real)).isDirectory())
    throw usageError(`--workspace ${dir}: give an existing directory`);
  return real;
}

function stringFlag(flags: AgentFlags, name: string): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value : undefined;
}

function shorten(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > SHOWN_CHARS ? `${line.slice(0, SHOWN_CHARS)}…` : line;
}
