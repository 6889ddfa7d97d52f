// `ironclaw mcp --http`, driven by the real MCP SDK client and by raw HTTP requests.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN } from './helpers/cli.js';
import { eventually, hostPidsWith } from './support/host-processes.js';

type Result = Awaited<ReturnType<Client['callTool']>>;

interface Server {
  child: ChildProcessByStdio<null, Readable, Readable>;
  url: string;
  token: string;
  stderr(): string;
  stop(): Promise<number | null>;
}

/** Starts the built CLI's HTTP server and reads its address and token from stderr. */
async function startServer(args: string[] = [], env: Record<string, string> = {}): Promise<Server> {
  const child = spawn(process.execPath, [BIN, 'mcp', '--http', '127.0.0.1:0', ...args], {
    env: { ...process.env, IRONCLAW_POOL_SIZE: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const ready = new Promise<{ url: string; token: string }>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const url = /serving Streamable HTTP at (\S+)/.exec(stderr)?.[1];
      const token = env.IRONCLAW_MCP_TOKEN ?? /bearer token [^:]*: (\S+)/.exec(stderr)?.[1];
      if (url && token) resolve({ url, token });
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}): ${stderr}`)));
  });
  const { url, token } = await ready;
  return {
    child,
    url,
    token,
    stderr: () => stderr,
    stop: async () => {
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(stdout, 'the HTTP server writes nothing to stdout').toBe('');
      return code;
    },
  };
}

async function connect(
  target: Server,
  options: ConstructorParameters<typeof Client>[1] = {},
): Promise<Client> {
  const client = new Client({ name: 'ironclaw-http-test', version: '1.0.0' }, options);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(target.url), {
      requestInit: { headers: { authorization: `Bearer ${target.token}` } },
    }),
  );
  return client;
}

function data<T = Record<string, unknown>>(result: Result): T {
  const [first] = result.content;
  expect(result.isError, first?.type === 'text' ? first.text : '').toBeFalsy();
  return result.structuredContent as T;
}

function text(result: Result): string {
  const [first] = result.content;
  return first?.type === 'text' ? first.text : '';
}

const call = (client: Client, name: string, args: Record<string, unknown>): Promise<Result> =>
  client.callTool({ name, arguments: args });

let server: Server;
let client: Client;

beforeAll(async () => {
  server = await startServer();
  client = await connect(server);
});

afterAll(async () => {
  await client?.close();
  expect(await server?.stop()).toBe(0);
});

describe('ironclaw mcp over Streamable HTTP', () => {
  test('serves on 127.0.0.1 and drives every tool', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect((await client.listTools()).tools).toHaveLength(10);
    expect(
      data(await call(client, 'run', { language: 'python', code: 'print(6*7)' })),
    ).toMatchObject({
      stdout: '42\n',
      exitCode: 0,
    });
    const { sandboxId } = data<{ sandboxId: string }>(await call(client, 'sandbox_create', {}));
    await call(client, 'sandbox_write_file', { sandboxId, path: 'a.txt', content: 'http' });
    expect(
      data(await call(client, 'sandbox_exec', { sandboxId, command: 'cat a.txt' })),
    ).toMatchObject({
      stdout: 'http',
    });
    expect(
      data(await call(client, 'sandbox_read_file', { sandboxId, path: 'a.txt' })),
    ).toMatchObject({
      content: 'http',
    });
    const files = data<{ entries: { name: string }[] }>(
      await call(client, 'sandbox_list_files', { sandboxId }),
    );
    expect(files.entries.map((entry) => entry.name)).toEqual(['a.txt']);
    const listed = data<{ sandboxes: { sandboxId: string }[] }>(
      await call(client, 'sandbox_list', {}),
    );
    expect(listed.sandboxes.map((s) => s.sandboxId)).toEqual([sandboxId]);
    expect(data(await call(client, 'sandbox_destroy', { sandboxId }))).toMatchObject({
      destroyed: true,
    });
  });

  test('progress with output, and cancellation that kills the process in the box', async () => {
    const { sandboxId } = data<{ sandboxId: string }>(await call(client, 'sandbox_create', {}));
    const messages: string[] = [];
    const controller = new AbortController();
    const running = client.callTool(
      { name: 'sandbox_exec', arguments: { sandboxId, command: 'echo started; exec sleep 30' } },
      {
        signal: controller.signal,
        onprogress: (update) => {
          messages.push(update.message ?? '');
          controller.abort('the test cancels');
        },
      },
    );
    await expect(running).rejects.toThrow();
    expect(messages[0]).toContain('started');
    const ps = await eventually(
      async () =>
        data<{ stdout: string }>(
          await call(client, 'sandbox_exec', { sandboxId, command: 'ps -eo args' }),
        ),
      (seen) => !seen.stdout.includes('sleep 30'),
    );
    expect(ps.stdout).not.toContain('sleep 30');
    await call(client, 'sandbox_destroy', { sandboxId });
  });

  test("a session cannot reach another session's sandboxes", async () => {
    const other = await connect(server);
    try {
      const mine = data<{ sandboxId: string }>(await call(client, 'sandbox_create', {})).sandboxId;
      const theirs = data<{ sandboxId: string }>(await call(other, 'sandbox_create', {})).sandboxId;
      for (const [tool, args] of [
        ['sandbox_exec', { command: 'echo stolen' }],
        ['sandbox_read_file', { path: 'a' }],
        ['sandbox_write_file', { path: 'a', content: 'x' }],
        ['sandbox_list_files', {}],
        ['sandbox_destroy', {}],
      ] as const) {
        const attempt = await call(other, tool, { sandboxId: mine, ...args });
        expect(attempt.isError, tool).toBe(true);
        expect(text(attempt), tool).toMatch(/^SANDBOX_NOT_FOUND: no such sandbox/);
      }
      const seen = data<{ sandboxes: { sandboxId: string }[] }>(
        await call(other, 'sandbox_list', {}),
      );
      expect(seen.sandboxes.map((s) => s.sandboxId)).toEqual([theirs]);
      expect(
        data(await call(client, 'sandbox_exec', { sandboxId: mine, command: 'echo mine' })),
      ).toMatchObject({
        stdout: 'mine\n',
      });
      await call(client, 'sandbox_destroy', { sandboxId: mine });
    } finally {
      await other.close();
    }
  });

  test('ending a session (DELETE) destroys its sandboxes; the server keeps serving', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(server.url), {
      requestInit: { headers: { authorization: `Bearer ${server.token}` } },
    });
    const doomed = new Client({ name: 'doomed', version: '1.0.0' });
    await doomed.connect(transport);
    const sandboxId = data<{ sandboxId: string }>(
      await call(doomed, 'sandbox_create', {}),
    ).sandboxId;
    const marker = await startMarker(doomed, sandboxId);
    await transport.terminateSession();
    await doomed.close();
    expect(
      await eventually(
        () => hostPidsWith(marker),
        (pids) => pids.length === 0,
      ),
    ).toEqual([]);
    expect(server.child.exitCode).toBeNull();
    expect(data(await call(client, 'run', { command: 'echo alive' }))).toMatchObject({
      stdout: 'alive\n',
    });
  });

  test('a 2026-07-28 client is served per request', async () => {
    const modern = await connect(server, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    try {
      expect(modern.getProtocolEra()).toBe('modern');
      expect(data(await call(modern, 'run', { command: 'echo modern' }))).toMatchObject({
        stdout: 'modern\n',
      });
      const { sandboxId } = data<{ sandboxId: string }>(await call(modern, 'sandbox_create', {}));
      expect(
        data(await call(modern, 'sandbox_exec', { sandboxId, command: 'echo kept > k; cat k' })),
      ).toMatchObject({
        stdout: 'kept\n',
      });
      const stranger = await call(client, 'sandbox_exec', { sandboxId, command: 'true' });
      expect(text(stranger)).toMatch(/^SANDBOX_NOT_FOUND/);
      await call(modern, 'sandbox_destroy', { sandboxId });
    } finally {
      await modern.close();
    }
  });
});

describe('the HTTP gate', () => {
  const initialize = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'raw', version: '1' },
    },
  });
  const post = (
    headers: Record<string, string>,
    body: string | Buffer = initialize,
  ): Promise<Response> =>
    fetch(server.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body,
    });
  const auth = (): Record<string, string> => ({ authorization: `Bearer ${server.token}` });

  test('refuses requests without the token, or with a foreign Host or Origin', async () => {
    const none = await post({});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    expect(await none.json()).toMatchObject({
      jsonrpc: '2.0',
      error: { message: expect.stringContaining('token') as unknown },
    });
    expect((await post({ authorization: 'Bearer not-the-token' })).status).toBe(401);
    expect((await post({ authorization: `Basic ${server.token}` })).status).toBe(401);
    const origin = await post({ ...auth(), origin: 'http://evil.example' });
    expect(origin.status).toBe(403);
    expect(await origin.text()).toContain('Invalid Origin');
    const port = new URL(server.url).port;
    const rebound = await rawRequest(
      server.url,
      { host: `evil.example:${port}`, ...auth() },
      initialize,
    );
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain('Invalid Host');
    const local = await post({ ...auth(), origin: `http://localhost:${port}` });
    expect(local.status).toBe(200);
    expect(local.headers.get('mcp-session-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await fetch(server.url.replace('/mcp', '/other'), { headers: auth() })).status).toBe(
      404,
    );
  });

  test('oversized, malformed and forged-session requests get HTTP errors; serving goes on', async () => {
    const huge = await post(auth(), Buffer.alloc(17 * 1024 * 1024, 0x20));
    expect(huge.status).toBe(413);
    const malformed = await post(auth(), '{"jsonrpc": "2.0", "id": 1, ');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { code: -32700 } });
    const forged = await post(
      { ...auth(), 'mcp-session-id': randomUUID() },
      '{"jsonrpc":"2.0","id":2,"method":"tools/list"}',
    );
    expect(forged.status).toBe(404);
    expect(await forged.json()).toMatchObject({
      error: { message: expect.stringContaining('Session not found') as unknown },
    });
    const noSession = await post(auth(), '{"jsonrpc":"2.0","id":3,"method":"tools/list"}');
    expect(noSession.status).toBe(400);
    expect(data(await call(client, 'run', { command: 'echo still serving' }))).toMatchObject({
      stdout: 'still serving\n',
    });
  });

  test("error answers carry the request's id whenever it could be parsed", async () => {
    const opened = await post(auth());
    const session = { ...auth(), 'mcp-session-id': opened.headers.get('mcp-session-id') ?? '' };
    await opened.text();
    const cases: [Record<string, string>, string, number, string | number | null][] = [
      // Fails validation in a session (the SDK's transport answers it).
      [session, '{"jsonrpc":"2.0","id":"c","method":5}', 400, 'c'],
      [
        { ...session, 'mcp-protocol-version': '1999-01-01' },
        '{"jsonrpc":"2.0","id":4,"method":"tools/list"}',
        400,
        4,
      ],
      // Answered before a session is found.
      [auth(), '{"jsonrpc":"2.0","id":5,"method":"tools/list"}', 400, 5],
      [
        { ...auth(), 'mcp-session-id': randomUUID() },
        '{"jsonrpc":"2.0","id":"s","method":"tools/list"}',
        404,
        's',
      ],
      // A 2026-07-28 request that fails validation already had its id; it keeps it.
      [
        { ...auth(), 'mcp-protocol-version': '2026-07-28' },
        '{"jsonrpc":"2.0","id":"m","method":"tools/list","params":{}}',
        400,
        'm',
      ],
      // Not JSON: no id to give.
      [session, '{"jsonrpc":"2.0","id":6,', 400, null],
    ];
    for (const [headers, body, status, id] of cases) {
      const answer = await post(headers, body);
      expect([answer.status, ((await answer.json()) as { id: unknown }).id], body).toEqual([
        status,
        id,
      ]);
    }
    // Too big to keep, sent as the TypeScript SDK orders a request: its id comes last.
    const big = JSON.stringify({
      jsonrpc: '2.0',
      method: 'tools/call',
      params: { name: 'run', arguments: { command: 'x'.repeat(17 * 1024 * 1024) } },
      id: 'big',
    });
    const huge = await post(session, big);
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ id: 'big', error: { code: -32000 } });
  });

  test('an idle session is ended and its sandboxes destroyed', async () => {
    const idle = await startServer(['--idle-timeout', '1s', '--pool', '0'], {
      IRONCLAW_MCP_TOKEN: 'a-token-chosen-by-the-test',
    });
    expect(idle.stderr()).not.toContain('a-token-chosen-by-the-test');
    const sleeper = await connect(idle);
    try {
      const sandboxId = data<{ sandboxId: string }>(
        await call(sleeper, 'sandbox_create', {}),
      ).sandboxId;
      const marker = await startMarker(sleeper, sandboxId);
      expect(
        await eventually(
          () => hostPidsWith(marker),
          (pids) => pids.length === 0,
          5000,
        ),
      ).toEqual([]);
      // The session ends once its sandboxes' destroy has returned, a little after their
      // processes are gone.
      expect(
        await eventually(
          () => Promise.resolve(idle.stderr()),
          (text) => text.includes('session idle'),
        ),
      ).toContain('session idle');
      // The ended session's id gets 404 (this SDK client does not reconnect by itself) ...
      await expect(call(sleeper, 'sandbox_list', {})).rejects.toThrow(/Session not found/);
      // ... and in a new session, the old sandbox id means nothing.
      const fresh = await connect(idle);
      const after = await call(fresh, 'sandbox_exec', { sandboxId, command: 'true' });
      expect(text(after)).toMatch(/^SANDBOX_NOT_FOUND/);
      await fresh.close();
    } finally {
      await sleeper.close();
      expect(await idle.stop()).toBe(0);
    }
  });
});

