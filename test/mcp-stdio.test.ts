// `ironclaw mcp` on stdio, driven by the real MCP SDK client against the built binary.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN } from './helpers/cli.js';
import { eventually, hostPidsWith } from './support/host-processes.js';

type Result = Awaited<ReturnType<Client['callTool']>>;
const ENV = { ...process.env, IRONCLAW_POOL_SIZE: '1' } as Record<string, string>;

let client: Client;
let transport: StdioClientTransport;
let stderr = '';
const clientErrors: Error[] = [];

beforeAll(async () => {
  transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'mcp'],
    env: ENV,
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  client = new Client({ name: 'ironclaw-test', version: '1.0.0' });
  client.onerror = (error) => clientErrors.push(error);
  await client.connect(transport);
});

afterAll(async () => {
  await client.close();
});

function data<T = Record<string, unknown>>(result: Result): T {
  expect(result.isError, text(result)).toBeFalsy();
  return result.structuredContent as T;
}

function text(result: Result): string {
  const [first] = result.content;
  return first?.type === 'text' ? first.text : '';
}

function call(name: string, args: Record<string, unknown>): Promise<Result> {
  return client.callTool({ name, arguments: args });
}

async function newSandbox(): Promise<string> {
  return data<{ sandboxId: string }>(await call('sandbox_create', {})).sandboxId;
}

