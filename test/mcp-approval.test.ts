// The approval cliff over MCP: `ironclaw mcp` (the built binary, on stdio) asks the client's
// user through an elicitation before workspace_apply writes anything, bound to a token only
// the server can mint. The SDK's own client answers: accept applies exactly the diff, decline
// leaves the host directory byte for byte as it was, and a client that cannot be asked gets
// nothing written.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN } from './helpers/cli.js';
import { snapshotTree } from './support/host-tree.js';

type Result = Awaited<ReturnType<Client['callTool']>>;
type Answer = { action: 'accept' | 'decline' | 'cancel'; content?: Record<string, string> };

let project: string;
const asked: string[] = [];
let nextAnswer: Answer = { action: 'decline' };

async function connect(options: { elicitation: boolean }): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'mcp'],
    cwd: project,
    env: { ...process.env, IRONCLAW_POOL_SIZE: '0' },
    stderr: 'ignore',
  });
  const client = new Client(
    { name: 'approval-test', version: '1.0.0' },
    { capabilities: options.elicitation ? { elicitation: { form: {} } } : {} },
  );
  if (options.elicitation)
    client.setRequestHandler('elicitation/create', (request) => {
      asked.push((request.params as { message: string }).message);
      return nextAnswer;
    });
  await client.connect(transport);
  return client;
}

function text(result: Result): string {
  const [first] = result.content;
  return first?.type === 'text' ? first.text : '';
}

function ok<T = Record<string, unknown>>(result: Result): T {
  expect(result.isError, text(result)).toBeFalsy();
  return result.structuredContent as T;
}

async function boxWithChange(
  client: Client,
  content: string,
): Promise<{ id: string; digest: string }> {
  const { sandboxId } = ok<{ sandboxId: string }>(
    await client.callTool({ name: 'sandbox_create', arguments: { workspace: project } }),
  );
  ok(
    await client.callTool({
      name: 'sandbox_exec',
      arguments: { sandboxId, command: `printf '${content}' > /workspace/notes.txt` },
    }),
  );
  const diff = await client.callTool({ name: 'workspace_diff', arguments: { sandboxId } });
  expect(text(diff)).toContain('M  notes.txt');
  return { id: sandboxId, digest: ok<{ digest: string }>(diff).digest };
}

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'ironclaw-mcp-approval-'));
  await mkdir(join(project, 'src'));
  await writeFile(join(project, 'notes.txt'), 'host\n');
  await writeFile(join(project, 'src', 'keep.txt'), 'untouched\n');
});
afterAll(() => rm(project, { recursive: true, force: true }));

describe('workspace_apply over MCP', () => {
  test('marks the tool for user interaction; a decline writes nothing, an accept writes exactly the diff', async () => {
    const client = await connect({ elicitation: true });
    try {
      const { tools } = await client.listTools();
      const apply = tools.find((tool) => tool.name === 'workspace_apply');
      expect(apply?._meta).toMatchObject({ 'anthropic/requiresUserInteraction': true });
      expect(apply?.annotations).toMatchObject({ destructiveHint: true });

      const before = await snapshotTree(project);
      const declined = await boxWithChange(client, 'declined\\n');
      nextAnswer = { action: 'decline' };
      const refused = await client.callTool({
        name: 'workspace_apply',
        arguments: { sandboxId: declined.id, digest: declined.digest },
      });
      expect(refused.isError).toBe(true);
      expect(text(refused)).toContain('NOT_CONFIRMED');
      expect(text(refused)).toMatch(/declined/);
      expect(asked.at(-1)).toContain('Apply 1 change to');
      expect(asked.at(-1)).toContain('+declined');
      expect(await snapshotTree(project)).toEqual(before);

      const accepted = await boxWithChange(client, 'accepted\\n');
      nextAnswer = { action: 'accept', content: { decision: 'approve', scope: 'once' } };
      const applied = await client.callTool({
        name: 'workspace_apply',
        arguments: { sandboxId: accepted.id, digest: accepted.digest },
      });
      expect(ok<{ applied: number }>(applied).applied).toBe(1);
      expect(await readFile(join(project, 'notes.txt'), 'utf8')).toBe('accepted\n');
      expect(await readFile(join(project, 'src', 'keep.txt'), 'utf8')).toBe('untouched\n');
    } finally {
      await client.close();
    }
  });

  test('a client that cannot be asked gets nothing written, and is told why', async () => {
    await writeFile(join(project, 'notes.txt'), 'host\n');
    const client = await connect({ elicitation: false });
    try {
      const before = await snapshotTree(project);
      const box = await boxWithChange(client, 'unasked\\n');
      const refused = await client.callTool({
        name: 'workspace_apply',
        arguments: { sandboxId: box.id, digest: box.digest },
      });
      expect(refused.isError).toBe(true);
      expect(text(refused)).toMatch(/no one can be asked/);
      expect(await snapshotTree(project)).toEqual(before);
    } finally {
      await client.close();
    }
  });

  test("a workspace outside the server's directory is refused", async () => {
    const client = await connect({ elicitation: false });
    try {
      const refused = await client.callTool({
        name: 'sandbox_create',
        arguments: { workspace: tmpdir() },
      });
      expect(refused.isError).toBe(true);
      expect(text(refused)).toMatch(/not an absolute path inside/);
      const { sandboxes } = ok<{ sandboxes: unknown[] }>(
        await client.callTool({ name: 'sandbox_list', arguments: {} }),
      );
      expect(sandboxes).toEqual([]);
    } finally {
      await client.close();
    }
  });
});
