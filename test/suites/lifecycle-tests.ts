import { access, readFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import type { Sandbox } from '../../src/index.js';
import { STUB_ARGV0 } from '../../src/guest/exec-stubs.js';
import { expectCode } from '../support/expect-code.js';
import {
  eventually,
  type HostProcess,
  pidNamespaceOf,
  processesInPidNamespace,
} from '../support/host-processes.js';
import { type SuiteContext, uniqueId } from './suite-context.js';

/** Processes of the box other than its init and the guest agent, listed from inside the box. */
async function strayProcesses(box: Sandbox): Promise<string[]> {
  const agent = (await box.ping()).pid;
  // Not ps: it would list itself. The shell reads /proc with builtins and skips its own pid and
  // the process the agent makes ahead for its next exec (known by its argv[0]).
  const listing = await box.exec(
    `for d in /proc/[0-9]*; do p=\${d#/proc/}; [ "$p" = $$ ] && continue; a=; read -r a < $d/cmdline 2>/dev/null; case $a in ${STUB_ARGV0}*) continue;; esac; read -r c < $d/comm 2>/dev/null && echo "$p $c"; done`,
  );
  return listing.stdout
    .toString()
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('1 ') && !line.startsWith(`${agent} `));
}

/**
 * Host processes in the box's pid namespace other than its init, the guest agent and the process
 * the agent makes ahead of time for its next exec (src/guest/exec-stubs.ts), known by its argv[0].
 */
async function strayHostProcesses(
  namespace: string,
  agentInnerPid: number,
): Promise<HostProcess[]> {
  const all = await withoutStub(await processesInPidNamespace(namespace));
  return all.filter((p) => p.innerPid !== 1 && p.innerPid !== agentInnerPid);
}

async function withoutStub(processes: HostProcess[]): Promise<HostProcess[]> {
  const argv0 = (pid: number): Promise<string> =>
    readFile(`/proc/${pid}/cmdline`, 'utf8').then(
      (text) => text.split('\0')[0] ?? '',
      () => '',
    );
  const marks = await Promise.all(processes.map((p) => argv0(p.pid)));
  return processes.filter((_, index) => marks[index] !== STUB_ARGV0);
}

