// `ironclaw wrap` and the approval cliff: a wrapped tool the server marks destructive (or one the
// policy says to ask about) waits for the user's yes, asked by MCP elicitation through the real
// SDK client, before the call reaches the real wrapped server in its real box.
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, describe, expect, test } from 'vitest';
import { BIN, REPO } from './helpers/cli.js';
import { auditRecords, summary } from './support/audit-records.js';

type Result = Awaited<ReturnType<Client['callTool']>>;
type Answer = { action: 'accept' | 'decline' | 'cancel'; content?: Record<string, string> };

const FIXTURES = `${join(REPO, 'test', 'fixtures')}:/opt/fixtures:ro`;
const FIXTURE = ['node', '/opt/fixtures/mcp-fixture-server.mjs'];
const open: Client[] = [];

afterAll(async () => {
  await Promise.allSettled(open.map((client) => client.close()));
});

/** A directory the box's uid (its own, from the box range, as root) can write, with one file. */
async function victim(): Promise<{ dir: string; file: string; guest: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ironclaw-wrap-ask-'));
  await chmod(dir, 0o777);
  const file = join(dir, 'precious.txt');
  await writeFile(file, 'keep me\n', { mode: 0o666 });
  return { dir, file, guest: '/data/precious.txt' };
}

async function wrap(options: {
  dir: string;
  elicitation: boolean;
  answer?: Answer;
  policy?: Record<string, unknown>;
}): Promise<{ client: Client; asked: string[]; stderr: () => string; auditDb: string }> {
  const state = await mkdtemp(join(tmpdir(), 'ironclaw-wrap-ask-state-'));
  const args = [
    'wrap',
    '--env',
    'FIXTURE_ANNOTATED',
    '--mount',
    FIXTURES,
    '--mount',
    `${options.dir}:/data`,
  ];
  if (options.policy) {
    const file = join(state, 'policy.json');
    await writeFile(file, JSON.stringify(options.policy));
    args.push('--policy', file);
  }
  let stderr = '';
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, ...args, '--', ...FIXTURE],
    env: {
      ...process.env,
      IRONCLAW_STATE_DIR: state,
      IRONCLAW_DATA_DIR: state,
      IRONCLAW_AUDIT_DB: join(state, 'audit.db'),
      FIXTURE_ANNOTATED: '1',
    },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client(
    { name: 'wrap-ask-test', version: '1.0.0' },
    { capabilities: options.elicitation ? { elicitation: { form: {} } } : {} },
  );
  const asked: string[] = [];
  if (options.elicitation)
    client.setRequestHandler('elicitation/create', (request) => {
      asked.push((request.params as { message: string }).message);
      return options.answer ?? { action: 'decline' as const };
    });
  await client.connect(transport);
  open.push(client);
  return { client, asked, stderr: () => stderr, auditDb: join(state, 'audit.db') };
}

function text(result: Result): string {
  const [first] = result.content;
  return first?.type === 'text' ? first.text : '';
}

function audits(stderr: string): unknown[][] {
  return stderr
    .split('\n')
    .filter((line) => line.includes(' audit {'))
    .map((line) => JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>)
    .map((record) => [record.tool, record.decision, record.outcome]);
}

describe('ironclaw wrap: red tools need the user', () => {
  test('the destructive tool is marked, asks, and runs only after an accept', async () => {
    const { dir, file, guest } = await victim();
    const { client, asked, stderr } = await wrap({
      dir,
      elicitation: true,
      answer: { action: 'accept', content: { decision: 'approve', scope: 'once' } },
    });
    const { tools } = await client.listTools();
    const meta = Object.fromEntries(tools.map((tool) => [tool.name, tool._meta]));
    expect(meta.remove).toMatchObject({ 'anthropic/requiresUserInteraction': true });
    expect(meta.read_host_file).toBeUndefined();
    expect(meta.echo).toBeUndefined();

    const read = await client.callTool({ name: 'read_host_file', arguments: { path: guest } });
    expect(text(read)).toBe('keep me\n');
    expect(asked).toEqual([]);

    const removed = await client.callTool({ name: 'remove', arguments: { path: guest } });
    expect(removed.isError, text(removed)).toBeFalsy();
    expect(text(removed)).toBe(`removed ${guest}`);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toContain('/remove');
    expect(asked[0]).toContain(guest);
    expect(existsSync(file)).toBe(false);
    expect(audits(stderr())).toEqual([
      ['read_host_file', 'allowed', 'answered'],
      ['remove', 'allowed', 'answered'],
    ]);
  });

  test('a decline ends the call: it never reaches the server, and is audited as denied', async () => {
    const { dir, file, guest } = await victim();
    const { client, asked, stderr, auditDb } = await wrap({ dir, elicitation: true });
    await client.listTools();
    const declined = await client.callTool({ name: 'remove', arguments: { path: guest } });
    expect(declined.isError).toBe(true);
    expect(text(declined)).toContain('declined by the user; do not retry');
    expect(asked).toHaveLength(1);
    expect(existsSync(file)).toBe(true);
    expect(stderr()).not.toContain('fixture: called remove');
    expect(audits(stderr())).toEqual([['remove', 'denied', 'denied']]);
    // The broker recorded the request and the person's answer; the call record says denied.
    const records = await auditRecords(auditDb);
    const approvals = records.filter((record) => record.kind === 'approval');
    expect(summary(approvals, 'title', 'decision', 'by')).toEqual([
      ['approval requested', expect.stringContaining('/remove'), undefined, undefined],
      ['approval denied', undefined, 'deny', 'elicitation'],
    ]);
    const calls = records.filter((record) => record.kind === 'tool-call');
    expect(summary(calls, 'tool', 'decision')).toEqual([
      ['tool-call requested', 'remove', undefined],
      ['tool-call denied', undefined, 'denied'],
    ]);
  });

  test('a client that cannot be asked is refused at once, with the reason', async () => {
    const { dir, file, guest } = await victim();
    const { client, stderr } = await wrap({ dir, elicitation: false });
    await client.listTools();
    const refused = await client.callTool({ name: 'remove', arguments: { path: guest } });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toMatch(/did not declare elicitation/);
    expect(existsSync(file)).toBe(true);
    expect(stderr()).not.toContain('fixture: called remove');
  });

  test('policy: "unannotated": "ask" asks for a tool without annotations; a named "allow" does not', async () => {
    const { dir, file, guest } = await victim();
    const { client, asked } = await wrap({
      dir,
      elicitation: true,
      policy: { unannotated: 'ask', tools: { remove: 'allow' } },
    });
    const { tools } = await client.listTools();
    const echo = tools.find((tool) => tool.name === 'echo');
    expect(echo?._meta).toMatchObject({ 'anthropic/requiresUserInteraction': true });
    const echoed = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(text(echoed)).toContain('declined by the user');
    expect(asked).toHaveLength(1);
    const removed = await client.callTool({ name: 'remove', arguments: { path: guest } });
    expect(text(removed)).toBe(`removed ${guest}`);
    expect(asked).toHaveLength(1);
    expect(existsSync(file)).toBe(false);
  });
});
