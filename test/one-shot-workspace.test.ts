import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { closeInheritedFds, createSandbox } from '../src/index.js';
import { runscBinary } from '../src/drivers/gvisor/platform.js';
import { runCli } from './helpers/cli.js';

/**
 * A one-shot `exec --workspace DIR` copies in the same files as a long-lived sandbox's
 * `--workspace DIR`: the workspace rules (.git, .env, .env.*, DIR/.ironclawignore) leave the
 * same paths out, and a symlink goes in as a symlink, never followed to what it names on the
 * host. Before, the one-shot path ran the host's tar over DIR, which copied every path in.
 */
const runsc = await runscBinary().then(
  () => undefined,
  (error: Error) => error.message,
);
/** Every path under /workspace with its type and link target, one a line, sorted. */
const LIST = ['sh', '-c', "cd /workspace && find . -printf '%y %p %l\\n' | sort"];

let dir: string;
let secret: string;

beforeAll(async () => {
  closeInheritedFds();
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-ws-once-'));
  secret = join(await mkdtemp(join(tmpdir(), 'ironclaw-ws-secret-')), 'secret.txt');
  await writeFile(secret, 'host secret\n');
  await mkdir(join(dir, 'src'));
  await mkdir(join(dir, '.git'));
  await mkdir(join(dir, 'build'));
  await writeFile(join(dir, 'src', 'main.py'), 'print(1)\n');
  await writeFile(join(dir, 'src', 'debug.log'), 'log\n');
  await writeFile(join(dir, '.git', 'config'), '[core]\n');
  await writeFile(join(dir, '.env'), 'TOKEN=1\n');
  await writeFile(join(dir, '.env.local'), 'TOKEN=2\n');
  await writeFile(join(dir, 'build', 'out.o'), 'obj\n');
  await writeFile(join(dir, '.ironclawignore'), '*.log\nbuild/\n');
  await symlink(secret, join(dir, 'leak'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(join(secret, '..'), { recursive: true, force: true });
});

describe.each([
  { driver: 'bwrap', missing: undefined },
  { driver: 'gvisor', missing: runsc },
] as const)('one-shot exec --workspace on $driver', ({ driver, missing }) => {
  test.skipIf(missing !== undefined)(
    `copies the same tree as a long-lived sandbox: exclusions hold, symlinks are not followed${missing ? ` [skipped: ${missing}]` : ''}`,
    async () => {
      const once = await runCli(['exec', '--driver', driver, '--workspace', dir, '--', ...LIST]);
      expect(once.code, once.stderr).toBe(0);
      const tree = once.stdout.split('\n').filter(Boolean);
      expect(tree).toContain('f ./src/main.py ');
      expect(tree).toContain(`l ./leak ${secret}`);
      for (const excluded of ['.git', '.env', '.env.local', 'src/debug.log', 'build'])
        expect(tree.some((line) => line.split(' ')[1] === `./${excluded}`)).toBe(false);
      // The link is a link in the box: the host file it names is not there to read.
      const leak = await runCli([
        'exec',
        '--driver',
        driver,
        '--workspace',
        dir,
        '--',
        'cat',
        'leak',
      ]);
      expect(leak.code).not.toBe(0);
      expect(leak.stdout).not.toContain('host secret');

      await using box = await createSandbox({ driver, workspace: dir });
      const held = await box.exec(LIST);
      expect(held.stdout.toString()).toBe(once.stdout);
    },
    60_000,
  );
});
