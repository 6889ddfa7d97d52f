// The workspace round trip with real bwrap boxes and real files: copy-in with exclusions and a
// size cap, the diff read out of the box (its tar, parsed by IronClaw's reader), and apply:
// refused unless confirmed, refused on a host change or a symlink out, exact when approved.
import { mkdtemp, readFile, rm, writeFile, chmod, symlink, rename, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createSandbox, type Sandbox } from '../src/index.js';
import { runscBinary } from '../src/drivers/gvisor/platform.js';
import { expectCode } from './support/expect-code.js';
import { makeTree, snapshotTree } from './support/host-tree.js';

let root: string;
let dir: string;
let outside: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ironclaw-ws-'));
  dir = join(root, 'project');
  outside = join(root, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'keep.txt'), 'outside\n');
  await makeTree(dir, {
    'README.md': '# project\nline two\nline three\n',
    'src/main.py': 'print("hello")\n',
    'src/util.py': 'def f():\n    return 1\n',
    'bin/run.sh': { data: '#!/bin/sh\necho run\n', mode: 0o755 },
    'data/blob.bin': Buffer.from([0, 1, 2, 3, 255]),
    'docs/link-to-readme': { link: '../README.md' },
    '.env': 'SECRET=host\n',
    '.env.local': 'SECRET=local\n',
    '.git/config': '[core]\n',
    'node_modules/dep/index.js': 'module.exports = 1;\n',
    'build/out.o': 'obj',
    'src/build/keep.txt': 'not anchored away\n',
    'logs/a.log': 'log\n',
    '.ironclawignore': '# local rules\nnode_modules/\n/build\n*.log\n',
  });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The box's /workspace the way snapshotTree shows a host directory (find, not stat: gVisor). */
async function boxSnapshot(box: Sandbox): Promise<string[]> {
  const listing = await box.exec([
    'find',
    '/workspace',
    '-mindepth',
    '1',
    '-printf',
    '%P\\t%y\\t%m\\t%l\\n',
  ]);
  const sums = await box.exec([
    'sh',
    '-c',
    'cd /workspace && find . -type f -print0 | xargs -0 -r sha256sum',
  ]);
  expect(listing.stderr.toString() + sums.stderr.toString()).toBe('');
  const sha = new Map(
    sums.stdout
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(66).replace(/^\.\//, ''), line.slice(0, 64)]),
  );
  return listing.stdout
    .toString()
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [path = '', type, mode, target] = line.split('\t');
      if (type === 'l') return `${path} l ${target ?? ''}`;
      if (type === 'd') return `${path} d ${mode ?? ''}`;
      return `${path} f ${mode ?? ''} ${sha.get(path) ?? '?'}`;
    })
    .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}

/** A tree listing without the excluded paths, in one order for host and box alike. */
const excluded = (lines: string[]) =>
  lines
    .filter((line) => !/^(\.git|\.env(\.[^ /]+)?|node_modules|build|logs\/a\.log)[ /]/.test(line))
    .sort();

