// Red actions during an `ironclaw agent` run reach the agent's user: a connection from a
// sandbox to a host its allow-list does not name (IronClaw's MCP server elicits the question of
// the call running in that sandbox), and a destructive tool of a wrapped server (wrap's
// elicitation). With no TTY the question is declined at once; `--yes-for egress:HOST` and
// `--yes-for tool:SERVER/TOOL` pre-approve exactly that scope, recorded in the transcript and
// the audit store; any other scope still declines.
import { chmod, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { AuditStore } from '../src/audit/audit-store.js';
import { REPO, runCli } from './helpers/cli.js';
import { agentCli, agentEnv, events, KEY, sessionOf } from './support/agent-cli.js';
import { type FakeLlm, startFakeLlm } from './support/fake-llm.js';

let llm: FakeLlm | undefined;
let target: Server;
let port: number;
let hits = 0;

beforeAll(async () => {
  target = createServer((_request, response) => {
    hits += 1;
    response.end('reached');
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  port = (target.address() as AddressInfo).port;
});
afterAll(() => new Promise((resolve) => target.close(resolve)));
afterEach(async () => {
  await llm?.close();
  llm = undefined;
});

const MODEL = ['--provider', 'openai', '--model', 'fake-model'];
const FINISH = { calls: [{ name: 'finish', arguments: JSON.stringify({ summary: 'done' }) }] };

/** What the model was sent back as tool results. */
function sent(fake: FakeLlm): string {
  return JSON.stringify(fake.requests.map((request) => request.body.messages));
}

describe('ironclaw agent: red actions during the run', () => {
  test('egress to an unlisted host: declined with no TTY; --yes-for egress:HOST approves it (and the address policy still holds)', async () => {
    // A rule for another port, so the sandbox has egress at all; the target is unlisted.
    const other = port === 65535 ? port - 1 : port + 1;
    const curl = {
      name: 'run',
      arguments: JSON.stringify({
        command: `curl -sS -w '\\n%{http_code}' http://127.0.0.1:${port}/`,
        allowNet: [`127.0.0.1:${other}`],
      }),
    };
    const state = await mkdtemp(join(tmpdir(), 'ironclaw-agent-state-'));
    const run = async (extra: string[]) => {
      llm = await startFakeLlm([{ calls: [curl] }, FINISH]);
      const env = await agentEnv(llm, 'openai', { data: state });
      Object.assign(env, { IRONCLAW_STATE_DIR: state, IRONCLAW_AUDIT_DB: join(state, 'audit.db') });
      const result = await agentCli([...MODEL, ...extra, 'fetch the page'], env);
      const fake = llm;
      await llm.close();
      llm = undefined;
      return { result, fake };
    };

    const declined = await run([]);
    expect(declined.result.code, declined.result.stderr).toBe(0);
    expect(declined.result.stderr).toContain(
      `asked for approval to connect to 127.0.0.1:${port} (run): declined by no tty`,
    );
    expect(sent(declined.fake)).toMatch(/403/);
    expect(sent(declined.fake)).toMatch(/denied/);

    // Another host's pre-approval does not cover this one.
    const elsewhere = await run(['--yes-for', 'egress:pypi.org']);
    expect(elsewhere.result.stderr).toContain('declined by no tty');

    const approved = await run(['--yes-for', `egress:127.0.0.1`]);
    expect(approved.result.code, approved.result.stderr).toBe(0);
    expect(approved.result.stderr).toContain(
      `to connect to 127.0.0.1:${port} (run): approved by --yes-for egress:127.0.0.1`,
    );
    // Approved, the connection meets the address policy: loopback stays shut.
    expect(sent(approved.fake)).toMatch(/loopback/i);
    expect(hits).toBe(0);
    const { path, id } = sessionOf(approved.result.stderr);
    expect(events(await readFile(path, 'utf8'))).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'pre-approval', scope: 'egress:127.0.0.1' }),
        expect.objectContaining({
          type: 'approval',
          decision: 'approve',
          by: '--yes-for egress:127.0.0.1',
          action: { kind: 'egress', host: '127.0.0.1', port },
        }),
      ]),
    );
    const store = await AuditStore.open(join(state, 'audit.db'));
    try {
      const records = store.query({ limit: 1000 });
      const pre = records.filter((r) => r.kind === 'pre-approval').map((r) => r.data);
      expect(pre).toContainEqual({ scope: 'egress:127.0.0.1', by: '--yes-for', agentSession: id });
      // The server's own record of the question and its answer.
      const approvals = records.filter((r) => r.kind === 'approval').map((r) => r.status);
      expect(approvals).toEqual(expect.arrayContaining(['requested', 'denied', 'done']));
      expect(JSON.stringify(records)).not.toContain(KEY);
    } finally {
      store.close();
    }
  }, 240_000);

  test('a destructive wrapped tool: declined with no TTY; --yes-for tool:SERVER/TOOL approves exactly it', async () => {
    const state = await mkdtemp(join(tmpdir(), 'ironclaw-agent-state-'));
    // The tool removes a file of the host's, bound into the wrapped server's sandbox.
    const data = await mkdtemp(join(tmpdir(), 'ironclaw-agent-precious-'));
    await chmod(data, 0o777);
    const precious = join(data, 'precious.txt');
    await writeFile(precious, 'keep me\n', { mode: 0o666 });
    const config = {
      agent: {
        servers: [
          {
            name: 'fix',
            command: 'node',
            args: ['/opt/fixtures/mcp-fixture-server.mjs'],
            mounts: [`${join(REPO, 'test', 'fixtures')}:/opt/fixtures:ro`, `${data}:/data:rw`],
            env: ['FIXTURE_ANNOTATED'],
          },
        ],
      },
    };
    const remove = {
      name: 'fix__remove',
      arguments: JSON.stringify({ path: '/data/precious.txt' }),
    };
    const run = async (extra: string[]) => {
      llm = await startFakeLlm([{ calls: [remove] }, FINISH]);
      const env = await agentEnv(llm, 'openai', { data: state, config });
      Object.assign(env, { IRONCLAW_STATE_DIR: state, FIXTURE_ANNOTATED: '1' });
      const result = await agentCli([...MODEL, ...extra, 'clean up'], env);
      const fake = llm;
      await llm.close();
      llm = undefined;
      return { result, fake };
    };

    const declined = await run([]);
    expect(declined.result.code, declined.result.stderr).toBe(0);
    expect(declined.result.stderr).toContain(
      'fix asked for approval to call remove (run): declined by no tty',
    );
    expect(sent(declined.fake)).toContain('declined');
    expect(sent(declined.fake)).not.toContain('removed /data/precious.txt');
    expect(await readFile(precious, 'utf8')).toBe('keep me\n');

    const otherTool = await run(['--yes-for', 'tool:fix/echo']);
    expect(otherTool.result.stderr).toContain('declined by no tty');
    expect(sent(otherTool.fake)).not.toContain('removed /data/precious.txt');
    expect(await readFile(precious, 'utf8')).toBe('keep me\n');

    const approved = await run(['--yes-for', 'tool:fix/remove']);
    expect(approved.result.code, approved.result.stderr).toBe(0);
    expect(approved.result.stderr).toContain('approved by --yes-for tool:fix/remove');
    expect(sent(approved.fake), approved.result.stderr).toContain('removed /data/precious.txt');
    await expect(stat(precious)).rejects.toThrow(/ENOENT/);
    const { path } = sessionOf(approved.result.stderr);
    expect(events(await readFile(path, 'utf8'))).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'pre-approval', scope: 'tool:fix/remove' }),
        expect.objectContaining({
          type: 'approval',
          server: 'fix',
          action: { kind: 'tool', tool: 'remove' },
          by: '--yes-for tool:fix/remove',
        }),
      ]),
    );
  }, 240_000);

  test('--yes-for refuses scopes it does not know, and servers the session does not run; the help lists the forms', async () => {
    const env = { OPENAI_API_KEY: KEY };
    for (const [scope, says] of [
      ['everything', 'the scopes are apply, egress:HOST, tool:SERVER/TOOL'],
      ['egress:', 'the scopes are'],
      ['egress:../x', 'the scopes are'],
      ['tool:fix', 'the scopes are'],
      ['tool:nosuch/remove', 'the session runs no server nosuch'],
    ] as const) {
      const result = await runCli(['agent', '--model', 'm', '--yes-for', scope, 'task'], { env });
      expect(result.code, scope).toBe(2);
      expect(result.stderr).toContain(says);
    }
    const help = await runCli(['agent', '--help']);
    expect(help.stdout + help.stderr).toContain('apply|egress:HOST|tool:SERVER/TOOL');
    expect(help.stdout + help.stderr).toContain('--resume');
  }, 120_000);
});
