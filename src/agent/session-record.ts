import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { IronClawError } from '../core/errors.js';
import { ID_PATTERN } from '../core/ids.js';
import { NUDGE } from './agent-loop.js';
import type { AgentMessage, ToolCall } from './chat-provider.js';
import { transcriptDir } from './transcript.js';

/** A transcript larger than this is not a session's: refused rather than read into memory. */
const MAX_TRANSCRIPT_BYTES = 64 * 1024 * 1024;

const StartSchema = z.object({
  type: z.literal('start'),
  at: z.string(),
  task: z.string(),
  provider: z.enum(['openai', 'anthropic']),
  model: z.string(),
  budgets: z.record(z.string(), z.nullable(z.number())),
  workspace: z.optional(z.string()),
});
const CallSchema = z.object({ id: z.string(), name: z.string(), arguments: z.string() });
const TurnSchema = z.object({
  type: z.literal('turn'),
  text: z.string(),
  toolCalls: z.array(CallSchema),
  usage: z.object({ inputTokens: z.number(), outputTokens: z.number() }),
});
const ResultSchema = z.object({
  type: z.literal('tool-result'),
  callId: z.string(),
  name: z.string(),
  text: z.string(),
  isError: z.boolean(),
});
const EventSchema = z.looseObject({ type: z.string(), at: z.string() });

/** What an earlier session left: its start, the conversation so far, and what it spent. */
export interface SessionRecord {
  id: string;
  path: string;
  task: string;
  provider: 'openai' | 'anthropic';
  model: string;
  /** The budgets it ran under (a finite cost, steps, tokens, wall time); flags may raise them. */
  budgets: Record<string, number | null>;
  workspace?: string;
  messages: AgentMessage[];
  spent: {
    steps: number;
    tokens: number;
    inputTokens: number;
    outputTokens: number;
    wallMs: number;
  };
}

/**
 * Reads the transcript of session `id` back into the conversation the loop had: the task, each
 * model turn, each tool result (a call whose result was never written, because the session
 * stopped during it, is told to the model as lost), and the nudges the loop sent after a turn
 * without a tool call. Wall time spent is the time between each start (or resume) and the last
 * event after it; what the loop told the model on a resume (a `note`) is replayed too. A session
 * that ended with `finish` is over and is not resumed.
 */
export async function loadSession(
  id: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SessionRecord> {
  // The id names a file: only the shape ids have, so no path can be smuggled in.
  if (!ID_PATTERN.test(id) || !id.startsWith('session-'))
    throw new IronClawError(
      'INVALID_ID',
      `--resume ${JSON.stringify(id.slice(0, 80))}: not a session id; give the id printed as "agent: transcript …/session-….jsonl" (session- and hex digits)`,
    );
  const path = join(await transcriptDir(env), `${id}.jsonl`);
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile())
    throw new IronClawError(
      'NOT_FOUND',
      `no session ${id}: there is no ${path}; list the directory for the sessions this data directory (IRONCLAW_DATA_DIR) holds`,
    );
  if (info.size > MAX_TRANSCRIPT_BYTES)
    throw damaged(id, path, `it is larger than ${MAX_TRANSCRIPT_BYTES} bytes`);
  const lines = (await readFile(path, 'utf8')).split('\n').filter((line) => line !== '');
  const events = lines.map((line, index) => {
    try {
      const parsed = EventSchema.safeParse(JSON.parse(line));
      if (parsed.success) return parsed.data;
    } catch {
      // Reported below, with the line's number.
    }
    throw damaged(id, path, `line ${index + 1} is not an event`);
  });
  const start = StartSchema.safeParse(events[0]);
  if (!start.success) throw damaged(id, path, 'its first line is not the start of a session');
  const record: SessionRecord = {
    id,
    path,
    task: start.data.task,
    provider: start.data.provider,
    model: start.data.model,
    budgets: start.data.budgets,
    ...(start.data.workspace === undefined ? {} : { workspace: start.data.workspace }),
    messages: [{ role: 'user', text: start.data.task }],
    spent: { steps: 0, tokens: 0, inputTokens: 0, outputTokens: 0, wallMs: 0 },
  };
  let open: ToolCall[] = [];
  let segment = Date.parse(start.data.at);
  let last = segment;
  const closeCalls = (): void => {
    for (const call of open)
      record.messages.push({
        role: 'tool',
        callId: call.id,
        name: call.name,
        text: 'the result of this call was lost: the session stopped while it ran',
        isError: true,
      });
    open = [];
  };
  for (const [index, event] of events.entries()) {
    const at = Date.parse(event.at);
    if (event.type === 'resume') {
      record.spent.wallMs += Math.max(0, last - segment);
      segment = at;
    } else if (event.type === 'turn') {
      const turn = TurnSchema.safeParse(event);
      if (!turn.success) throw damaged(id, path, `line ${index + 1} is not a model turn`);
      closeCalls();
      const { text, toolCalls, usage } = turn.data;
      record.messages.push({ role: 'assistant', text, toolCalls });
      if (toolCalls.length === 0) record.messages.push({ role: 'user', text: NUDGE });
      open = [...toolCalls];
      record.spent.steps += 1;
      record.spent.inputTokens += usage.inputTokens;
      record.spent.outputTokens += usage.outputTokens;
      record.spent.tokens += usage.inputTokens + usage.outputTokens;
    } else if (event.type === 'tool-result') {
      const result = ResultSchema.safeParse(event);
      if (!result.success) throw damaged(id, path, `line ${index + 1} is not a tool result`);
      const { callId, name, text, isError } = result.data;
      open = open.filter((call) => call.id !== callId);
      record.messages.push({ role: 'tool', callId, name, text, isError });
    } else if (event.type === 'note' && typeof event.text === 'string') {
      closeCalls();
      record.messages.push({ role: 'user', text: event.text });
    } else if (event.type === 'end' && event.ended === 'finished') {
      throw new IronClawError(
        'INVALID_ARGUMENT',
        `session ${id} already finished (${path}); start a new one with the next task`,
      );
    }
    if (Number.isFinite(at)) last = Math.max(last, at);
  }
  closeCalls();
  record.spent.wallMs += Math.max(0, last - segment);
  return record;
}

function damaged(id: string, path: string, why: string): IronClawError {
  return new IronClawError(
    'FILE_ERROR',
    `cannot resume session ${id}: its transcript ${path} is damaged (${why}); it was left as it is`,
  );
}
