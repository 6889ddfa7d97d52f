import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { imageCacheDir } from '../src/image/cache.js';
import { BIN, freshStateDir, runCli } from './helpers/cli.js';
import { qemuMissing } from './support/qemu-missing.js';

/*
 * Progress of long work on stderr: a bar on a terminal (the CLI in a tmux pane, whose raw
 * output pipe-pane records), plain lines when stderr is a pipe, nothing with --json.
 */
const execFileAsync = promisify(execFile);
const tmuxMissing = await execFileAsync('tmux', ['-V']).then(
  () => undefined,
  () => 'tmux is not installed',
);
const qemuSkip = await qemuMissing();
const skipped = (reason: string | undefined): string =>
  reason === undefined ? '' : ` [skipped: ${reason}]`;

const SOCKET = `ironclaw-progress-${process.pid}`;
let work: string;
let env: NodeJS.ProcessEnv;

function tmux(...args: string[]): Promise<string> {
  return execFileAsync('tmux', ['-L', SOCKET, ...args]).then(({ stdout }) => stdout);
}

/** Polls `read` until `ready` holds for what it gives; fails with the last of it at the deadline. */
async function until(
  read: () => Promise<string>,
  ready: (text: string) => boolean,
  deadlineMs = 120_000,
): Promise<string> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const text = await read();
    if (ready(text)) return text;
    if (Date.now() > deadline) throw new Error(`never showed what was expected:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ironclaw-progress-'));
  env = { IRONCLAW_STATE_DIR: await freshStateDir(), IRONCLAW_POOL_SIZE: '0' };
});

afterAll(async () => {
  await tmux('kill-server').catch(() => undefined);
  await runCli(['daemon', '--stop'], { env });
  await rm(work, { recursive: true, force: true });
});

describe.skipIf(tmuxMissing !== undefined)(
  `a large sandbox cp at a terminal${skipped(tmuxMissing)}`,
  { timeout: 300_000 },
  () => {
    test('shows a bar with the total, both ways, and a closing line', async () => {
      expect((await runCli(['sandbox', 'create', '--id', 'bar'], { env })).code).toBe(0);
      await writeFile(join(work, 'big.bin'), randomBytes(48 * 1024 ** 2));
      const log = join(work, 'pane.log');
      const shell = `env -i PATH=${process.env.PATH ?? ''} TERM=xterm-256color HOME=/root IRONCLAW_STATE_DIR=${env.IRONCLAW_STATE_DIR ?? ''} bash --norc --noprofile`;
      await tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'p', '-x', '120', '-y', '30', shell);
      // Every byte the CLI writes to its terminal, redraws and escapes included.
      await tmux('pipe-pane', '-t', 'p', '-o', `cat >> ${log}`);
      const cli = `${process.execPath} ${BIN}`;
      await tmux(
        'send-keys',
        '-t',
        'p',
        '-l',
        `${cli} sandbox cp ${work}/big.bin bar:/workspace/ && ${cli} sandbox cp bar:/workspace/big.bin ${work}/back.bin; echo "status=$?"`,
      );
      await tmux('send-keys', '-t', 'p', 'Enter');
      const pane = await until(
        () => tmux('capture-pane', '-p', '-J', '-t', 'p'),
        (text) => /status=\d+/.test(text),
      );
      expect(pane).toContain('status=0');
      // At the end the bars are gone; what stays is one line a copy.
      expect(pane).toMatch(/^copied .*big\.bin to bar:\/workspace \(48 MiB in [\d.]+ s\)$/m);
      expect(pane).toMatch(
        /^copied bar:\/workspace\/big\.bin to .*back\.bin \(48 MiB in [\d.]+ s\)$/m,
      );
      expect(pane).not.toMatch(/\[[#.]{30}\]/);
      // Carriage returns and escapes spelled out, to match with plain patterns.
      const raw = (await readFile(log, 'utf8'))
        .replaceAll('\r', '<CR>')
        .replaceAll('\x1b', '<ESC>');
      expect(raw).toMatch(/<CR><ESC>\[2Kcopying .*big\.bin \[[#.]{30}\] \d+% [\d.]+ \w+ \/ 48 MiB/);
      expect(raw).toMatch(/<CR><ESC>\[2Kcopying bar:\/workspace\/big\.bin \[[#.]{30}\] \d+% /);
      // Plain progress lines are for pipes and logs, not a terminal.
      expect(raw).not.toContain('of 48 MiB (25%)');
      await runCli(['sandbox', 'rm', 'bar'], { env });
    });
  },
);

describe.skipIf(qemuSkip !== undefined)(
  `the first qemu run builds its image and template out loud, through the daemon too${skipped(qemuSkip)}`,
  // A root filesystem build and a template boot under emulation, then an initramfs build again.
  { timeout: 900_000 },
  () => {
    test('plain lines when piped, nothing with --json, with a fresh image cache', async () => {
      const cache = join(work, 'cache');
      // The kernel comes from the shared cache rather than apt: the rest is built here.
      await mkdir(join(cache, 'kernels'), { recursive: true });
      const seedKernels = async (): Promise<void> => {
        for (const name of await readdir(join(imageCacheDir(), 'kernels')))
          if (!/\.(lock|partial-\d+)$/.test(name))
            await cp(join(imageCacheDir(), 'kernels', name), join(cache, 'kernels', name), {
              recursive: true,
            });
      };
      await seedKernels();
      // The VMM's own user reads the image through it.
      await chmod(work, 0o755);
      await chmod(cache, 0o755);
      const vmEnv = { IRONCLAW_CACHE_DIR: cache, IRONCLAW_STATE_DIR: await freshStateDir() };

      const first = await runCli(['exec', '--driver', 'qemu', '--', 'echo', 'hi'], { env: vmEnv });
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toBe('hi\n');
      const lines = first.stderr.split('\n');
      const at = (pattern: RegExp): number => lines.findIndex((line) => pattern.test(line));
      expect(at(/^ironclaw: image: rootfs \w+: building$/)).toBeGreaterThanOrEqual(0);
      expect(
        at(/^ironclaw: image: rootfs: \d+ files, \d+ MiB; making a \d+ MiB ext4 image/),
      ).toBeGreaterThan(0);
      expect(at(/^ironclaw: image: initramfs \w+: \d+ KiB/)).toBeGreaterThanOrEqual(0);
      const boot = at(
        /^ironclaw: qemu: booting a template VM for this configuration \(\w+: \d+ MiB, (tcg|kvm)\)/,
      );
      const saved = at(/^ironclaw: qemu: template \w+ saved in \d+ s$/);
      expect(boot).toBeGreaterThan(0);
      expect(saved).toBeGreaterThan(boot);
      expect(first.stderr).not.toContain('\r');
      expect(first.stderr).not.toContain('\x1b');

      // Building again with --json: the initramfs only (a second root filesystem build would
      // cost the suite minutes under TCG, and says the same lines).
      await rm(join(cache, 'initramfs'), { recursive: true, force: true });
      await rm(join(cache, 'images'), { recursive: true, force: true });
      const quiet = await runCli(['exec', '--json', '--driver', 'qemu', '--', 'echo', 'hi'], {
        env: vmEnv,
      });
      expect(JSON.parse(quiet.stdout)).toMatchObject({ exitCode: 0, stdout: 'hi\n' });
      // The image was built again (its initramfs was removed), and said nothing.
      expect(await readdir(join(cache, 'rootfs'))).toHaveLength(1);
      expect(quiet.stderr).toBe('');

      // `image build` itself: its steps when piped, nothing with --json.
      const built = await runCli(['image', 'build'], { env: vmEnv });
      expect(built.code, built.stderr).toBe(0);
      expect(built.stderr).toMatch(/^image: kernel: asking apt for the current cloud kernel/m);
      const json = await runCli(['image', 'build', '--json'], { env: vmEnv });
      expect(json.code, json.stderr).toBe(0);
      expect(json.stderr).toBe('');

      // Through the daemon: a configuration with no template yet boots one, and the CLI waiting
      // on `sandbox create` shows it as it goes (it used to go to the daemon's log only).
      const daemonEnv = { ...vmEnv, IRONCLAW_POOL_SIZE: '0' };
      try {
        const created = await runCli(
          ['sandbox', 'create', '--driver', 'qemu', '--memory', '320m', '--id', 'vm'],
          { env: daemonEnv },
        );
        expect(created.code, created.stderr).toBe(0);
        expect(created.stdout).toBe('vm\n');
        expect(created.stderr).toMatch(
          /^ironclaw: qemu: booting a template VM for this configuration \(\w+: \d+ MiB, (tcg|kvm)\)/m,
        );
        expect(created.stderr).toMatch(/^ironclaw: qemu: template \w+ saved in \d+ s$/m);
      } finally {
        await runCli(['sandbox', 'rm', 'vm'], { env: daemonEnv });
        await runCli(['daemon', '--stop'], { env: daemonEnv });
      }
    });
  },
);