describe('workspace round trip (bwrap)', () => {
  test('copy-in leaves out .git, .env, .env.* and .ironclawignore patterns, and records a manifest', async () => {
    await using box = await createSandbox({ workspace: dir });
    const inBox = await boxSnapshot(box);
    expect(excluded(inBox)).toEqual(excluded(await snapshotTree(dir)));
    expect(inBox.join('\n')).not.toMatch(/\.git|\.env|node_modules|out\.o|a\.log/);
    expect(inBox).toContain(
      'src/build/keep.txt f 644 ' +
        inBox.find((l) => l.startsWith('src/build/keep.txt'))?.split(' ')[3],
    );
    expect(inBox).toContain(
      'bin/run.sh f 755 ' + inBox.find((l) => l.startsWith('bin/run.sh'))?.split(' ')[3],
    );
    const diff = await box.workspaceDiff();
    expect(diff.changes).toEqual([]);
    expect(box.workspaceDir).toBe(dir);
  });

  test('the size cap stops a workspace before a box starts, naming the largest parts', async () => {
    await writeFile(join(dir, 'data/big.bin'), Buffer.alloc(2 * 1024 * 1024));
    const error = await expectCode(
      () => createSandbox({ workspace: { dir, maxBytes: 1024 * 1024 } }),
      'WORKSPACE_TOO_LARGE',
    );
    expect(error.message).toContain('over the cap of 1 MiB');
    expect(error.message).toContain('data (2 MiB)');
    expect(error.message).toContain('.ironclawignore');
  });

  test('the cap holds on the way out too: a box that grew past it gets a clear error, and still works', async () => {
    await using box = await createSandbox({ workspace: { dir, maxBytes: 1024 * 1024 } });
    await box.exec(['sh', '-c', 'head -c 3000000 /dev/zero > /workspace/grown.bin']);
    const error = await expectCode(() => box.workspaceDiff(), 'WORKSPACE_TOO_LARGE');
    expect(error.message).toContain('more than the cap of 1 MiB');
    await box.exec(['rm', '/workspace/grown.bin']);
    expect((await box.workspaceDiff()).changes).toEqual([]);
  });

  test('diff: added, modified, deleted, mode and type changes, text diffs and binary summaries', async () => {
    await using box = await createSandbox({ workspace: dir });
    await box.exec([
      'sh',
      '-c',
      [
        'cd /workspace',
        "printf '# project\\nline 2\\nline three\\nmore\\n' > README.md",
        'rm src/util.py',
        "printf 'new file\\n' > src/new.py",
        'chmod 700 bin/run.sh',
        "printf '\\000\\001' > data/blob.bin",
        'rm docs/link-to-readme && mkdir docs/link-to-readme',
        'ln -s ../src/main.py docs/main-link',
        'echo BOX=1 > .env && mkdir -p .git/hooks && echo evil > .git/hooks/post-checkout',
      ].join(' && '),
    ]);
    const diff = await box.workspaceDiff();
    const kinds = Object.fromEntries(diff.changes.map((c) => [c.path, c.kind]));
    expect(kinds).toEqual({
      'README.md': 'modified',
      'bin/run.sh': 'mode',
      'data/blob.bin': 'modified',
      'docs/link-to-readme': 'type',
      'docs/main-link': 'added',
      'src/new.py': 'added',
      'src/util.py': 'deleted',
    });
    const readme = diff.changes.find((c) => c.path === 'README.md');
    expect(readme?.patch).toBe(
      '--- a/README.md\n+++ b/README.md\n@@ -1,3 +1,4 @@\n # project\n-line two\n+line 2\n line three\n+more\n',
    );
    expect(diff.changes.find((c) => c.path === 'src/util.py')?.patch).toContain(
      '--- a/src/util.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-def f():',
    );
    const blob = diff.changes.find((c) => c.path === 'data/blob.bin');
    expect(blob).toMatchObject({ binary: true, after: { size: 2 }, before: { size: 5 } });
    expect(blob?.after?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(diff.summary).toEqual({ added: 2, modified: 2, deleted: 1, mode: 1, type: 1 });
    expect(diff.ignored.map((i) => i.path).sort()).toEqual(['.env', '.git']);
  });

  test('not confirmed: the host is byte-for-byte unchanged', async () => {
    const before = await snapshotTree(dir);
    await using box = await createSandbox({ workspace: dir });
    await box.exec([
      'sh',
      '-c',
      'cd /workspace && echo changed > README.md && rm -r src && touch new',
    ]);
    const diff = await box.workspaceDiff();
    expect(diff.changes.length).toBeGreaterThan(0);
    await expectCode(() => box.workspaceApply(diff, { confirmed: false }), 'NOT_CONFIRMED');
    expect(await snapshotTree(dir)).toEqual(before);
  });

  test('approved: exactly the diff is applied, and the host tree equals the box tree', async () => {
    const before = await snapshotTree(dir);
    await using box = await createSandbox({ workspace: dir });
    await box.exec([
      'sh',
      '-c',
      [
        'cd /workspace',
        'echo changed > README.md',
        'rm -r src',
        'mkdir -p deep/er && printf "x" > deep/er/f.txt && chmod 640 deep/er/f.txt && chmod 750 deep',
        'chmod 600 bin/run.sh',
        'ln -s ../README.md deep/readme',
        'rm docs/link-to-readme && echo file > docs/link-to-readme',
        'echo BOX=1 > .env.production',
      ].join(' && '),
    ]);
    const diff = await box.workspaceDiff();
    const report = await box.workspaceApply(diff, { confirmed: true });
    expect(report.kept).toEqual([]);
    const after = await snapshotTree(dir);
    expect(excluded(after)).toEqual(excluded(await boxSnapshot(box)));
    // Exactly the diff: every line that differs from before is a path of the diff.
    const changedPaths = new Set(diff.changes.map((c) => c.path));
    const touched = [
      ...new Set(
        [...before, ...after]
          .filter((l) => !before.includes(l) || !after.includes(l))
          .map((l) => l.split(' ')[0]),
      ),
    ];
    expect(touched.every((path) => changedPaths.has(path as string))).toBe(true);
    // Excluded paths on the host are untouched, and what the box made under them is not applied.
    expect(await readFile(join(dir, '.env'), 'utf8')).toBe('SECRET=host\n');
    expect(after.some((l) => l.startsWith('.env.production'))).toBe(false);
    expect((await box.workspaceDiff()).changes).toEqual([]);
  });

  test('a file changed on the host meanwhile is refused, named, and nothing is written', async () => {
    await using box = await createSandbox({ workspace: dir });
    await box.exec([
      'sh',
      '-c',
      'cd /workspace && echo box > README.md && echo box > src/main.py && echo new > added.txt && rm src/util.py',
    ]);
    await writeFile(join(dir, 'src/main.py'), 'print("edited on the host")\n');
    await chmod(join(dir, 'src/util.py'), 0o600);
    await writeFile(join(dir, 'added.txt'), 'host made it too\n');
    const before = await snapshotTree(dir);
    const diff = await box.workspaceDiff();
    const error = await expectCode(
      () => box.workspaceApply(diff, { confirmed: true }),
      'WORKSPACE_CONFLICT',
    );
    expect(error.message).toContain('src/main.py: was modified on the host');
    expect(error.message).toContain('src/util.py: its mode changed on the host');
    expect(error.message).toContain('added.txt: was created on the host');
    expect(error.message).not.toContain('README.md');
    expect(await snapshotTree(dir)).toEqual(before);
  });

  test('a symlink planted in the box pointing outside never makes apply write outside', async () => {
    const outsideBefore = await snapshotTree(outside);
    const hostBefore = await snapshotTree(dir);
    await using box = await createSandbox({ workspace: dir });
    // /workspace/link -> /etc, then link/x: the box's own tar stores the link, not link/x.
    await box.exec([
      'sh',
      '-c',
      'cd /workspace && ln -s /etc link && (echo x > link/x || true) && ln -s ../../outside up && echo edit > README.md',
    ]);
    const diff = await box.workspaceDiff();
    expect(diff.changes.find((c) => c.path === 'link')?.refused).toContain('absolute');
    expect(diff.changes.find((c) => c.path === 'up')?.refused).toContain('out of the workspace');
    const error = await expectCode(
      () => box.workspaceApply(diff, { confirmed: true }),
      'WORKSPACE_UNSAFE',
    );
    expect(error.message).toContain('link:');
    expect(await snapshotTree(outside)).toEqual(outsideBefore);
    expect(await snapshotTree(dir)).toEqual(hostBefore);
  });

  test('a directory swapped for a symlink on the host is refused: apply never writes through it', async () => {
    await using box = await createSandbox({ workspace: dir });
    await box.exec([
      'sh',
      '-c',
      'cd /workspace && echo box > src/main.py && echo new > src/fresh.py',
    ]);
    const diff = await box.workspaceDiff();
    await rename(join(dir, 'src'), join(root, 'src-moved'));
    await symlink(outside, join(dir, 'src'));
    const outsideBefore = await snapshotTree(outside);
    const error = await expectCode(
      () => box.workspaceApply(diff, { confirmed: true }),
      'WORKSPACE_CONFLICT',
    );
    expect(error.message).toContain('src/fresh.py: its directory src is a symlink on the host');
    expect(await snapshotTree(outside)).toEqual(outsideBefore);
  });

  test('a deleted directory holding excluded host files is kept, and those files with it', async () => {
    await makeTree(dir, { 'config/app.txt': 'app\n', 'config/.env': 'DB=secret\n' });
    await using box = await createSandbox({ workspace: dir });
    await box.exec(['sh', '-c', 'rm -r /workspace/config']);
    const diff = await box.workspaceDiff();
    expect(diff.changes.map((c) => `${c.kind} ${c.path}`)).toEqual([
      'deleted config',
      'deleted config/app.txt',
    ]);
    const report = await box.workspaceApply(diff, { confirmed: true });
    expect(report.kept.map((k) => k.path)).toEqual(['config']);
    expect(await readFile(join(dir, 'config/.env'), 'utf8')).toBe('DB=secret\n');
    await expect(readFile(join(dir, 'config/app.txt'))).rejects.toThrow(/ENOENT/);
  });

  test('hard links made in the box come out as files; fifos are skipped and reported', async () => {
    await using box = await createSandbox({ workspace: dir });
    await box.exec(['sh', '-c', 'cd /workspace && ln src/main.py hard.py && mkfifo pipe']);
    const diff = await box.workspaceDiff();
    expect(diff.changes.map((c) => `${c.kind} ${c.path}`)).toEqual(['added hard.py']);
    expect(diff.changes[0]?.patch).toContain('+print("hello")');
    expect(diff.skipped).toEqual([{ path: 'pipe', reason: 'a special file (tar type 6)' }]);
    await box.workspaceApply(diff, { confirmed: true });
    expect(await readFile(join(dir, 'hard.py'), 'utf8')).toBe('print("hello")\n');
  });

  test("long and non-ASCII names from the box's GNU tar (its L records) come back whole", async () => {
    const deep = `${'d'.repeat(120)}/${'ü'.repeat(80)}.txt`;
    await using box = await createSandbox({ workspace: dir });
    await box.exec([
      'sh',
      '-c',
      `cd /workspace && mkdir ${'d'.repeat(120)} && echo long > ${deep}`,
    ]);
    const diff = await box.workspaceDiff();
    expect(diff.changes.map((c) => c.path)).toEqual(['d'.repeat(120), deep]);
    await box.workspaceApply(diff, { confirmed: true });
    expect(await readFile(join(dir, deep), 'utf8')).toBe('long\n');
  });

  test('a box that changed after the diff was shown is refused', async () => {
    await using box = await createSandbox({ workspace: dir });
    await box.exec(['sh', '-c', 'echo one > /workspace/README.md']);
    const shown = await box.workspaceDiff();
    await box.exec(['sh', '-c', 'echo two > /workspace/README.md']);
    const before = await snapshotTree(dir);
    await expectCode(() => box.workspaceApply(shown, { confirmed: true }), 'WORKSPACE_CHANGED');
    expect(await snapshotTree(dir)).toEqual(before);
  });
});

// The round trip asks nothing of a driver but exec with streamed stdin and stdout: the same under
// gVisor's user-space kernel.
const noRunsc = await runscBinary().then(
  () => undefined,
  (error: Error) => error.message,
);

describe('workspace round trip (gvisor)', () => {
  test.skipIf(noRunsc !== undefined)(
    `copy-in, diff and an approved apply${noRunsc === undefined ? '' : ` [skipped: ${noRunsc}]`}`,
    async () => {
      await using box = await createSandbox({ driver: 'gvisor', workspace: dir });
      expect(excluded(await boxSnapshot(box))).toEqual(excluded(await snapshotTree(dir)));
      await box.exec([
        'sh',
        '-c',
        'cd /workspace && echo more >> README.md && mkdir n && echo x > n/y && rm src/util.py',
      ]);
      const diff = await box.workspaceDiff();
      expect(diff.changes.map((c) => `${c.kind} ${c.path}`)).toEqual([
        'modified README.md',
        'added n',
        'added n/y',
        'deleted src/util.py',
      ]);
      await box.workspaceApply(diff, { confirmed: true });
      expect(excluded(await snapshotTree(dir))).toEqual(excluded(await boxSnapshot(box)));
    },
    60_000,
  );
});
