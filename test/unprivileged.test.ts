import { spawn } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { ensureImage } from '../src/image/build.js';
import { imageCacheDir } from '../src/image/cache.js';

/**
 * IronClaw users run it as an ordinary user. As root, this file reruns the bwrap suite as a
 * system user, so what holds for root is shown to hold (or to be reported as off) without it.
 */
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const USER = 'ironclaw-test';
const isRoot = process.getuid?.() === 0;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs argv to completion, stdout and stderr interleaved; no shell. */
function run(
  argv: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    const child = spawn(file ?? '', args, {
      cwd: options.cwd ?? REPO_ROOT,
      env: options.env ?? { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, options.timeoutMs ?? 30_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output: Buffer.concat(chunks).toString() });
    });
  });
}

async function ensureUser(): Promise<{ uid: number; gid: number }> {
  if ((await run(['id', '-u', USER])).code !== 0) {
    const added = await run([
      'useradd',
      '--system',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      USER,
    ]);
    expect(added.code, added.output).toBe(0);
  }
  const [uid, gid] = await Promise.all([run(['id', '-u', USER]), run(['id', '-g', USER])]);
  return { uid: Number(uid.output.trim()), gid: Number(gid.output.trim()) };
}

test.skipIf(!isRoot)(
  `the bwrap and gvisor suites, the DNS stub, the seccomp kernel, audit, doctor --network and QEMU template tests pass as an unprivileged user (${USER})${isRoot ? '' : ' [skipped: needs root to create and switch to that user]'}`,
  async () => {
    const { uid, gid } = await ensureUser();
    const home = await mkdtemp(join(tmpdir(), 'ironclaw-unprivileged-'));
    try {
      await chown(home, uid, gid);
      const cache = join(home, 'vitest-cache');
      await mkdir(cache);
      await chown(cache, uid, gid);
      const asUser = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--'];
      // The QEMU guest image is built (or found) by root and read from root's cache, as a user
      // would read one an administrator built: building it again as the user takes minutes.
      const image = await ensureImage().then(
        () => imageCacheDir(),
        () => undefined,
      );
      const env = {
        HOME: home,
        PATH: '/usr/local/bin:/usr/bin:/bin',
        LANG: 'C.UTF-8',
        NO_COLOR: '1',
        CI: '1',
        IRONCLAW_TEST_UNPRIVILEGED_RUN: '1',
        ...(image === undefined ? {} : { IRONCLAW_CACHE_DIR: image }),
      };

      // The user must be able to read what the run needs; say which path is not readable.
      const vitest = join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs');
      const needed = [
        REPO_ROOT,
        join(REPO_ROOT, 'package.json'),
        vitest,
        join(REPO_ROOT, 'dist', 'guest.mjs'),
        join(REPO_ROOT, 'box', 'etc', 'passwd'),
        process.execPath,
      ];
      const unreadable = [];
      for (const path of needed) {
        if ((await run([...asUser, 'test', '-r', path], { env })).code !== 0) unreadable.push(path);
      }
      expect(unreadable, `not readable by ${USER}`).toEqual([]);

      // The repo is not writable by this user: vite's default config loader writes a bundled
      // config under node_modules/.vite-temp, and vitest caches under node_modules. `runner`
      // loads the config in memory and the module cache goes to the user's temporary home.
      const result = await run(
        [
          ...asUser,
          process.execPath,
          vitest,
          'run',
          '--reporter=verbose',
          '--configLoader',
          'runner',
          '--no-cache',
          '--fsModuleCachePath',
          cache,
          // One file at a time: RLIMIT_NPROC counts every task of the user's uid, so a gVisor
          // sentry's threads in a parallel file would eat the bwrap fork-bomb test's allowance.
          '--no-file-parallelism',
          'test/sandbox-bwrap.test.ts',
          'test/egress-dns.test.ts',
          'test/sandbox-gvisor.test.ts',
          'test/seccomp-kernel.test.ts',
          'test/seccomp-audit.test.ts',
          'test/doctor-network.test.ts',
          'test/qemu-template.test.ts',
        ],
        { env, timeoutMs: 420_000 },
      );
      expect(
        result.code,
        `vitest as ${USER} (uid ${uid}) exited ${result.code ?? result.signal}:\n${result.output}`,
      ).toBe(0);
      expect(result.output).toMatch(/Tests\s+\d+ passed/);
      expect(result.output).toContain(`uid ${uid}, cgroups off`);
      // QEMU templates ran as the user (not skipped) when root could build the image.
      if (image !== undefined)
        expect(result.output).toMatch(/✓ .*clones of one template draw different random numbers/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  },
  600_000,
);