describe('session capacity', () => {
  test('sessions never ended by their clients do not lock new ones out; busy ones and ones holding sandboxes stay', async () => {
    const crowded = await startServer(['--pool', '0'], {
      IRONCLAW_MCP_TOKEN: 'a-token-for-the-capacity-test',
    });
    const clients: Client[] = [];
    try {
      const holder = await connect(crowded);
      const runner = await connect(crowded);
      clients.push(holder, runner);
      const { sandboxId } = data<{ sandboxId: string }>(await call(holder, 'sandbox_create', {}));
      const marker = `ironclaw-marker-${randomUUID()}`;
      const running = call(runner, 'run', { command: `sleep 15; echo ${marker}` });
      running.catch(() => undefined); // awaited below; a failure before that is reported there
      await eventually(
        () => hostPidsWith(marker),
        (pids) => pids.length > 0,
      );
      // More sessions than the server holds, none ended: what the Inspector and the SDK
      // client's close() leave behind. Each one still gets in.
      for (let opened = 0; opened < 40; opened++) {
        const answer = await fetch(crowded.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            authorization: `Bearer ${crowded.token}`,
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'initialize',
            params: {
              protocolVersion: '2025-11-25',
              capabilities: {},
              clientInfo: { name: 'abandoned', version: '1' },
            },
          }),
        });
        expect(answer.status, `session ${opened + 1}`).toBe(200);
        await answer.text();
      }
      // The call was running all along (else its session would have been fair game).
      expect(await hostPidsWith(marker)).not.toEqual([]);
      const late = await connect(crowded);
      clients.push(late);
      expect((await late.listTools()).tools).toHaveLength(10);
      expect(crowded.stderr()).toContain('session ended to make room for a new one');
      // The session running a call and the one holding a sandbox were not the ones ended.
      expect(data<{ stdout: string }>(await running).stdout).toBe(`${marker}\n`);
      expect(
        data(await call(holder, 'sandbox_exec', { sandboxId, command: 'echo kept' })),
      ).toMatchObject({ stdout: 'kept\n' });
    } finally {
      await Promise.allSettled(clients.map((one) => one.close()));
      expect(await crowded.stop()).toBe(0);
    }
  }, 60_000);
});

/** Starts a long-lived process in the sandbox whose command line carries a unique marker. */
async function startMarker(target: Client, sandboxId: string): Promise<string> {
  const marker = `ironclaw-marker-${randomUUID()}`;
  const command = `nohup python3 -c 'import time; time.sleep(600)' ${marker} >/dev/null 2>&1 &`;
  data(await call(target, 'sandbox_exec', { sandboxId, command }));
  expect(
    await eventually(
      () => hostPidsWith(marker),
      (pids) => pids.length === 1,
    ),
  ).toHaveLength(1);
  return marker;
}

/** fetch() will not send a Host header of our choosing; node:http will. */
async function rawRequest(
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; body: string }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}
