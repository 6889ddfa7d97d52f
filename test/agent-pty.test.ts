// The y/N question at the end of an `ironclaw agent --workspace` session, at a real terminal:
// the agent runs in a tmux pane (a tmux server on a socket of this test's own), the diff and the
// question show in the pane, and the answer is typed with send-keys. y applies the diff to the
// host; n, or Enter alone (the default is no), leaves the host untouched.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { BIN } from './helpers/cli.js';
import { KEY } from './support/agent-cli.js';
import { type FakeLlm, type ScriptStep, startFakeLlm } from './support/fake-llm.js';

const execFileAsync = promisify(execFile);
const tmuxMissing = await execFileAsync('tmux', ['-V']).then(
  () => undefined,
  () => 'tmux is not installed',
);
const SOCKET = `ironclaw-agent-pty-${process.pid}`;
let llm: FakeLlm | undefined;
let pane = 0;

afterEach(async () => {
  await llm?.close();
  llm = undefined;
});
afterAll(async () => {
  await tmux('kill-server').catch(() => undefined);
});

function tmux(...args: string[]): Promise<string> {
  return execFileAsync('tmux', ['-L', SOCKET, ...args]).then(({ stdout }) => stdout);
}

/** Polls the pane (its history too) until `ready` holds; fails with the pane at the deadline. */
async function waitFor(target: string, ready: (text: string) => boolean): Promise<string> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const text = await tmux('capture-pane', '-p', '-J', '-S', '-300', '-t', target);
    if (ready(text)) return text;
    if (Date.now() > deadline) throw new Error(`the pane never showed what was expected:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Writes notes.txt in the session's sandbox (its id as the loop told the model), then finishes. */
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

/** Runs a session at a terminal, answers the question with `keys`, returns the host's notes.txt. */
async function session(keys: string[]): Promise<{ notes: string; pane: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ironclaw-agent-pty-project-'));
  await writeFile(join(dir, 'notes.txt'), 'from the host\n');
  const data = await mkdtemp(join(tmpdir(), 'ironclaw-agent-pty-data-'));
  llm = await startFakeLlm(EDIT);
  const env = [
    `PATH=${process.env.PATH ?? ''}`,
    'TERM=xterm-256color',
    `OPENAI_BASE_URL=${llm.url}/v1`,
    `OPENAI_API_KEY=${KEY}`,
    `IRONCLAW_DATA_DIR=${data}`,
    `IRONCLAW_AUDIT_DB=${join(data, 'audit.db')}`,
  ];
  const agent = [process.execPath, BIN, 'agent', '--model', 'fake-model', '--workspace', dir];
  const line = `env -i ${env.join(' ')} ${agent.join(' ')} 'update the notes'; echo "status=$?"`;
  const name = `a${++pane}`;
  const shell = ['bash', '--norc', '--noprofile', '-c', `${line}; exec sleep 600`];
  if (pane === 1)
    await tmux(
      '-f',
      '/dev/null',
      'new-session',
      '-d',
      '-s',
      'agent',
      '-n',
      name,
      '-x',
      '160',
      '-y',
      '50',
      ...shell,
    );
  else await tmux('new-window', '-d', '-t', 'agent', '-n', name, ...shell);
  const target = `agent:${name}`;
  const asked = await waitFor(target, (text) => text.includes('approve? [y/N]'));
  expect(asked).toContain('-from the host');
  expect(asked).toContain('+from the agent');
  for (const key of keys) await tmux('send-keys', '-t', target, key);
  const shown = await waitFor(target, (text) => /^status=\d+/m.test(text));
  expect(shown).toContain('status=0');
  return { notes: await readFile(join(dir, 'notes.txt'), 'utf8'), pane: shown };
}

describe.skipIf(tmuxMissing !== undefined)(
  `the end-of-session question at a terminal (tmux)${tmuxMissing ? ` [skipped: ${tmuxMissing}]` : ''}`,
  { timeout: 180_000 },
  () => {
    test('y applies the diff to the host', async () => {
      const { notes, pane: shown } = await session(['y', 'Enter']);
      expect(shown).toContain('approved by tty');
      expect(shown).toMatch(/applied: Applied 1 change/);
      expect(notes).toBe('from the agent\n');
    });

    test('n leaves the host untouched', async () => {
      const { notes, pane: shown } = await session(['n', 'Enter']);
      expect(shown).toContain('declined by tty');
      expect(shown).toContain('not applied');
      expect(notes).toBe('from the host\n');
    });

    test('Enter alone is no: the host is untouched', async () => {
      const { notes, pane: shown } = await session(['Enter']);
      expect(shown).toContain('declined by tty');
      expect(notes).toBe('from the host\n');
    });
  },
);