describe('ironclaw mcp over stdio', () => {
  test('lists every tool with schemas, honest annotations and descriptions', async () => {
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((tool) => [tool.name, tool]));
    expect([...byName.keys()].sort()).toEqual(
      [
        'run',
        'sandbox_create',
        'sandbox_destroy',
        'sandbox_exec',
        'sandbox_list',
        'sandbox_list_files',
        'sandbox_read_file',
        'sandbox_write_file',
        'workspace_apply',
        'workspace_diff',
      ].sort(),
    );
    for (const tool of tools) {
      expect(tool.inputSchema.type, tool.name).toBe('object');
      expect(tool.outputSchema?.type, tool.name).toBe('object');
      expect(tool.description?.length, tool.name).toBeGreaterThan(60);
      // Only the tools that can be given network egress (allowNet) reach an open world.
      expect(tool.annotations?.openWorldHint, tool.name).toBe(
        ['run', 'sandbox_create'].includes(tool.name),
      );
    }
    expect(byName.get('sandbox_read_file')?.annotations).toMatchObject({ readOnlyHint: true });
    expect(byName.get('sandbox_list')?.annotations).toMatchObject({ readOnlyHint: true });
    expect(byName.get('sandbox_destroy')?.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
    });
    expect(byName.get('run')?.inputSchema.properties).toHaveProperty('language');
    expect(client.getInstructions()).toContain('sandbox_create');
  });

  test('run: a shell command, code in sh, python and node, with files', async () => {
    const shell = data(await call('run', { command: 'echo out; echo err >&2; exit 3' }));
    expect(shell).toMatchObject({
      stdout: 'out\n',
      stderr: 'err\n',
      exitCode: 3,
      truncated: false,
    });
    expect(shell).toMatchObject({ isolation: { driver: 'bwrap' } });
    const files = [{ path: 'in/data.txt', content: 'hello' }];
    const python = await call('run', {
      language: 'python',
      code: 'print(open("in/data.txt").read().upper())',
      files,
    });
    expect(data(python)).toMatchObject({ stdout: 'HELLO\n', exitCode: 0 });
    expect(text(python)).toContain('HELLO');
    const node = await call('run', {
      language: 'node',
      code: 'console.log(require("fs").readFileSync("in/data.txt", "utf8").length * 2)',
      files,
    });
    expect(data(node)).toMatchObject({ stdout: '10\n', exitCode: 0 });
    const sh = await call('run', { language: 'sh', code: 'cat; pwd', stdin: 'piped\n' });
    expect(data(sh)).toMatchObject({ stdout: 'piped\n/workspace\n' });
    const binary = await call('run', {
      command: 'od -An -tx1 bin',
      files: [
        { path: 'bin', content: Buffer.from([0, 255]).toString('base64'), encoding: 'base64' },
      ],
    });
    expect(data<{ stdout: string }>(binary).stdout.trim()).toBe('00 ff');
  });

  test('run: time limits and output caps are reported, not errors', async () => {
    const slow = data(await call('run', { command: 'sleep 5', timeoutSeconds: 0.5 }));
    expect(slow).toMatchObject({ timedOut: true });
    const loud = data(
      await call('run', { command: 'head -c 5000 /dev/zero', maxOutputBytes: 100 }),
    );
    expect(loud).toMatchObject({ truncated: true, exitCode: 0 });
    expect((loud as { droppedBytes: number }).droppedBytes).toBeGreaterThan(4000);
  });

  test('a sandbox keeps its files between calls until destroyed', async () => {
    const created = data<{ sandboxId: string; isolation: unknown }>(
      await call('sandbox_create', { timeoutSeconds: 20 }),
    );
    const id = created.sandboxId;
    expect(id).toMatch(/^sb-[0-9a-f]{20}$/);
    expect(created.isolation).toMatchObject({ driver: 'bwrap', layers: { network: { on: true } } });
    expect(
      data(await call('sandbox_write_file', { sandboxId: id, path: 'src/a.txt', content: 'one' })),
    ).toEqual({
      sandboxId: id,
      path: 'src/a.txt',
      bytes: 3,
    });
    const exec = await call('sandbox_exec', {
      sandboxId: id,
      command: 'cat src/a.txt; echo two >> src/a.txt',
    });
    expect(data(exec)).toMatchObject({ stdout: 'one', exitCode: 0 });
    const argv = await call('sandbox_exec', {
      sandboxId: id,
      argv: ['cat', 'src/a.txt'],
      cwd: '/workspace',
    });
    expect(data(argv)).toMatchObject({ stdout: 'onetwo\n' });
    const read = data(
      await call('sandbox_read_file', { sandboxId: id, path: '/workspace/src/a.txt' }),
    );
    expect(read).toMatchObject({ content: 'onetwo\n', encoding: 'utf8', size: 7 });
    await call('sandbox_write_file', {
      sandboxId: id,
      path: '/tmp/b',
      content: '//8=',
      encoding: 'base64',
    });
    expect(data(await call('sandbox_read_file', { sandboxId: id, path: '/tmp/b' }))).toMatchObject({
      content: '//8=',
      encoding: 'base64',
    });
    const listed = data<{ entries: { name: string; type: string }[] }>(
      await call('sandbox_list_files', { sandboxId: id }),
    );
    expect(listed.entries).toEqual([expect.objectContaining({ name: 'src', type: 'directory' })]);
    const all = data<{ sandboxes: { sandboxId: string; alive: boolean }[] }>(
      await call('sandbox_list', {}),
    );
    expect(all.sandboxes).toContainEqual(expect.objectContaining({ sandboxId: id, alive: true }));
    expect(data(await call('sandbox_destroy', { sandboxId: id }))).toEqual({
      sandboxId: id,
      destroyed: true,
    });
    const after = await call('sandbox_exec', { sandboxId: id, command: 'true' });
    expect(after.isError).toBe(true);
    expect(text(after)).toMatch(/^SANDBOX_NOT_FOUND: no such sandbox/);
  });

  test('a long exec reports its output so far as progress', async () => {
    const id = await newSandbox();
    const updates: { progress: number; message?: string | undefined }[] = [];
    const result = await client.callTool(
      {
        name: 'sandbox_exec',
        arguments: { sandboxId: id, command: 'for i in 1 2 3 4; do echo line$i; sleep 0.4; done' },
      },
      { onprogress: (update) => updates.push(update) },
    );
    expect(data(result)).toMatchObject({ stdout: 'line1\nline2\nline3\nline4\n' });
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates.some((update) => update.message?.includes('line1'))).toBe(true);
    const progress = updates.map((update) => update.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    await call('sandbox_destroy', { sandboxId: id });
  });

  test("a client's cancellation kills the process in the box", async () => {
    const id = await newSandbox();
    const controller = new AbortController();
    const running = client.callTool(
      {
        name: 'sandbox_exec',
        arguments: { sandboxId: id, command: 'echo started; exec sleep 30' },
      },
      {
        signal: controller.signal,
        onprogress: (update) => {
          if (update.message?.includes('started')) controller.abort('the test cancels');
        },
      },
    );
    await expect(running).rejects.toThrow();
    const ps = await eventually(
      async () =>
        data<{ stdout: string }>(
          await call('sandbox_exec', { sandboxId: id, command: 'ps -eo args' }),
        ),
      (seen) => !seen.stdout.includes('sleep 30'),
    );
    expect(ps.stdout).toContain('ps -eo args');
    expect(ps.stdout).not.toContain('sleep 30');
    await call('sandbox_destroy', { sandboxId: id });
  });

  test('bad calls get tool or protocol errors, and the server keeps serving', async () => {
    await expect(call('format_disk', {})).rejects.toMatchObject({ code: -32602 });
    const invalid = await call('sandbox_exec', { sandboxId: 42 });
    expect(invalid.isError).toBe(true);
    expect(text(invalid)).toMatch(/sandboxId/);
    const both = await call('run', { command: 'true', code: 'x', language: 'sh' });
    expect(text(both)).toContain('exactly one of `command` or `code`');
    const forged = await call('sandbox_read_file', {
      sandboxId: 'sb-0123456789abcdef0123',
      path: 'a',
    });
    expect(forged._meta).toMatchObject({
      'ironclaw/error': { code: 'SANDBOX_NOT_FOUND', fault: 'request' },
    });
    expect(text(forged)).toContain('no such sandbox');
    const id = await newSandbox();
    const outside = await call('sandbox_read_file', { sandboxId: id, path: '../../etc/passwd' });
    expect(text(outside)).toMatch(/^PATH_OUTSIDE_SANDBOX: /);
    const missing = await call('sandbox_read_file', { sandboxId: id, path: 'nope.txt' });
    expect(text(missing)).toMatch(/^NOT_FOUND: /);
    const big = await call('sandbox_write_file', {
      sandboxId: id,
      path: 'big',
      content: 'x'.repeat(9 * 1024 ** 2),
    });
    expect(big._meta).toMatchObject({ 'ironclaw/error': { code: 'INVALID_ARGUMENT' } });
    const badBase64 = await call('sandbox_write_file', {
      sandboxId: id,
      path: 'b',
      content: 'no!',
      encoding: 'base64',
    });
    expect(text(badBase64)).toContain('not valid base64');
    const memory = await call('sandbox_create', { memory: 'lots' });
    expect(text(memory)).toMatch(/^INVALID_ARGUMENT: invalid memory/);
    expect(
      data(await call('sandbox_exec', { sandboxId: id, command: 'echo still here' })),
    ).toMatchObject({
      stdout: 'still here\n',
    });
    await call('sandbox_destroy', { sandboxId: id });
    expect(clientErrors).toEqual([]);
  });

  test('a 2026-07-28 client is served on stdio too', async () => {
    const modern = new Client(
      { name: 'ironclaw-test-modern', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await modern.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BIN, 'mcp', '--pool', '0'],
        env: ENV,
        stderr: 'ignore',
      }),
    );
    try {
      expect(modern.getProtocolEra()).toBe('modern');
      const result = await modern.callTool({ name: 'run', arguments: { command: 'echo modern' } });
      expect(result.structuredContent).toMatchObject({ stdout: 'modern\n' });
    } finally {
      await modern.close();
    }
  });
});

