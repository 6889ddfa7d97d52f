// The VM guest's seccomp loaders, run here on the host's kernel: the python3 one
// (src/protocol/guest-seccomp.ts) with the host's python3, and the native one
// (guest-seccomp-native.ts) compiled by the host's cc as the image build does, each the same
// program the image holds, pointed at a filter file of the test's own. Inside a guest it is proven by the shared suite (test/suites/seccomp-tests.ts on
// QEMU); these are the failure paths a guest cannot be made to show (its filter is root's).
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sandboxSeccompFilter } from '../src/host/seccomp-filter.js';
import {
  GUEST_SECCOMP_FILTER,
  GUEST_SECCOMP_LOADER,
  GUEST_SECCOMP_LOADER_NATIVE,
  SECCOMP_LOADER,
  throughLoader,
} from '../src/protocol/guest-seccomp.js';
import { SECCOMP_LOADER_C } from '../src/protocol/guest-seccomp-native.js';

const compiler = await promisify(execFile)('cc', ['--version']).then(
  () => true,
  () => false,
);

let dir: string;
let filter: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-loader-'));
  filter = join(dir, 'seccomp.bpf');
  await writeFile(filter, await readFile((await sandboxSeccompFilter()).path));
  await writeFile(join(dir, 'loader.py'), SECCOMP_LOADER.replace(GUEST_SECCOMP_FILTER, filter));
  if (compiler) {
    await writeFile(join(dir, 'loader.c'), SECCOMP_LOADER_C.replace(GUEST_SECCOMP_FILTER, filter));
    await promisify(execFile)('cc', [
      '-static',
      '-O2',
      '-o',
      join(dir, 'loader'),
      join(dir, 'loader.c'),
    ]);
  }
});
afterAll(() => rm(dir, { recursive: true, force: true }));

let native = false;

/** Runs `argv` through the loader as the guest agent would, with `env`. */
function viaLoader(
  argv: [string, ...string[]],
  env: Record<string, string> = { PATH: '/usr/bin:/bin' },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = throughLoader(argv[0], argv.slice(1), env, { native });
  const args = run.args.map((arg) => (arg === GUEST_SECCOMP_LOADER ? join(dir, 'loader.py') : arg));
  const file = run.file === GUEST_SECCOMP_LOADER_NATIVE ? join(dir, 'loader') : run.file;
  const child = spawn(file, args, { env: run.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const UNSHARE_USERNS = 'unshare --user echo unshared';

describe.skipIf(process.arch !== 'x64').each([
  { kind: 'python3', skip: false },
  { kind: 'native [skipped without a C compiler (cc)]', skip: !compiler },
])('the guest seccomp loader, $kind [x86-64 only: the image is]', ({ kind, skip }) => {
  beforeAll(() => {
    native = kind !== 'python3';
  });

  test.skipIf(skip)('the command runs under the filter, and a denied call fails', async () => {
    const run = await viaLoader([
      '/bin/sh',
      '-c',
      `grep ^Seccomp: /proc/self/status; ${UNSHARE_USERNS}`,
    ]);
    expect(run.stdout).toMatch(/^Seccomp:\s+2\n$/);
    expect(run.stderr).toContain('Operation not permitted');
    expect(run.code).not.toBe(0);
  });

  test.skipIf(skip)('negative control: the same command without the loader unshares', async () => {
    const child = spawn('/bin/sh', ['-c', UNSHARE_USERNS], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise((resolve) => child.once('close', resolve));
    expect([code, stdout]).toEqual([0, 'unshared\n']);
  });

  test.skipIf(skip)(
    'a filter it cannot install fails the command with 126, which never runs',
    async () => {
      await writeFile(filter, Buffer.alloc(12)); // not a whole number of instructions
      try {
        const run = await viaLoader(['/bin/sh', '-c', 'echo ran']);
        expect(run).toMatchObject({ code: 126, stdout: '' });
        expect(run.stderr).toMatch(
          /^ironclaw: the seccomp loader could not install the sandbox filter \(.*\); the command did not run\n$/,
        );
        await writeFile(filter, Buffer.alloc(0)); // and a missing program
        expect(await viaLoader(['/bin/sh', '-c', 'echo ran'])).toMatchObject({
          code: 126,
          stdout: '',
        });
      } finally {
        await writeFile(filter, await readFile((await sandboxSeccompFilter()).path));
      }
    },
  );

  test.skipIf(skip)("exec failures keep an unfiltered spawn's wording and status", async () => {
    expect(await viaLoader(['no-such-command'])).toEqual({
      code: 127,
      stdout: '',
      stderr: 'ironclaw: no-such-command: command not found\n',
    });
    expect(await viaLoader(['/etc'])).toEqual({
      code: 126,
      stdout: '',
      stderr: 'ironclaw: /etc: cannot execute (EACCES)\n',
    });
  });

  test.skipIf(skip)(
    "the dynamic linker's variables reach the command, not the loader",
    async () => {
      const env = { PATH: '/usr/bin:/bin', LD_PRELOAD: '/no/such.so', KEEP: 'yes' };
      expect(throughLoader('env', [], env).env).toEqual({ PATH: '/usr/bin:/bin', KEEP: 'yes' });
      const run = await viaLoader(['/bin/sh', '-c', 'echo "$LD_PRELOAD $KEEP"'], env);
      expect(run.stdout).toBe('/no/such.so yes\n');
    },
  );
});
