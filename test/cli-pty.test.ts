import { execFile } from 'node:child_process';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { runscBinary } from '../src/drivers/gvisor/platform.js';
import { BIN, freshStateDir, runCli } from './helpers/cli.js';
import { qemuMissing } from './support/qemu-missing.js';

/*
 * `exec -it`, `sandbox exec -it` and `sandbox shell` as a user at a terminal has them: the CLI
 * runs in a tmux pane (a tmux server on a socket of this test's own), keys go in with
 * send-keys, and what the terminal shows comes out with capture-pane. Every wait polls the
 * pane for the text it expects, up to a deadline.
 */
const execFileAsync = promisify(execFile);
const tmuxMissing = await execFileAsync('tmux', ['-V']).then(
  () => undefined,
  () => 'tmux is not installed',
);
const gvisorMissing = await runscBinary().then(
  () => undefined,
  (error: Error) => error.message,
);
const qemuSkip = await qemuMissing();
const skipped = (reason: string | undefined): string =>
  reason === undefined ? '' : ` [skipped: ${reason}]`;

const SOCKET = `ironclaw-pty-${process.pid}`;
const USER = 'ironclaw-test';
const isRoot = process.getuid?.() === 0;
const HOST_PROMPT = 'host$ ';
const BOX_PROMPT = 'box$ ';
/** A box's bash with a prompt the test can tell from the host's. */
const BOX_BASH = ['bash', '--norc', '--noprofile'];
let work: string;
let stateDir: string;
let pane = 0;

function tmux(...args: string[]): Promise<string> {
  return execFileAsync('tmux', ['-L', SOCKET, ...args]).then(({ stdout }) => stdout);
}

/** A new tmux window running a plain host bash at `cols`x`rows`; returns its target. */
async function openPane(cols = 100, rows = 30): Promise<string> {
  const name = `p${++pane}`;
  const shell = `env -i PATH=${process.env.PATH ?? ''} TERM=xterm-256color HOME=/root IRONCLAW_STATE_DIR=${stateDir} bash --norc --noprofile`;
  if (pane === 1)
    await tmux(
      '-f',
      '/dev/null',
      'new-session',
      '-d',
      '-s',
      'pty',
      '-n',
      name,
      '-x',
      String(cols),
      '-y',
      String(rows),
      shell,
    );
  else await tmux('new-window', '-d', '-t', 'pty', '-n', name, shell);
  const target = `pty:${name}`;
  await tmux('resize-window', '-t', target, '-x', String(cols), '-y', String(rows));
  await type(target, `PS1='${HOST_PROMPT}'; cd ${process.cwd()}`);
  await waitFor(target, (text) => text.includes(HOST_PROMPT));
  return target;
}

async function type(target: string, line: string): Promise<void> {
  await tmux('send-keys', '-t', target, '-l', line);
  await tmux('send-keys', '-t', target, 'Enter');
}

/** Polls the pane until `ready` holds for what it shows; fails with the pane at the deadline. */
async function waitFor(
  target: string,
  ready: (text: string) => boolean,
  deadlineMs = 60_000,
): Promise<string> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const text = await tmux('capture-pane', '-p', '-J', '-t', target);
    if (ready(text)) return text;
    if (Date.now() > deadline) throw new Error(`the pane never showed what was expected:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How many times `needle` appears in the pane. */
function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** Runs a line in the box's shell and waits for the prompt after it; returns the pane. */
async function inBox(target: string, line: string): Promise<string> {
  const before = count(await tmux('capture-pane', '-p', '-J', '-t', target), BOX_PROMPT);
  await type(target, line);
  return waitFor(target, (text) => count(text, BOX_PROMPT) > before);
}

/**
 * Asks the box's terminal its size until it is `rows`x`cols`: a resize reaches the box on its
 * own, after the window changed. Fails with the pane after a deadline.
 */
async function untilSize(target: string, rows: number, cols: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  let shown = '';
  while (Date.now() < deadline) {
    shown = await inBox(target, 'stty size');
    const sizes = shown.match(/^\d+ \d+\r?$/gm) ?? [];
    if (sizes.at(-1)?.trim() === `${rows} ${cols}`) return;
  }
  expect.fail(`the box's terminal never became ${rows}x${cols}:\n${shown}`);
}