describe('ironclaw mcp over stdio, raw', () => {
  interface Raw {
    child: ChildProcessByStdio<Writable, Readable, Readable>;
    next(): Promise<Record<string, unknown>>;
    send(message: unknown): void;
    stderr(): string;
  }

  function startRaw(): Raw {
    const child = spawn(process.execPath, [BIN, 'mcp', '--pool', '0'], {
      env: ENV,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let buffered = '';
    let errors = '';
    const lines: string[] = [];
    const waiting: ((line: string) => void)[] = [];
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const waiter = waiting.shift();
        if (waiter) waiter(line);
        else lines.push(line);
      }
    });
    return {
      child,
      next: () =>
        new Promise((resolve) => {
          const line = lines.shift();
          const parse = (text: string): void =>
            resolve(JSON.parse(text) as Record<string, unknown>);
          if (line !== undefined) parse(line);
          else waiting.push(parse);
        }),
      send: (message) =>
        child.stdin.write(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`),
      stderr: () => errors,
    };
  }

  const initialize = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'raw', version: '1' },
    },
  };

  test('malformed and oversized JSON-RPC get errors; the session goes on', async () => {
    const raw = startRaw();
    raw.send(initialize);
    expect(await raw.next()).toMatchObject({ id: 1, result: { serverInfo: { name: 'ironclaw' } } });
    raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    raw.send('{"jsonrpc": "2.0", "id": 2, "method": ');
    expect(await raw.next()).toMatchObject({ id: null, error: { code: -32700 } });
    raw.send({ id: 3, hello: 'world' });
    expect(await raw.next()).toMatchObject({ id: 3, error: { code: -32600 } });
    const huge = 'x'.repeat(17 * 1024 * 1024);
    raw.send({
      jsonrpc: '2.0',
      method: 'tools/call',
      params: { name: 'run', arguments: { command: huge } },
      id: 4,
    });
    expect(await raw.next()).toMatchObject({
      id: 4,
      error: { code: -32600, message: expect.stringContaining('limit') as unknown },
    });
    raw.send({ jsonrpc: '2.0', id: 5, method: 'tools/list' });
    expect(await raw.next()).toMatchObject({
      id: 5,
      result: { tools: expect.any(Array) as unknown },
    });
    raw.send({ jsonrpc: '2.0', id: 6, method: 'no/such/method' });
    expect(await raw.next()).toMatchObject({ id: 6, error: { code: -32601 } });
    raw.child.stdin.end();
    expect(await new Promise((resolve) => raw.child.once('exit', resolve))).toBe(0);
  });

  test("closing stdin destroys the session's sandboxes and ends the server", async () => {
    const raw = startRaw();
    raw.send(initialize);
    await raw.next();
    raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    raw.send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'sandbox_create', arguments: {} },
    });
    const created = (await raw.next()) as { result: { structuredContent: { sandboxId: string } } };
    const sandboxId = created.result.structuredContent.sandboxId;
    const marker = `ironclaw-marker-${randomUUID()}`;
    raw.send({
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: {
        name: 'sandbox_exec',
        arguments: {
          sandboxId,
          command: `nohup python3 -c 'import time; time.sleep(600)' ${marker} >/dev/null 2>&1 &`,
        },
      },
    });
    await raw.next();
    expect(
      await eventually(
        () => hostPidsWith(marker),
        (pids) => pids.length === 1,
      ),
    ).toHaveLength(1);
    raw.child.stdin.end();
    expect(await new Promise((resolve) => raw.child.once('exit', resolve))).toBe(0);
    expect(raw.stderr()).toContain('destroying 1 sandbox(es): the session ended');
    expect(
      await eventually(
        () => hostPidsWith(marker),
        (pids) => pids.length === 0,
      ),
    ).toEqual([]);
  });
});
