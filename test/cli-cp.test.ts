import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, freshStateDir, runCli } from './helpers/cli.js';

// `ironclaw sandbox cp` with a real bwrap box through the daemon.

const run = promisify(execFile);
let env: NodeJS.ProcessEnv;
let root: string;

beforeAll(async () => {
  env = { IRONCLAW_STATE_DIR: await freshStateDir(), IRONCLAW_POOL_SIZE: '0' };
  root = await mkdtemp(join(tmpdir(), 'ironclaw-cp-'));
  expect((await runCli(['sandbox', 'create', '--id', 'cp-box'], { env })).code).toBe(0);
});

afterAll(async () => {
  await runCli(['daemon', '--stop'], { env });
});

/** Every entry of a tree: type, permission bits, and a file's hash or a link's target. */
async function describeTree(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const info = await lstat(path);
    const key = `${prefix}${name}`;
    const mode = (info.mode & 0o777).toString(8);
    if (info.isSymbolicLink()) out[key] = `link ${await readlink(path)}`;
    else if (info.isDirectory()) {
      out[key] = `dir ${mode}`;
      Object.assign(out, await describeTree(path, `${key}/`));
    } else
      out[key] = `file ${mode} ${createHash('sha256')
        .update(await readFile(path))
        .digest('hex')}`;
  }
  return out;
}

async function writeRandom(path: string, bytes: number): Promise<void> {
  const chunks: Buffer[] = [];
  for (let left = bytes; left > 0; left -= 1024 * 1024)
    chunks.push(randomBytes(Math.min(left, 1024 * 1024)));
  await writeFile(path, Buffer.concat(chunks));
}

describe('ironclaw sandbox cp', () => {
  test(
    'round-trips a 100 MiB tree, modes and symlinks kept, checked by hash',
    { timeout: 600_000 },
    async () => {
      const tree = join(root, 'tree');
      await mkdir(join(tree, 'deep', 'er'), { recursive: true });
      await mkdir(join(tree, 'empty'));
      await writeRandom(join(tree, 'big.bin'), 64 * 1024 * 1024);
      await writeRandom(join(tree, 'deep', 'middle.bin'), 35 * 1024 * 1024);
      for (let index = 0; index < 100; index++)
        await writeRandom(join(tree, 'deep', 'er', `small-${index}`), 1000 + index * 97);
      await writeFile(join(tree, 'run.sh'), '#!/bin/sh\necho ran\n');
      await chmod(join(tree, 'run.sh'), 0o755);
      await writeFile(join(tree, 'secret'), 'only mine\n');
      await chmod(join(tree, 'secret'), 0o600);
      await chmod(join(tree, 'deep', 'er'), 0o750);
      await symlink('run.sh', join(tree, 'link'));
      await symlink('/etc/passwd', join(tree, 'deep', 'outward'));

      const into = await runCli(['sandbox', 'cp', tree, 'cp-box:/workspace/copied'], { env });
      expect(into.code, into.stderr).toBe(0);
      // stderr is not a terminal here: progress comes as plain lines, no bar, no escapes.
      expect(into.stderr).toMatch(/^copying .*tree: 99\.\d MiB$/m);
      expect(into.stderr).toMatch(/^copying .*tree: [\d.]+ MiB of 99\.\d MiB \(50%\)$/m);
      expect(into.stderr).toMatch(
        /^copied .*tree to cp-box:\/workspace\/copied \([\d.]+ MiB in [\d.]+ s\)$/m,
      );
      expect(into.stderr).not.toContain('\r');
      expect(into.stderr).not.toContain('\x1b');
      const ran = await runCli(['sandbox', 'exec', 'cp-box', '--', '/workspace/copied/run.sh'], {
        env,
      });
      expect(ran.stdout).toBe('ran\n');

      const back = join(root, 'back');
      const out = await runCli(['sandbox', 'cp', 'cp-box:copied', back], { env });
      expect(out.code, out.stderr).toBe(0);
      expect(out.stderr).toMatch(/^copying cp-box:\/workspace\/copied: 99\.\d MiB$/m);
      expect(out.stderr).toMatch(
        /^copied cp-box:\/workspace\/copied to .*back \([\d.]+ MiB in [\d.]+ s\)$/m,
      );
      expect(out.stderr).not.toContain('\r');
      expect(out.stderr).not.toContain('\x1b');
      expect(await describeTree(back)).toEqual(await describeTree(tree));
      // Into an existing directory, the copy keeps its name.
      const parent = join(root, 'parent');
      await mkdir(parent);
      await runCli(['sandbox', 'cp', 'cp-box:/workspace/copied/deep', parent], { env });
      expect(await describeTree(join(parent, 'deep'))).toEqual(
        await describeTree(join(tree, 'deep')),
      );
    },
  );

  test('- is a tar stream on stdout, and from stdin', { timeout: 120_000 }, async () => {
    await runCli(['sandbox', 'exec', 'cp-box', '--', 'sh', '-c', 'mkdir -p s && echo x > s/f'], {
      env,
    });
    const listed = await run(
      'sh',
      ['-c', `"${process.execPath}" "${BIN}" sandbox cp cp-box:/workspace/s - | tar -tf -`],
      { env: { ...process.env, ...env } },
    );
    expect(listed.stdout.split('\n').sort()).toEqual(['', 's/', 's/f']);
    const src = join(root, 'stdin-src');
    await mkdir(src);
    await writeFile(join(src, 'in.txt'), 'from stdin\n');
    await run(
      'sh',
      [
        '-c',
        `tar -C "${src}" -cf - in.txt | "${process.execPath}" "${BIN}" sandbox cp - cp-box:/tmp`,
      ],
      { env: { ...process.env, ...env } },
    );
    const read = await runCli(['sandbox', 'exec', 'cp-box', '--', 'cat', '/tmp/in.txt'], { env });
    expect(read.stdout).toBe('from stdin\n');
  });

  test('attack: a box symlink pointing out is copied as a link, and a host symlink in the way is never followed', async () => {
    const victim = join(root, 'victim');
    await mkdir(victim);
    await runCli(
      [
        'sandbox',
        'exec',
        'cp-box',
        '--',
        'sh',
        '-c',
        `mkdir -p esc && ln -sfn ${victim} esc/out && echo owned > esc/planted`,
      ],
      { env },
    );
    const dest = join(root, 'dest');
    await mkdir(dest);
    expect((await runCli(['sandbox', 'cp', 'cp-box:esc', dest], { env })).code).toBe(0);
    expect(await readlink(join(dest, 'esc', 'out'))).toBe(victim);
    // Copied again over the first copy: esc/out is now a host symlink to victim; the box's
    // "out" is still a link, replaced, never written through.
    expect((await runCli(['sandbox', 'cp', 'cp-box:esc', dest], { env })).code).toBe(0);
    // A host symlink where a box directory goes is refused, not followed.
    const trap = join(root, 'trap');
    await mkdir(trap);
    await symlink(victim, join(trap, 'esc'));
    const refused = await runCli(['sandbox', 'cp', 'cp-box:esc', trap], { env });
    expect(refused.code).toBe(125);
    expect(refused.stderr).toContain('ARCHIVE_UNSAFE');
    expect(await readdir(victim)).toEqual([]);
  });

  test('usage errors say what to write', async () => {
    const both = await runCli(['sandbox', 'cp', 'a', 'b'], { env });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('SANDBOX:PATH');
    const missing = await runCli(['sandbox', 'cp', 'cp-box:/no/such', join(root, 'x')], { env });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('/no/such');
  });
});
