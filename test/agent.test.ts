// `ironclaw agent` as a user runs it, against a local stand-in for the model API (the hosted
// APIs are out of this machine's reach): the loop works through IronClaw's real MCP server, its
// commands run in real sandboxes, tool errors go back to the model, budgets end it cleanly, and
// the API key never reaches a box.
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterEach, describe, expect, test } from 'vitest';
import { REPO, runCli } from './helpers/cli.js';
import {
  type FakeLlm,
  type ScriptStep,
  type ScriptedTurn,
  startFakeLlm,
} from './support/fake-llm.js';

const KEY = 'sk-test-0123456789-secret';
let llm: FakeLlm | undefined;

afterEach(async () => {
  await llm?.close();
  llm = undefined;
});

async function agent(
  provider: 'openai' | 'anthropic',
  script: ScriptStep[],
  extra: string[] = [],
  options: { config?: unknown; modelFlags?: boolean; env?: NodeJS.ProcessEnv } = {},
) {
  llm = await startFakeLlm(script);
  const env: NodeJS.ProcessEnv =
    provider === 'openai'
      ? { OPENAI_BASE_URL: `${llm.url}/v1`, OPENAI_API_KEY: KEY }
      : { ANTHROPIC_BASE_URL: llm.url, ANTHROPIC_API_KEY: KEY };
  // Each run's transcript (and wrap's pins) in a directory of its own, not the machine's.
  env.IRONCLAW_DATA_DIR = await mkdtemp(join(tmpdir(), 'ironclaw-agent-data-'));
  Object.assign(env, options.env);
  if (options.config !== undefined) env.IRONCLAW_CONFIG = await configFile(options.config);
  const model =
    options.modelFlags === false ? [] : ['--provider', provider, '--model', 'fake-model'];
  return runCli(['agent', ...model, ...extra, 'what is 6*7?'], { env });
}

async function configFile(config: unknown): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'ironclaw-agent-config-')), 'config.json');
  await writeFile(path, JSON.stringify(config));
  return path;
}

/** The tool results the model was sent, as text (OpenAI's and Anthropic's shapes alike). */
function toolResults(fake: FakeLlm): string {
  return JSON.stringify(fake.requests.map((request) => request.body.messages));
}

const RUN_AND_FINISH: ScriptedTurn[] = [
  {
    text: 'Let me compute that in a sandbox.',
    calls: [{ name: 'run', arguments: JSON.stringify({ command: 'echo $((6*7)); env' }) }],
  },
  { calls: [{ name: 'finish', arguments: JSON.stringify({ summary: 'The answer is 42.' }) }] },
];

