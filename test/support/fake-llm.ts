import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/*
 * A stand-in for the hosted model APIs this machine cannot reach (the one thing tests may fake):
 * OpenAI chat completions and Anthropic Messages, streamed as their SDKs expect, answering each
 * request with the next scripted turn. It keeps every request it got, for the test to inspect.
 */

export interface ScriptedTurn {
  text?: string;
  calls?: { name: string; arguments: string }[];
  /** Answer with this HTTP status instead (429, 500, ...), with Retry-After if given. */
  status?: number;
  retryAfter?: string;
}

/** A turn, or a turn made from the request (to use what the loop told the model, e.g. an id). */
export type ScriptStep = ScriptedTurn | ((body: Record<string, unknown>) => ScriptedTurn);

export interface FakeLlm {
  /** Base URL: `${url}/v1` for OpenAI's SDK, `url` for Anthropic's. */
  url: string;
  requests: { path: string; headers: IncomingMessage['headers']; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

export async function startFakeLlm(script: ScriptStep[]): Promise<FakeLlm> {
  const requests: FakeLlm['requests'] = [];
  let next = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
      requests.push({ path: request.url ?? '', headers: request.headers, body });
      const step = script[next++] ?? { text: 'the script is over' };
      const turn = typeof step === 'function' ? step(body) : step;
      if (turn.status !== undefined) {
        response.writeHead(turn.status, {
          'content-type': 'application/json',
          ...(turn.retryAfter === undefined ? {} : { 'retry-after': turn.retryAfter }),
        });
        response.end(JSON.stringify({ error: { type: 'rate_limit_error', message: 'slow down' } }));
        return;
      }
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      if (request.url?.endsWith('/chat/completions')) openai(response, turn);
      else anthropic(response, turn);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Splits a text in two pieces, so the client has to join streamed fragments. */
function halves(text: string): string[] {
  const middle = Math.ceil(text.length / 2);
  return [text.slice(0, middle), text.slice(middle)].filter((part) => part !== '');
}

function openai(response: ServerResponse, turn: ScriptedTurn): void {
  const send = (chunk: unknown): boolean => response.write(`data: ${JSON.stringify(chunk)}\n\n`);
  const choice = (delta: unknown, finish: string | null = null): unknown => ({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'fake',
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  for (const part of halves(turn.text ?? '')) send(choice({ role: 'assistant', content: part }));
  (turn.calls ?? []).forEach((call, index) => {
    send(
      choice({
        tool_calls: [
          {
            index,
            id: `call_${index}`,
            type: 'function',
            function: { name: call.name, arguments: '' },
          },
        ],
      }),
    );
    for (const part of halves(call.arguments))
      send(choice({ tool_calls: [{ index, function: { arguments: part } }] }));
  });
  send(choice({}, turn.calls?.length ? 'tool_calls' : 'stop'));
  send({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'fake',
    choices: [],
    usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
  });
  response.end('data: [DONE]\n\n');
}

function anthropic(response: ServerResponse, turn: ScriptedTurn): void {
  const send = (event: { type: string }): boolean =>
    response.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  send({
    type: 'message_start',
    message: {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      content: [],
      model: 'fake',
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 100, output_tokens: 1 },
    },
  } as { type: string });
  let index = 0;
  if (turn.text) {
    send({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } } as {
      type: string;
    });
    for (const part of halves(turn.text))
      send({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: part } } as {
        type: string;
      });
    send({ type: 'content_block_stop', index } as { type: string });
    index += 1;
  }
  for (const call of turn.calls ?? []) {
    send({
      type: 'content_block_start',
      index,
      content_block: { type: 'tool_use', id: `toolu_${index}`, name: call.name, input: {} },
    } as { type: string });
    for (const part of halves(call.arguments))
      send({
        type: 'content_block_delta',
        index,
        delta: { type: 'input_json_delta', partial_json: part },
      } as { type: string });
    send({ type: 'content_block_stop', index } as { type: string });
    index += 1;
  }
  send({
    type: 'message_delta',
    delta: { stop_reason: turn.calls?.length ? 'tool_use' : 'end_turn', stop_sequence: null },
    usage: { output_tokens: 20 },
  } as { type: string });
  send({ type: 'message_stop' });
  response.end();
}
