/*
 * What the agent loop needs of a model, whatever its API: one turn at a time over a neutral
 * transcript, text streamed as it comes, tool calls with their arguments as the raw JSON text the
 * model wrote (the loop parses it, and counts what does not parse as a malformed response).
 */

export interface ToolCall {
  id: string;
  name: string;
  /** The arguments as the model wrote them: JSON text, not yet trusted. */
  arguments: string;
}

export type AgentMessage =
  | { role: 'user'; text: string }
  | { role: 'assistant'; text: string; toolCalls: readonly ToolCall[] }
  | { role: 'tool'; callId: string; name: string; text: string; isError: boolean };

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments, an object schema. */
  inputSchema: Record<string, unknown>;
}

export interface ModelTurn {
  text: string;
  toolCalls: ToolCall[];
  usage: { inputTokens: number; outputTokens: number };
}

export interface TurnRequest {
  system: string;
  messages: readonly AgentMessage[];
  tools: readonly ToolSpec[];
  maxOutputTokens: number;
  /** Each piece of text as it streams in. */
  onText?: (text: string) => void;
  signal?: AbortSignal;
}

export interface ChatProvider {
  readonly name: 'openai' | 'anthropic';
  readonly model: string;
  turn(request: TurnRequest): Promise<ModelTurn>;
}

/**
 * Retries of one model request, by the SDKs' own client: on 408, 409, 429, 5xx and network
 * errors, with exponential backoff and jitter, honouring Retry-After.
 */
export const MODEL_RETRIES = 4;
