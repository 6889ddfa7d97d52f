import type { ModelPrice } from '../core/agent-config.js';
import { IronClawError } from '../core/errors.js';
import type { AgentMessage, ChatProvider, ModelTurn, ToolCall, ToolSpec } from './chat-provider.js';
import type { ToolOutcome } from './mcp-toolbox.js';

/** What the loop may spend before it stops, saying which limit it met. */
export interface AgentBudgets {
  /** Model turns. */
  maxSteps: number;
  /** Input plus output tokens over all turns, as the provider counts them. */
  maxTokens: number;
  /** US dollars over all turns, from the tokens and the model's configured price. */
  maxCost: number;
  maxWallMs: number;
  /** Consecutive responses with no usable tool call (bad JSON, unknown tool, text only). */
  maxMalformed: number;
}

export const DEFAULT_BUDGETS: AgentBudgets = {
  maxSteps: 30,
  maxTokens: 500_000,
  maxCost: Number.POSITIVE_INFINITY,
  maxWallMs: 15 * 60_000,
  maxMalformed: 3,
};

export interface AgentTools {
  readonly tools: readonly ToolSpec[];
  has(name: string): boolean;
  call(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<ToolOutcome>;
}

export type AgentOutcome =
  | { ended: 'finished'; summary: string; steps: number; tokens: number }
  | { ended: 'budget'; budget: keyof AgentBudgets; steps: number; tokens: number; detail: string };

export interface AgentEvents {
  onText?: (text: string) => void;
  /** Each model turn as it ended: its text, tool calls and token use. */
  onTurn?: (turn: ModelTurn & { step: number }) => void;
  onToolCall?: (call: ToolCall) => void;
  onToolResult?: (call: ToolCall, outcome: ToolOutcome) => void;
}

/** The tool that ends the task: the loop's own, not an MCP server's. */
export const FINISH_TOOL: ToolSpec = {
  name: 'finish',
  description:
    'End the task. Call this once the task is done (or cannot be done), with a short summary for the user of what was done and what was found.',
  inputSchema: {
    type: 'object',
    properties: { summary: { type: 'string', description: 'what was done, for the user' } },
    required: ['summary'],
    additionalProperties: false,
  },
};

/** Sent after a turn without a tool call (kept here: a resumed session replays it). */
export const NUDGE = 'Use a tool to act, or call "finish" with a summary if the task is done.';

/** What a resumed session already spent: it counts against the same budgets. */
export interface SpentBudgets {
  steps: number;
  tokens: number;
  cost: number;
  wallMs: number;
}

const SYSTEM = `You are IronClaw's agent. You work only through the tools you are given: every command runs in a fresh, isolated sandbox with no network, destroyed afterwards unless you create a sandbox that keeps its files. Plan briefly, act with tools, check results, and call the "finish" tool with a summary when the task is done. Never claim to have done something a tool did not do.`;

/**
 * The agent loop: asks the model, runs the tools it calls (through MCP), feeds the results back,
 * until the model calls `finish` or a budget runs out. A tool error goes back to the model as a
 * tool result; a response the loop cannot use is counted, and too many in a row end the loop.
 */
export async function runAgent(
  task: string,
  options: {
    provider: ChatProvider;
    tools: AgentTools;
    budgets?: Partial<AgentBudgets>;
    /** The model's price; needed for a finite maxCost. */
    price?: ModelPrice;
    events?: AgentEvents;
    /** A resumed session: the conversation so far (replacing the task) and what it spent. */
    resume?: { messages: readonly AgentMessage[]; spent: SpentBudgets };
    signal?: AbortSignal;
  },
): Promise<AgentOutcome> {
  const budgets = { ...DEFAULT_BUDGETS, ...options.budgets };
  const price = options.price;
  if (Number.isFinite(budgets.maxCost) && price === undefined)
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `a cost budget needs the price of ${options.provider.model}: set agent.prices in the configuration file`,
    );
  const spent = options.resume?.spent;
  const deadline = AbortSignal.timeout(Math.max(0, budgets.maxWallMs - (spent?.wallMs ?? 0)));
  const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
  const tools = [...options.tools.tools, FINISH_TOOL];
  const messages: AgentMessage[] = options.resume
    ? [...options.resume.messages]
    : [{ role: 'user', text: task }];
  let steps = spent?.steps ?? 0;
  let tokens = spent?.tokens ?? 0;
  let cost = spent?.cost ?? 0;
  let malformed = 0;
  const stop = (budget: keyof AgentBudgets, detail: string): AgentOutcome => ({
    ended: 'budget',
    budget,
    steps,
    tokens,
    detail,
  });
  for (;;) {
    if (deadline.aborted || (spent?.wallMs ?? 0) >= budgets.maxWallMs)
      return stop('maxWallMs', `${budgets.maxWallMs} ms`);
    if (steps >= budgets.maxSteps) return stop('maxSteps', `${steps} model turns`);
    if (tokens >= budgets.maxTokens) return stop('maxTokens', `${tokens} tokens`);
    if (cost >= budgets.maxCost) return stop('maxCost', `$${cost.toFixed(4)} spent`);
    let turn;
    try {
      turn = await options.provider.turn({
        system: SYSTEM,
        messages,
        tools,
        maxOutputTokens: 4096,
        ...(options.events?.onText ? { onText: options.events.onText } : {}),
        signal,
      });
    } catch (error) {
      if (deadline.aborted) return stop('maxWallMs', `${budgets.maxWallMs} ms`);
      throw error;
    }
    steps += 1;
    options.events?.onTurn?.({ ...turn, step: steps });
    tokens += turn.usage.inputTokens + turn.usage.outputTokens;
    if (price)
      cost +=
        (turn.usage.inputTokens * price.inputPerMTok +
          turn.usage.outputTokens * price.outputPerMTok) /
        1e6;
    messages.push({ role: 'assistant', text: turn.text, toolCalls: turn.toolCalls });
    if (turn.toolCalls.length === 0) {
      malformed += 1;
      if (malformed >= budgets.maxMalformed)
        return stop('maxMalformed', `${malformed} responses in a row without a tool call`);
      messages.push({ role: 'user', text: NUDGE });
      continue;
    }
    let usable = false;
    for (const call of turn.toolCalls) {
      options.events?.onToolCall?.(call);
      const args = parseArguments(call.arguments);
      let outcome: ToolOutcome;
      if (args === undefined) {
        outcome = {
          text: 'the arguments are not a JSON object; call the tool again',
          isError: true,
        };
      } else if (call.name === FINISH_TOOL.name) {
        if (typeof args.summary === 'string')
          return { ended: 'finished', summary: args.summary, steps, tokens };
        outcome = { text: 'finish needs a "summary" string', isError: true };
      } else if (!options.tools.has(call.name)) {
        outcome = { text: `there is no tool named ${call.name}`, isError: true };
      } else {
        usable = true;
        outcome = await options.tools.call(call.name, args, signal);
      }
      if (deadline.aborted) return stop('maxWallMs', `${budgets.maxWallMs} ms`);
      options.events?.onToolResult?.(call, outcome);
      messages.push({ role: 'tool', callId: call.id, name: call.name, ...outcome });
    }
    malformed = usable ? 0 : malformed + 1;
    if (malformed >= budgets.maxMalformed)
      return stop('maxMalformed', `${malformed} responses in a row without a usable tool call`);
  }
}

function parseArguments(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text === '' ? '{}' : text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
