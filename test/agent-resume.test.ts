// `ironclaw agent --resume ID`: a stopped session goes on from its transcript. The model is sent
// the conversation so far, what was spent counts against the same budgets, the transcript grows
// in the same file, and an id that is not a session's (a path, an unknown one, a damaged file,
// a finished session) is refused with a clear error before any model is asked.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { agentCli, agentEnv, events, sessionOf } from './support/agent-cli.js';
import { type FakeLlm, type ScriptedTurn, startFakeLlm } from './support/fake-llm.js';

let llm: FakeLlm | undefined;
afterEach(async () => {
  await llm?.close();
  llm = undefined;
});

const RUN: ScriptedTurn = {
  text: 'Computing.',
  calls: [{ name: 'run', arguments: JSON.stringify({ command: 'echo $((6*7))' }) }],
};
const FINISH: ScriptedTurn = {
  calls: [{ name: 'finish', arguments: JSON.stringify({ summary: 'The answer is 42.' }) }],
};
const MODEL = ['--provider', 'openai', '--model', 'fake-model'];

describe('ironclaw agent --resume', () => {
  for (const provider of ['openai', 'anthropic'] as const)
    test(`${provider}: a session stopped by its step budget is resumed and finishes, the model seeing what came before`, async () => {
      const data = await mkdtemp(join(tmpdir(), 'ironclaw-agent-data-'));
      llm = await startFakeLlm([RUN, FINISH]);
      const model = ['--provider', provider, '--model', 'fake-model'];
      const first = await agentCli(
        [...model, '--max-steps', '1', 'what is 6*7?'],
        await agentEnv(llm, provider, { data }),
      );
      expect(first.code, first.stderr).toBe(3);
      expect(first.stderr).toMatch(/the maxSteps budget ran out/);
      const { id, path } = sessionOf(first.stderr);
      expect(id).toMatch(/^session-[0-9a-f]{20}$/);
      await llm.close();

      // Spent budgets count: resumed under the same step budget, it stops before asking.
      llm = await startFakeLlm([FINISH]);
      const again = await agentCli(['--resume', id], await agentEnv(llm, provider, { data }));
      expect(again.code, again.stderr).toBe(3);
      expect(again.stderr).toMatch(/the maxSteps budget ran out \(1 model turns\)/);
      expect(llm.requests).toHaveLength(0);

      const resumed = await agentCli(
        ['--resume', id, '--max-steps', '3'],
        await agentEnv(llm, provider, { data }),
      );
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toContain(`agent: resuming ${id} after 1 turns`);
      expect(resumed.stdout.trim().endsWith('The answer is 42.')).toBe(true);
      expect(sessionOf(resumed.stderr).path).toBe(path);
      // The model got the task, its own earlier call, that call's result and the note.
      expect(llm.requests).toHaveLength(1);
      const sent = JSON.stringify(llm.requests[0]?.body.messages);
      expect(sent).toContain('what is 6*7?');
      expect(sent).toContain('Computing.');
      expect(sent).toContain('42');
      expect(sent).toContain('now resumed');
      expect(llm.requests[0]?.body.model).toBe('fake-model');
      const types = events(await readFile(path, 'utf8')).map((event) => event.type);
      expect(types).toEqual([
        'start',
        'turn',
        'tool-result',
        'end',
        'resume',
        'note',
        'end',
        'resume',
        'note',
        'turn',
        'end',
      ]);

      // Finished: there is nothing to resume.
      const over = await agentCli(['--resume', id], await agentEnv(llm, provider, { data }));
      expect(over.code).not.toBe(0);
      expect(over.stderr).toContain('already finished');
    }, 180_000);

  test('refuses a path, an unknown id, a damaged transcript, and a task beside --resume', async () => {
    const data = await mkdtemp(join(tmpdir(), 'ironclaw-agent-data-'));
    llm = await startFakeLlm([FINISH]);
    const env = await agentEnv(llm, 'openai', { data });
    // Something to traverse to: a transcript-looking file outside the agent directory.
    await writeFile(join(data, 'x.jsonl'), '{}\n');
    for (const id of ['../x', '../../etc/passwd', 'session-1/../../x', '/tmp/x']) {
      const result = await agentCli(['--resume', id], env);
      expect(result.code, id).toBe(2);
      expect(result.stderr).toContain('not a session id');
    }
    const unknown = await agentCli(['--resume', 'session-00000000000000000000'], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('no session session-00000000000000000000');

    await mkdir(join(data, 'agent'), { recursive: true, mode: 0o700 });
    const broken = join(data, 'agent', 'session-0123456789abcdef0123.jsonl');
    const garbage = '{"at":"2026-01-01T00:00:00Z","type":"start"}\nnot json\n';
    await writeFile(broken, garbage);
    const damaged = await agentCli(['--resume', 'session-0123456789abcdef0123'], env);
    expect(damaged.code).not.toBe(0);
    expect(damaged.stderr).toMatch(/is damaged \(line 2 is not an event\)/);
    expect(await readFile(broken, 'utf8')).toBe(garbage);

    const both = await agentCli([...MODEL, '--resume', 'session-0123', 'a task'], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
    expect(llm.requests).toHaveLength(0);
  }, 60_000);
});
