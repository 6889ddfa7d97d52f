// launchJailed's own machinery, for real: `unshare --pid --fork --kill-child` around the
// program it is given, the pid of that program as the host sees it, its output kept, its exit
// and its kill. The jailer cannot run here (no firecracker), so a shell stands in its place: the
// jailer execs Firecracker in place, and so the program given is what runs as the namespace's
// pid 1 either way.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { launchJailed } from '../src/drivers/firecracker/launch.js';
import { eventually } from './support/host-processes.js';

const root = process.getuid?.() === 0;
const skip = root ? '' : ' [skipped: a new pid namespace needs root, as the jailer does]';

describe.skipIf(!root)(`launchJailed${skip}`, () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ironclaw-fc-launch-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('runs the program as pid 1 of a new pid namespace, knows its host pid, keeps its console, kills it', async () => {
    const consoleLog = join(dir, 'console.log');
    const vm = await launchJailed(
      '/bin/sh',
      ['-c', 'echo "guest says hi"; echo "vmm warns" >&2; exec sleep 60'],
      { consoleLog, signal: AbortSignal.timeout(60_000) },
    );
    try {
      const status = await readFile(`/proc/${vm.pid}/status`, 'utf8');
      // NSpid: its pid in each namespace, outermost first; the innermost is 1.
      expect(status).toMatch(new RegExp(`^NSpid:\\s+${vm.pid}\\s+1$`, 'm'));
      expect(vm.child.pid).not.toBe(vm.pid);
      await expect.poll(() => vm.tail()).toContain('guest says hi');
      expect(vm.tail()).toContain('vmm warns');
      expect(vm.child.exitCode).toBeNull(); // the holder lives as long as the VMM
    } finally {
      await vm.kill();
    }
    // unshare either reports its child's SIGKILL (exit 1) or gets the group's SIGKILL itself.
    const exit = await vm.exited;
    expect(exit.signal === 'SIGKILL' || exit.code === 1, JSON.stringify(exit)).toBe(true);
    // Gone, or a zombie its new parent has yet to reap: nothing runs. The kernel delivers the
    // SIGKILL when the process next runs, so right after the kill it may still show R with the
    // signal pending: wait for the state to change, with a deadline, rather than assert it now.
    const state = await eventually(
      () => readFile(`/proc/${vm.pid}/status`, 'utf8').catch(() => 'State:\tgone'),
      (status) => /^State:\s+(gone|Z|X)/m.test(status),
      10_000,
    );
    expect(state).toMatch(/^State:\s+(gone|Z|X)/m);
    expect(await readFile(consoleLog, 'utf8')).toBe('guest says hi\n');
    await vm.kill(); // idempotent
  });

  test('a program that dies at once fails the launch with its words, or its exit says them', async () => {
    const outcome = await launchJailed(
      '/bin/sh',
      ['-c', 'echo "jailer: cannot create cgroup" >&2; exit 1'],
      { consoleLog: join(dir, 'console.log'), signal: AbortSignal.timeout(5000) },
    ).then(
      async (vm) => {
        // It lived long enough to be seen; its exit is what the driver races against.
        const exit = await vm.exited;
        return { exit, tail: vm.tail() };
      },
      (error: Error) => ({ error }),
    );
    if ('error' in outcome) {
      expect(outcome.error.message).toMatch(/exited during start-up \(exit code 1\)/);
    } else {
      expect(outcome.exit.code).toBe(1);
      expect(outcome.tail).toContain('jailer: cannot create cgroup');
    }
  });

  test('a missing program is reported, not waited for', async () => {
    // "Not waited for" is observable as the cause: with a deadline far longer than any start,
    // the outcome is the program's exit, never that deadline (an AbortError).
    const outcome = await launchJailed(join(dir, 'no-such-jailer'), [], {
      consoleLog: join(dir, 'console.log'),
      signal: AbortSignal.timeout(600_000),
    }).then(
      async (vm) => ({ exit: await vm.exited, tail: vm.tail() }),
      (error: Error) => ({ error }),
    );
    // unshare's child may be seen before its exec fails; then its exit says why, at once.
    if ('error' in outcome) expect(outcome.error.message).toMatch(/exited during start-up/);
    else expect(outcome.tail).toMatch(/no-such-jailer: No such file or directory/);
  });
});