/** Starts `cli` from the pane's host shell with the terminal's settings saved before and after. */
async function startSession(target: string, cli: string, deadlineMs?: number): Promise<void> {
  await type(
    target,
    `stty -a > ${work}/before; ${cli}; echo "status=$?"; stty -a > ${work}/after; echo saved`,
  );
  // Typed ahead, the line shows before the box runs it: split, it cannot pass for the prompt.
  await type(target, `PS1='${BOX_PROMPT.slice(0, 2)}''${BOX_PROMPT.slice(2)}'`);
  await waitFor(target, (text) => text.includes(BOX_PROMPT), deadlineMs);
}

/** Leaves the box's shell with `code` and checks the terminal is as it was before. */
async function exitRestores(target: string, code: number): Promise<void> {
  await type(target, `exit ${code}`);
  const text = await waitFor(target, (shown) => /^saved$/m.test(shown));
  expect(text).toContain(`status=${code}`);
  expect(await readFile(join(work, 'after'), 'utf8')).toBe(
    await readFile(join(work, 'before'), 'utf8'),
  );
}

const cli = (args: string): string => `${process.execPath} ${BIN} ${args}`;

/** The system user test/unprivileged.test.ts runs the suites as, made the same way if missing. */
async function ensureUser(): Promise<{ uid: number; gid: number }> {
  const id = (flag: string): Promise<number> =>
    execFileAsync('id', [flag, USER]).then(({ stdout }) => Number(stdout.trim()));
  await id('-u').catch(() =>
    execFileAsync('useradd', [
      '--system',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      USER,
    ]),
  );
  return { uid: await id('-u'), gid: await id('-g') };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ironclaw-pty-'));
  stateDir = await freshStateDir();
});

afterEach(async () => {
  await rm(join(work, 'before'), { force: true });
  await rm(join(work, 'after'), { force: true });
});

afterAll(async () => {
  await tmux('kill-server').catch(() => undefined);
  await runCli(['daemon', '--stop'], { env: { IRONCLAW_STATE_DIR: stateDir } });
  await rm(work, { recursive: true, force: true });
});