describe('ironclaw agent', () => {
  for (const provider of ['openai', 'anthropic'] as const) {
    test(`${provider}: runs the model's tool calls in a sandbox and ends with its summary`, async () => {
      const result = await agent(provider, RUN_AND_FINISH);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('Let me compute that in a sandbox.');
      expect(result.stdout.trim().endsWith('The answer is 42.')).toBe(true);
      const fake = llm as FakeLlm;
      expect(fake.requests).toHaveLength(2);
      // The model saw the MCP tools' schemas and the loop's finish tool.
      const tools = (fake.requests[0]?.body.tools ?? []) as {
        name?: string;
        function?: { name: string };
      }[];
      const names = tools.map((tool) => tool.name ?? tool.function?.name);
      expect(names).toEqual(
        expect.arrayContaining(['run', 'sandbox_create', 'sandbox_exec', 'finish']),
      );
      // The command's output came back as the tool result; the key was not in the box.
      expect(toolResults(fake)).toContain('42');
      expect(toolResults(fake)).toContain('PATH=');
      expect(toolResults(fake)).not.toContain(KEY);
      expect(result.stderr).toContain('→ run');
    }, 120_000);
  }

  test('retries a rate-limited request, honouring Retry-After', async () => {
    const result = await agent('anthropic', [{ status: 429, retryAfter: '0' }, ...RUN_AND_FINISH]);
    expect(result.code, result.stderr).toBe(0);
    expect(llm?.requests).toHaveLength(3);
  }, 120_000);

  test('a tool error goes back to the model as a tool result, not a crash', async () => {
    const result = await agent('openai', [
      {
        calls: [
          {
            name: 'sandbox_exec',
            arguments: JSON.stringify({ sandboxId: 'no-such-box', command: 'true' }),
          },
        ],
      },
      {
        calls: [
          {
            name: 'finish',
            arguments: JSON.stringify({ summary: 'That sandbox does not exist.' }),
          },
        ],
      },
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(toolResults(llm as FakeLlm)).toContain('SANDBOX_NOT_FOUND');
  }, 120_000);

  test('stops cleanly and says which budget ran out', async () => {
    const nonsense = { calls: [{ name: 'no_such_tool', arguments: '{}' }] };
    const malformed = await agent('openai', [nonsense, nonsense, nonsense, nonsense]);
    expect(malformed.code).toBe(3);
    expect(malformed.stderr).toMatch(/the maxMalformed budget ran out/);
    await llm?.close();
    const steps = await agent('openai', RUN_AND_FINISH, ['--max-steps', '1']);
    expect(steps.code).toBe(3);
    expect(steps.stderr).toMatch(/the maxSteps budget ran out \(1 model turns\)/);
  }, 120_000);

  test('takes provider, model and prices from the config file; --max-cost stops on cost', async () => {
    const config = {
      agent: {
        provider: 'anthropic',
        model: 'priced-model',
        // 100 input + 20 output tokens a turn: $0.0012 a turn.
        prices: { 'priced-model': { inputPerMTok: 10, outputPerMTok: 10 } },
      },
    };
    const result = await agent('anthropic', RUN_AND_FINISH, ['--max-cost', '0.001'], {
      config,
      modelFlags: false,
    });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain('agent: anthropic priced-model');
    expect(result.stderr).toMatch(/the maxCost budget ran out \(\$0\.0012 spent\)/);
    expect(llm?.requests[0]?.body.model).toBe('priced-model');
    await llm?.close();
    // A model without a price: the cost budget is refused before anything runs.
    const unpriced = await agent('openai', RUN_AND_FINISH, ['--max-cost', '1'], {
      config: { agent: { prices: {} } },
    });
    expect(unpriced.code).toBe(2);
    expect(unpriced.stderr).toContain('agent.prices["fake-model"]');
    expect(llm?.requests).toHaveLength(0);
  }, 120_000);

  test("the config's MCP servers run wrapped, their tools namespaced", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ironclaw-agent-wrap-'));
    const canary = join(dir, 'canary.txt');
    await writeFile(canary, 'CANARY-ON-THE-HOST\n', { mode: 0o644 });
    const config = {
      agent: {
        servers: [
          {
            name: 'fix',
            command: 'node',
            args: ['/opt/fixtures/mcp-fixture-server.mjs'],
            mounts: [`${join(REPO, 'test', 'fixtures')}:/opt/fixtures:ro`],
          },
        ],
      },
    };
    const result = await agent(
      'openai',
      [
        {
          calls: [
            { name: 'fix__echo', arguments: JSON.stringify({ text: 'hello through wrap' }) },
            { name: 'fix__read_host_file', arguments: JSON.stringify({ path: canary }) },
          ],
        },
        { calls: [{ name: 'finish', arguments: JSON.stringify({ summary: 'done' }) }] },
      ],
      [],
      { config, env: { IRONCLAW_STATE_DIR: dir, IRONCLAW_DATA_DIR: dir } },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('and fix (wrapped)');
    const tools = (llm?.requests[0]?.body.tools ?? []) as { function: { name: string } }[];
    const names = tools.map((tool) => tool.function.name);
    expect(names).toEqual(expect.arrayContaining(['fix__echo', 'fix__read_host_file', 'run']));
    expect(names).not.toContain('echo');
    const results = toolResults(llm as FakeLlm);
    expect(results).toContain('hello through wrap');
    // The server runs in wrap's sandbox: the host file it was asked for is not there.
    expect(results).toContain('cannot read: ENOENT');
    expect(results).not.toContain('CANARY-ON-THE-HOST');
    // Negative control: the same server, not wrapped, reads the host file.
    const client = new Client({ name: 'negative-control', version: '1' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [join(REPO, 'test', 'fixtures', 'mcp-fixture-server.mjs')],
        stderr: 'ignore',
      }),
    );
    try {
      const read = await client.callTool({ name: 'read_host_file', arguments: { path: canary } });
      expect(JSON.stringify(read.content)).toContain('CANARY-ON-THE-HOST');
    } finally {
      await client.close();
    }
  }, 120_000);

  describe('--workspace: a copy, its diff shown at the end, applied only when approved', () => {
    /** Writes notes.txt in the session's sandbox (whose id the loop told the model), then finishes. */
    const EDIT: ScriptStep[] = [
      (body) => {
        const id = /sandbox (\S+), made for this session/.exec(JSON.stringify(body.messages))?.[1];
        return {
          calls: [
            {
              name: 'sandbox_exec',
              arguments: JSON.stringify({
                sandboxId: id ?? 'no-id-given',
                command: "printf 'from the agent\\n' > /workspace/notes.txt",
              }),
            },
          ],
        };
      },
      { calls: [{ name: 'finish', arguments: JSON.stringify({ summary: 'notes updated' }) }] },
    ];

    async function project(): Promise<string> {
      const dir = await mkdtemp(join(tmpdir(), 'ironclaw-agent-project-'));
      await mkdir(join(dir, 'src'));
      await writeFile(join(dir, 'notes.txt'), 'from the host\n');
      await writeFile(join(dir, 'src', 'keep.txt'), 'untouched\n');
      return dir;
    }

    test('--yes-for apply: the host file changes exactly as the diff says, and the pre-approval is recorded', async () => {
      const dir = await project();
      const result = await agent('openai', EDIT, ['--workspace', dir, '--yes-for', 'apply']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain(`the changes to ${dir}`);
      expect(result.stderr).toContain('-from the host');
      expect(result.stderr).toContain('+from the agent');
      expect(result.stderr).toContain('approved by --yes-for apply');
      expect(result.stderr).toMatch(/applied: Applied 1 change/);
      expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('from the agent\n');
      expect(await readFile(join(dir, 'src', 'keep.txt'), 'utf8')).toBe('untouched\n');
      const transcript = /agent: transcript (\S+)/.exec(result.stderr)?.[1] ?? 'not printed';
      const events = (await readFile(transcript, 'utf8')).trim().split('\n');
      expect(events.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'pre-approval', scope: 'apply', by: '--yes-for' }),
          expect.objectContaining({
            type: 'approval',
            phase: 'apply',
            decision: 'approve',
            by: '--yes-for apply',
          }),
          expect.objectContaining({ type: 'review', changes: 1, applied: true }),
        ]),
      );
    }, 120_000);

    test('no TTY and no pre-approval: declined, and the host is untouched', async () => {
      const dir = await project();
      const result = await agent('openai', EDIT, ['--workspace', dir]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain('+from the agent');
      expect(result.stderr).toContain('declined by no tty');
      expect(result.stderr).toContain('not applied');
      expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('from the host\n');
    }, 120_000);

    test('--yes-for takes known scopes only, and --workspace an existing directory', async () => {
      const scope = await runCli(['agent', '--model', 'm', '--yes-for', 'everything', 'task'], {
        env: { OPENAI_API_KEY: KEY },
      });
      expect(scope.code).toBe(2);
      expect(scope.stderr).toContain('the scopes are apply');
      const missing = await runCli(['agent', '--model', 'm', '--workspace', '/no/such', 'task'], {
        env: { OPENAI_API_KEY: KEY },
      });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('give an existing directory');
    });
  });

  test('writes a transcript of the session to the data directory, without the key', async () => {
    const data = await mkdtemp(join(tmpdir(), 'ironclaw-agent-data-'));
    const dir = await mkdtemp(join(tmpdir(), 'ironclaw-agent-echo-'));
    await writeFile(join(dir, 'notes.txt'), 'host\n');
    // The model tries to get the key into the transcript: by echoing it in its text and in a
    // command's arguments (it cannot know the key; this stands for any way it might show up).
    const result = await agent(
      'anthropic',
      [
        {
          text: `my key is ${KEY}`,
          calls: [{ name: 'run', arguments: JSON.stringify({ command: `echo ${KEY}; echo ok` }) }],
        },
        { calls: [{ name: 'finish', arguments: JSON.stringify({ summary: 'done' }) }] },
      ],
      ['--workspace', dir, '--yes-for', 'apply'],
      { env: { IRONCLAW_DATA_DIR: data } },
    );
    expect(result.code, result.stderr).toBe(0);
    const path = /agent: transcript (\S+)/.exec(result.stderr)?.[1] ?? 'not printed';
    expect(path.startsWith(join(data, 'agent'))).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const lines = (await readFile(path, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string } & Record<string, unknown>);
    expect(lines.map((line) => line.type)).toEqual([
      'start',
      'pre-approval',
      'workspace',
      'turn',
      'tool-result',
      'turn',
      'end',
      'review',
    ]);
    expect(lines[0]).toMatchObject({
      provider: 'anthropic',
      model: 'fake-model',
      yesFor: ['apply'],
    });
    expect(lines[4]).toMatchObject({ name: 'run', isError: false });
    expect(String(lines[4]?.text)).toContain('ok');
    expect(lines[6]).toMatchObject({ ended: 'finished', summary: 'done' });
    expect(lines[7]).toMatchObject({ changes: 0, applied: false });
    // Not in the transcript, nor in any other file the session wrote in the data directory.
    const files = await readdir(data, { recursive: true, withFileTypes: true });
    const written = files.filter((entry) => entry.isFile());
    expect(written.length).toBeGreaterThan(0);
    for (const file of written)
      expect(await readFile(join(file.parentPath, file.name), 'utf8')).not.toContain(KEY);
    expect(await readFile(path, 'utf8')).toContain('[redacted]');
  }, 120_000);

  test('refuses to start without a model or a key, saying what to set', async () => {
    const noModel = await runCli(['agent', 'task'], { env: { IRONCLAW_AGENT_MODEL: '' } });
    expect(noModel.code).toBe(2);
    expect(noModel.stderr).toContain('--model');
    const noKey = await runCli(['agent', '--model', 'm', 'task'], { env: { OPENAI_API_KEY: '' } });
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr).toContain('OPENAI_API_KEY');
  });
});