/** Timeouts, cancellation and destroy: nothing of the box outlives them. */
export function defineLifecycleTests(ctx: SuiteContext): void {
  const { hostPidNamespace, cgroups } = ctx.options;
  const noHostView = `${ctx.driver} box processes are not host processes`;

  describe('timeouts and cancellation', () => {
    test('a timeout kills the whole process group: no sleep is left (seen from inside)', async () => {
      await using box = await ctx.create();
      const result = await box.exec(['sh', '-c', 'sleep 1000 & sleep 1000 & wait'], {
        timeoutMs: 500,
      });
      // One status for a timeout everywhere: 124, as timeout(1) reports it.
      expect(result).toMatchObject({ timedOut: true, exitCode: 124, signal: 'SIGKILL' });
      const stray = await eventually(
        () => strayProcesses(box),
        (left) => left.length === 0,
      );
      expect(stray).toEqual([]);
      // The listing does see a sleep that is left running on purpose.
      await box.exec('sleep 1000 >/dev/null 2>&1 &');
      const names = (lines: string[]): string[] => lines.map((line) => line.split(' ')[1] ?? '');
      const left = await eventually(
        () => strayProcesses(box),
        (lines) => names(lines).join() === 'sleep',
      );
      expect(names(left)).toEqual(['sleep']);
    });

    test.skipIf(!hostPidNamespace)(
      `a timeout kills the whole process group: no process is left in the box's pid namespace (seen from the host)${hostPidNamespace ? '' : ` [skipped: ${noHostView}]`}`,
      async () => {
        await using box = await ctx.create();
        const namespace = await pidNamespaceOf(box.boxPid);
        const agent = (await box.ping()).pid;
        const result = await box.exec(['sh', '-c', 'sleep 1000 & sleep 1000 & wait'], {
          timeoutMs: 500,
        });
        expect(result.timedOut).toBe(true);
        const stray = await eventually(
          () => strayHostProcesses(namespace, agent),
          (left) => left.length === 0,
        );
        expect(stray).toEqual([]);
        // The scan does see this namespace: its init and the agent are still there.
        // A process the agent is making ahead right now shows the agent's command line until
        // it execs: wait for it to become the stub.
        const expected = [1, agent].sort((a, b) => a - b);
        const inits = await eventually(
          async () =>
            (await withoutStub(await processesInPidNamespace(namespace)))
              .map((p) => p.innerPid)
              .sort((a, b) => a - b),
          (pids) => pids.join() === expected.join(),
        );
        expect(inits).toEqual(expected);
      },
    );

    test('an aborted exec rejects with ABORTED and its processes are killed', async () => {
      await using box = await ctx.create();
      const controller = new AbortController();
      const running = box.exec('sleep 1000 & echo started; wait', {
        signal: controller.signal,
        onStdout: () => controller.abort(),
      });
      await expectCode(() => running, 'ABORTED');
      const stray = await eventually(
        () => strayProcesses(box),
        (left) => left.length === 0,
      );
      expect(stray).toEqual([]);
    });
  });

  describe('destroy', () => {
    test.skipIf(!hostPidNamespace)(
      `leaves no host process in the box's pid namespace, not even a background one${hostPidNamespace ? '' : ` [skipped: ${noHostView}]`}`,
      async () => {
        const box = await ctx.create();
        try {
          const namespace = await pidNamespaceOf(box.boxPid);
          await box.exec('sleep 1000 >/dev/null 2>&1 &');
          const before = await processesInPidNamespace(namespace);
          expect(before.map((p) => p.name)).toContain('sleep'); // the scan sees the box's processes
          expect(before.length).toBeGreaterThanOrEqual(3);
          await box.destroy();
          // Once destroy resolves nothing of the box runs. Its init may still be a zombie that
          // the host's init reaps a moment later (see the report on bwrap-box destroy).
          const running = (await processesInPidNamespace(namespace)).filter((p) => p.state !== 'Z');
          expect(running).toEqual([]);
          const left = await eventually(
            () => processesInPidNamespace(namespace),
            (found) => found.length === 0,
          );
          expect(left).toEqual([]);
        } finally {
          await box.destroy();
        }
      },
    );

    // A VM's cgroup lives in its guest kernel and goes with it; the driver makes none on the host.
    const vm = ctx.options.vm === true;
    test.skipIf(vm || !cgroups.available)(
      `removes the box's cgroup directories${vm ? ` [skipped: a ${ctx.driver} box's cgroup is in its guest kernel]` : cgroups.available ? '' : ` [skipped: ${cgroups.reason}]`}`,
      async () => {
        if (!cgroups.available) throw new Error('unreachable');
        const id = uniqueId('destroy');
        const box = await ctx.create({ id });
        const dirs = await cgroups.dirs(id);
        try {
          const exists = (dir: string): Promise<boolean> =>
            access(dir).then(
              () => true,
              () => false,
            );
          expect(await Promise.all(dirs.map(exists))).toEqual(dirs.map(() => true));
          await box.destroy();
          expect(await Promise.all(dirs.map(exists))).toEqual(dirs.map(() => false));
        } finally {
          await box.destroy();
        }
      },
    );

    test('calls after destroy fail with SANDBOX_CLOSED; destroying again is fine', async () => {
      const box = await ctx.create();
      await box.destroy();
      expect(box.destroyed).toBe(true);
      await expectCode(() => box.exec('true'), 'SANDBOX_CLOSED');
      await expectCode(() => box.exec(['true']), 'SANDBOX_CLOSED');
      await expectCode(() => box.writeFile('/workspace/a', 'x'), 'SANDBOX_CLOSED');
      await expectCode(() => box.readFile('/workspace/a'), 'SANDBOX_CLOSED');
      await expectCode(() => box.list('/workspace'), 'SANDBOX_CLOSED');
      await expectCode(() => box.stat('/workspace'), 'SANDBOX_CLOSED');
      await expectCode(() => box.remove('/workspace/a'), 'SANDBOX_CLOSED');
      await expectCode(() => box.ping(), 'SANDBOX_CLOSED');
      await expect(box.destroy()).resolves.toBeUndefined();
      await expect(box[Symbol.asyncDispose]()).resolves.toBeUndefined();
    });

    test('destroy during a running exec fails that exec instead of leaving it pending', async () => {
      const box = await ctx.create();
      try {
        let started!: () => void;
        const isRunning = new Promise<void>((resolve) => (started = resolve));
        const running = box.exec('echo started; sleep 1000', { onStdout: () => started() });
        const outcome = running.then(
          () => 'resolved',
          (error: unknown) => (error as { code?: string }).code ?? String(error),
        );
        await isRunning;
        await box.destroy();
        expect(['CHANNEL_CLOSED', 'SANDBOX_CLOSED']).toContain(await outcome);
      } finally {
        await box.destroy();
      }
    });
  });
}