describe.skipIf(tmuxMissing !== undefined)(
  `a pseudo-terminal in the box, driven through tmux${skipped(tmuxMissing)}`,
  // A box's start-up on a loaded machine, a gVisor one's most of all, and the waits in the pane.
  { timeout: 120_000 },
  () => {
    test('exec -it: prompt, size and resize, TERM, Ctrl-C, Ctrl-Z, exit restores the terminal', async () => {
      const target = await openPane(100, 30);
      await startSession(target, cli(`exec -it -- ${BOX_BASH.join(' ')}`));
      expect(await inBox(target, 'stty size; echo "term=$TERM"; tty')).toMatch(
        /^30 100$[\s\S]*^term=xterm-256color$[\s\S]*^\/dev\/pts\/\d+$/m,
      );
      await tmux('resize-window', '-t', target, '-x', '120', '-y', '40');
      // The resize travels to the box on its own: ask until the box's terminal has it.
      await untilSize(target, 40, 120);

      await type(target, 'sleep 1000');
      await tmux('send-keys', '-t', target, 'C-c');
      expect(await inBox(target, 'echo "interrupted=$?"')).toMatch(/^interrupted=130$/m);

      await type(target, 'sleep 1000');
      await tmux('send-keys', '-t', target, 'C-z');
      await waitFor(target, (text) => /Stopped\s+sleep 1000/.test(text));
      await type(target, 'fg');
      await waitFor(target, (text) => /^sleep 1000\r?$/m.test(text));
      await tmux('send-keys', '-t', target, 'C-c');
      expect(await inBox(target, 'echo "resumed=$?"')).toMatch(/^resumed=130$/m);

      // Back at the original size, so the saved settings can be compared whole.
      await tmux('resize-window', '-t', target, '-x', '100', '-y', '30');
      await untilSize(target, 30, 100);
      await exitRestores(target, 3);
    });

    test('sandbox shell and sandbox exec -it go through the daemon', async () => {
      const env = { IRONCLAW_STATE_DIR: stateDir, IRONCLAW_POOL_SIZE: '0' };
      expect(await runCli(['sandbox', 'create', '--id', 'pty-one'], { env })).toMatchObject({
        code: 0,
      });
      const target = await openPane(90, 25);
      await startSession(target, cli('sandbox shell pty-one'));
      expect(await inBox(target, 'stty size; echo made > /workspace/mark')).toMatch(/^25 90$/m);
      await tmux('resize-window', '-t', target, '-x', '70', '-y', '20');
      await untilSize(target, 20, 70);
      await tmux('resize-window', '-t', target, '-x', '90', '-y', '25');
      await untilSize(target, 25, 90);
      await type(target, 'sleep 1000');
      await tmux('send-keys', '-t', target, 'C-c');
      expect(await inBox(target, 'echo "interrupted=$?"')).toMatch(/^interrupted=130$/m);
      await exitRestores(target, 0);

      // The same sandbox, its state kept: exec -it runs a command and gives its status.
      await type(
        target,
        `${cli('sandbox exec -it pty-one -- sh -c "tty; cat /workspace/mark; exit 4"')}; echo "status=$?"`,
      );
      const shown = await waitFor(target, (text) => text.includes('status=4'));
      expect(shown).toMatch(/^\/dev\/pts\/\d+\r?$/m);
      expect(shown).toMatch(/^made\r?$/m);
    });

    test('sandbox exec -i passes a terminal stdin on without a pseudo-terminal', async () => {
      const env = { IRONCLAW_STATE_DIR: stateDir, IRONCLAW_POOL_SIZE: '0' };
      expect(await runCli(['sandbox', 'create', '--id', 'pty-two'], { env })).toMatchObject({
        code: 0,
      });
      const target = await openPane();
      await type(
        target,
        `${cli('sandbox exec -i pty-two -- sh -c "read -r line; echo \\"got:\\$line\\"; tty"')}; echo "status=$?"`,
      );
      await type(target, 'typed-line');
      const shown = await waitFor(target, (text) => /status=\d+/.test(text));
      expect(shown).toContain('got:typed-line');
      expect(shown).toContain('not a tty');
    });

    test('the box destroyed under a session: the CLI fails and the terminal is restored', async () => {
      const env = { IRONCLAW_STATE_DIR: stateDir, IRONCLAW_POOL_SIZE: '0' };
      expect(await runCli(['sandbox', 'create', '--id', 'pty-three'], { env })).toMatchObject({
        code: 0,
      });
      const target = await openPane();
      await startSession(target, cli('sandbox shell pty-three'));
      expect(await runCli(['sandbox', 'rm', 'pty-three'], { env })).toMatchObject({ code: 0 });
      const shown = await waitFor(target, (text) => /^saved$/m.test(text));
      expect(shown).toMatch(/ironclaw: [A-Z_]+: .*pty-three/);
      expect(shown).toContain('status=125');
      expect(await readFile(join(work, 'after'), 'utf8')).toBe(
        await readFile(join(work, 'before'), 'utf8'),
      );
    });

    test('SIGTERM to the CLI restores the terminal and ends the session', async () => {
      const target = await openPane();
      await startSession(
        target,
        `sh -c 'echo $$ > ${work}/cli.pid; exec ${cli(`exec -it -- ${BOX_BASH.join(' ')}`)}'`,
      );
      const pid = Number(await readFile(join(work, 'cli.pid'), 'utf8'));
      process.kill(pid, 'SIGTERM');
      await waitFor(target, (text) => /^saved$/m.test(text));
      expect(await readFile(join(work, 'after'), 'utf8')).toBe(
        await readFile(join(work, 'before'), 'utf8'),
      );
    });

    test.skipIf(!isRoot)(
      `exec -it as an unprivileged user (${USER})${isRoot ? '' : ' [skipped: needs root to switch to that user]'}`,
      async () => {
        const { uid, gid } = await ensureUser();
        const home = await mkdtemp(join(tmpdir(), 'ironclaw-pty-user-'));
        await chown(home, uid, gid);
        const target = await openPane(100, 30);
        // The pane's terminal is root's: the user's CLI works through the descriptors it inherits.
        const asUser = `setpriv --reuid=${uid} --regid=${gid} --init-groups -- env HOME=${home} IRONCLAW_STATE_DIR=${home}/state`;
        await startSession(target, `${asUser} ${cli(`exec -it -- ${BOX_BASH.join(' ')}`)}`);
        expect(await inBox(target, 'stty size; id -u')).toMatch(/^30 100$/m);
        await tmux('send-keys', '-t', target, '-l', 'sleep 1000');
        await tmux('send-keys', '-t', target, 'Enter');
        await tmux('send-keys', '-t', target, 'C-c');
        expect(await inBox(target, 'echo "interrupted=$?"')).toMatch(/^interrupted=130$/m);
        await exitRestores(target, 0);
        await rm(home, { recursive: true, force: true });
      },
    );

    test.skipIf(gvisorMissing !== undefined)(
      `exec -it on gVisor: prompt, size, resize, Ctrl-C, exit${skipped(gvisorMissing)}`,
      async () => {
        const target = await openPane(100, 30);
        await startSession(target, cli(`exec -it --driver gvisor -- ${BOX_BASH.join(' ')}`));
        expect(await inBox(target, 'stty size; tty')).toMatch(/^30 100$[\s\S]*^\/dev\/pts\/\d+$/m);
        await tmux('resize-window', '-t', target, '-x', '80', '-y', '24');
        await untilSize(target, 24, 80);
        await tmux('resize-window', '-t', target, '-x', '100', '-y', '30');
        await untilSize(target, 30, 100);
        await type(target, 'sleep 1000');
        await waitFor(target, (text) => /^box\$ sleep 1000\r?$/m.test(text));
        await tmux('send-keys', '-t', target, 'C-c');
        expect(await inBox(target, 'echo "interrupted=$?"')).toMatch(/^interrupted=130$/m);
        await exitRestores(target, 6);
      },
    );

    test.skipIf(qemuSkip !== undefined)(
      `exec -it on QEMU: prompt, size, resize, Ctrl-C, exit${skipped(qemuSkip)}`,
      // Under TCG a VM's first boot of a configuration makes its template: minutes when busy.
      { timeout: 600_000 },
      async () => {
        // The configuration's template first (a boot under emulation), so the session is a clone.
        const warm = await runCli(['exec', '--driver', 'qemu', '--', 'true'], {
          env: { IRONCLAW_STATE_DIR: stateDir },
        });
        expect(warm.code, warm.stderr).toBe(0);
        const target = await openPane(100, 30);
        await startSession(
          target,
          cli(`exec -it --driver qemu -- ${BOX_BASH.join(' ')}`),
          // A clone's start under emulation, on a busy machine.
          180_000,
        );
        expect(await inBox(target, 'stty size; echo "term=$TERM"; tty')).toMatch(
          /^30 100$[\s\S]*^term=xterm-256color$[\s\S]*^\/dev\/pts\/\d+$/m,
        );
        await tmux('resize-window', '-t', target, '-x', '80', '-y', '24');
        await untilSize(target, 24, 80);
        await type(target, 'sleep 1000');
        await waitFor(target, (text) => /^box\$ sleep 1000\r?$/m.test(text));
        await tmux('send-keys', '-t', target, 'C-c');
        // An emulated guest is slow: the prompt after ^C comes before the next line is typed.
        await waitFor(target, (text) => /\^C\n+box\$\s*$/.test(text));
        expect(await inBox(target, 'echo "interrupted=$?"')).toMatch(/^interrupted=130$/m);
        await tmux('resize-window', '-t', target, '-x', '100', '-y', '30');
        await untilSize(target, 30, 100);
        await exitRestores(target, 5);
      },
    );
  },
);

