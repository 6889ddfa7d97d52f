// `ironclaw sandbox create --workspace`, `ironclaw diff` and `ironclaw apply` through the daemon,
// as a user runs them: no terminal means no yes (unless --yes), and a declined apply writes
// nothing. The y/N prompt itself is answered on a real terminal (tmux).
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, freshStateDir, runCli } from './helpers/cli.js';
import { makeTree, snapshotTree } from './support/host-tree.js';

let stateDir: string;
let env: NodeJS.ProcessEnv;
let root: string;

beforeAll(async () => {
  stateDir = await freshStateDir();
  env = { IRONCLAW_STATE_DIR: stateDir, IRONCLAW_POOL_SIZE: '0' };
  root = await mkdtemp(join(tmpdir(), 'ironclaw-cli-ws-'));
});

afterAll(async () => {
  await runCli(['daemon', '--stop'], { env });
  await rm(root, { recursive: true, force: true });
  await rm(stateDir, { recursive: true, force: true });
});

async function project(name: string): Promise<string> {
  const dir = join(root, name);
  await makeTree(dir, {
    'notes.txt': 'one\ntwo\nthree\n',
    'old.txt': 'to be deleted\n',
    '.env': 'TOKEN=host\n',
  });
  return dir;
}

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

describe('ironclaw diff and apply', () => {
  test('diff shows the changes; apply without a terminal needs --yes; --yes applies them', async () => {
    const dir = await project('p1');
    const created = await runCli(['sandbox', 'create', '--id', 'ws-one', '--workspace', dir], {
      env,
    });
    expect(created).toMatchObject({ code: 0, stdout: 'ws-one\n' });
    const edit = await runCli(
      [
        'sandbox',
        'exec',
        'ws-one',
        '--',
        'sh',
        '-c',
        'cd /workspace && echo TWO > notes.txt && rm old.txt && echo new > new.txt && echo BOX > .env',
      ],
      { env },
    );
    expect(edit.code).toBe(0);

    const diff = await runCli(['diff', 'ws-one'], { env });
    expect(diff.code).toBe(0);
    expect(diff.stdout).toContain('1 added, 1 modified, 1 deleted');
    expect(diff.stdout).toContain('A  new.txt (text, +1 -0)');
    expect(diff.stdout).toContain('D  old.txt');
    expect(diff.stdout).toContain(
      '--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1 @@\n-one\n-two\n-three\n+TWO\n',
    );
    expect(diff.stdout).toContain('.env (ignored: excluded by .env; never applied)');
    const json = JSON.parse((await runCli(['diff', 'ws-one', '--json'], { env })).stdout) as {
      digest: string;
      changes: unknown[];
    };
    expect(json.changes).toHaveLength(3);
    expect(json.digest).toMatch(/^[0-9a-f]{64}$/);

    const before = await snapshotTree(dir);
    const refused = await runCli(['apply', 'ws-one'], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('NOT_CONFIRMED');
    expect(refused.stderr).toContain('--yes');
    expect(await snapshotTree(dir)).toEqual(before);

    const applied = await runCli(['apply', 'ws-one', '--yes'], { env });
    expect(applied.stderr).toContain(`applied 3 change(s) to ${dir}`);
    expect(applied.code).toBe(0);
    expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('TWO\n');
    expect(await readFile(join(dir, 'new.txt'), 'utf8')).toBe('new\n');
    expect(await readFile(join(dir, '.env'), 'utf8')).toBe('TOKEN=host\n');
    const again = await runCli(['apply', 'ws-one', '--yes'], { env });
    expect(again.stderr).toContain('nothing to apply');
    await runCli(['sandbox', 'rm', 'ws-one'], { env });
  });

  test('a host change is refused with a report naming the file; the host is unchanged', async () => {
    const dir = await project('p2');
    await runCli(['sandbox', 'create', '--id', 'ws-two', '--workspace', dir], { env });
    await runCli(
      ['sandbox', 'exec', 'ws-two', '--', 'sh', '-c', 'echo box > /workspace/notes.txt'],
      { env },
    );
    await writeFile(join(dir, 'notes.txt'), 'edited on the host\n');
    const before = await snapshotTree(dir);
    const result = await runCli(['apply', 'ws-two', '--yes'], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('WORKSPACE_CONFLICT');
    expect(result.stderr).toContain('notes.txt: was modified on the host since copy-in');
    expect(await snapshotTree(dir)).toEqual(before);
    await runCli(['sandbox', 'rm', 'ws-two'], { env });
  });

  test('the size cap: a clear error, and no sandbox is left behind', async () => {
    const dir = await project('p3');
    await writeFile(join(dir, 'big.bin'), Buffer.alloc(64 * 1024));
    const result = await runCli(
      ['sandbox', 'create', '--id', 'ws-big', '--workspace', dir, '--workspace-max', '16k'],
      { env },
    );
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('WORKSPACE_TOO_LARGE');
    expect(result.stderr).toContain('big.bin (64 KiB)');
    const list = await runCli(['sandbox', 'list'], { env });
    expect(list.stdout).not.toContain('ws-big');
  });

  test.skipIf(!hasTmux)(
    `on a terminal apply asks y/N: "n" writes nothing, "y" applies (tmux)${hasTmux ? '' : ' — skipped: tmux is not installed'}`,
    async () => {
      const dir = await project('p4');
      await runCli(['sandbox', 'create', '--id', 'ws-tty', '--workspace', dir], { env });
      await runCli(
        ['sandbox', 'exec', 'ws-tty', '--', 'sh', '-c', 'echo box > /workspace/notes.txt'],
        { env },
      );
      const before = await snapshotTree(dir);
      const answer = async (key: string): Promise<string> => {
        const session = `ironclaw-apply-${process.pid}-${key}`;
        // The pane is the terminal: apply's question and its words are read off the screen.
        const command = `IRONCLAW_STATE_DIR=${stateDir} ${process.execPath} ${BIN} apply ws-tty; echo "exit=$?"; sleep 30`;
        spawnSync('tmux', ['new-session', '-d', '-s', session, '-x', '200', '-y', '50', command]);
        const screen = (): string =>
          spawnSync('tmux', ['capture-pane', '-p', '-t', session]).stdout.toString();
        const waitFor = async (words: string): Promise<string> => {
          const deadline = Date.now() + 20_000;
          let text = screen();
          while (Date.now() < deadline && !text.includes(words)) {
            await new Promise((r) => setTimeout(r, 100));
            text = screen();
          }
          return text;
        };
        try {
          expect(await waitFor('[y/N]')).toContain('M  notes.txt (text, +1 -3)');
          spawnSync('tmux', ['send-keys', '-t', session, key, 'Enter']);
          return await waitFor('exit=');
        } finally {
          spawnSync('tmux', ['kill-session', '-t', session]);
        }
      };
      const declined = await answer('n');
      expect(declined).toContain('not applied; nothing was written');
      expect(declined).toContain('exit=1');
      expect(await snapshotTree(dir)).toEqual(before);
      const accepted = await answer('y');
      expect(accepted).toContain('applied 1 change(s)');
      expect(accepted).toContain('exit=0');
      expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('box\n');
      await runCli(['sandbox', 'rm', 'ws-tty'], { env });
    },
  );
});