describe('-t refused where there is no terminal to lend', () => {
  test('a stdin that is not a terminal is a usage error', async () => {
    const result = await runCli(['exec', '-it', '--', 'true']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/-t needs a terminal, and stdin is not one/);
  });

  test('-t with --json is a usage error, and -i, -t show in the help', async () => {
    const result = await runCli(['sandbox', 'exec', '-t', '--json', 'any', '--', 'true']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/-t and --json do not go together/);
    const help = await runCli(['exec', '--help']);
    expect(help.stdout).toMatch(/-i, --interactive/);
    expect(help.stdout).toMatch(/-t, --tty .*every driver/);
  });

  test('a driver whose boxes cannot make a pseudo-terminal is refused before a box is made', async () => {
    const { assertDriverCan } = await import('../src/host/driver.js');
    const { DRIVER_LIST } = await import('../src/drivers/index.js');
    // Every driver has one now: a stand-in without it shows the refusal a new driver would get.
    expect(DRIVER_LIST.every((driver) => driver.capabilities.pty)).toBe(true);
    const qemu = DRIVER_LIST.find((driver) => driver.name === 'qemu')!;
    const without = { ...qemu, capabilities: { ...qemu.capabilities, pty: false } };
    expect(() => assertDriverCan(without, { pty: true }, DRIVER_LIST)).toThrow(
      /qemu driver cannot enforce a pseudo-terminal \(-t\) \(capability pty\); drivers that can: bwrap, gvisor, qemu, firecracker/,
    );
  });
});
