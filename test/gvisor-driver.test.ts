import { execFile } from 'node:child_process';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox, type Sandbox } from '../src/index.js';
import { gvisorPlatform, probeGvisor, runscBinary } from '../src/drivers/gvisor/platform.js';
import { defaultStateDir } from '../src/host/state-dir.js';
import { probeCgroups } from './support/cgroup-probe.js';
import { expectCode } from './support/expect-code.js';
import { hostProcess } from './support/host-processes.js';
import { BOX_UID_TEXT, expectBoxUid } from './support/box-uid.js';
import { uniqueId } from './suites/suite-context.js';

/** What only the gVisor driver has: its platform, runsc's processes and files, one-shot runs. */
const execFileAsync = promisify(execFile);
/** Probe boxes' runtime directories, and (as root) those of boxes run as a uid of their own. */
const RUNTIME_BASES = [join(defaultStateDir(), 'gvisor'), `${defaultStateDir()}-gvisor`];
const missing = await runscBinary().then(
  () => undefined,
  (error: Error) => error.message,
);
const cgroups = await probeCgroups();
const skip = missing === undefined ? '' : ` [skipped: ${missing}]`;
/** runsc 20240729 is the first this project knows to accept statx(AT_NO_AUTOMOUNT). */
const version = missing === undefined ? (await gvisorPlatform()).version : '';
const oldRunsc = Number(/~(\d{8})/.exec(version)?.[1] ?? 0) < 20240729;

/** Host pids of runsc, its gofer, the sentry and the sentry's descendants (ptrace stubs). */
async function boxHostPids(sentry: number): Promise<number[]> {
  const parent = async (pid: number): Promise<number> =>
    Number((await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ')[1]);
  const children = async (pid: number): Promise<number[]> => {
    const tasks = await readdir(`/proc/${pid}/task`).catch(() => []);
    const lists = await Promise.all(
      tasks.map((task) => readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')),
    );
    return lists.join(' ').split(' ').filter(Boolean).map(Number);
  };
  const runsc = await parent(sentry);
  const found = [runsc];
  for (let index = 0; index < found.length; index++)
    found.push(...(await children(found[index] ?? 0)));
  return found;
}

async function runtimeDirs(prefix: string): Promise<string[]> {
  const names = await Promise.all(RUNTIME_BASES.map((base) => readdir(base).catch(() => [])));
  return names.flat().filter((name) => name.startsWith(prefix));
}

describe.skipIf(missing !== undefined)(`gVisor driver${skip}`, () => {
  let box: Sandbox;
  beforeAll(async () => {
    box = await createSandbox({ driver: 'gvisor' });
  });
  afterAll(async () => {
    await box?.destroy();
  });

  test('reports the gVisor kernel and the platform its probe chose, with the reason', async () => {
    const kernel = box.isolation.layers.kernel;
    expect(kernel?.on).toBe(true);
    expect(kernel?.detail).toMatch(
      /^gVisor user-space kernel \(runsc .+\), platform (kvm|systrap|ptrace) \(.+\)$/,
    );
    const kvm = await access('/dev/kvm').then(
      () => true,
      () => false,
    );
    if (kvm && !kernel?.detail.includes('platform kvm'))
      expect(kernel?.detail).toMatch(/kvm probe (timed out after \d+ ms|box failed)/);
    // The kvm probe box is gone: neither its runtime directory nor a process of it is left.
    expect(await runtimeDirs('probe-')).toEqual([]);
    const { stdout } = await execFileAsync('ps', ['-eo', 'args']);
    expect(stdout).not.toContain('probe-kvm');
  });

  test('the sentry runs under seccomp with no new privileges, as the reported host uid', async () => {
    const status = await readFile(`/proc/${box.boxPid}/status`, 'utf8');
    const field = (name: string): string | undefined =>
      new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1];
    expect(field('Seccomp')).toBe('2');
    expect(field('NoNewPrivs')).toBe('1');
    expect(Number(field('Uid'))).toBe(box.isolation.hostUid);
    expect(box.isolation.layers.seccomp.on).toBe(true);
  });

  test(`runsc, its gofer, the sentry and its stubs all run as ${BOX_UID_TEXT}`, async () => {
    expectBoxUid(box.isolation.hostUid);
    const pids = await boxHostPids(box.boxPid);
    expect(pids.length).toBeGreaterThanOrEqual(3); // runsc, gofer, sentry
    const uids = await Promise.all(pids.map(async (pid) => (await hostProcess(pid))?.uid));
    expect(new Set(uids.filter((uid) => uid !== undefined))).toEqual(
      new Set([box.isolation.hostUid]),
    );
  });

  test('the agent channel is the only way in: the box sees no host descriptor but stdio', async () => {
    const fds = await box.exec('for f in /proc/1/fd/*; do echo "${f##*/}"; done');
    // The init shell holds only the channel (0), /dev/null (1) and the captured stderr (2).
    expect(fds.stdout.toString().split('\n').filter(Boolean).sort()).toEqual(['0', '1', '2']);
  });

  test('destroy leaves no process, runtime directory, cgroup or mount of the box', async () => {
    const id = uniqueId('gone');
    const doomed = await createSandbox({ driver: 'gvisor', id });
    const mountsBefore = await readFile('/proc/self/mountinfo', 'utf8');
    await doomed.exec('sleep 1000 >/dev/null 2>&1 & sleep 1000 >/dev/null 2>&1 &');
    const pids = await boxHostPids(doomed.boxPid);
    expect(pids.length).toBeGreaterThanOrEqual(4); // runsc, gofer, sentry, at least one stub
    const [dir] = await runtimeDirs(`${id}-`);
    expect(dir).toBeDefined();
    const cgroupDirs = cgroups.available ? await cgroups.dirs(id) : [];
    await doomed.destroy();
    // Killed processes may stay zombies until the host's init reaps them: none may run.
    const states = await Promise.all(pids.map(async (pid) => (await hostProcess(pid))?.state));
    expect(states.filter((state) => state !== undefined && state !== 'Z')).toEqual([]);
    expect(await runtimeDirs(`${id}-`)).toEqual([]);
    for (const cgroupDir of cgroupDirs) await expect(access(cgroupDir)).rejects.toThrow();
    const mountsAfter = await readFile('/proc/self/mountinfo', 'utf8');
    expect(mountsAfter).toBe(mountsBefore);
    for (const base of RUNTIME_BASES) expect(mountsAfter).not.toContain(base);
  });

  test('a box that fails during start-up rejects at once, quoting runsc', async () => {
    // "At once" is observable as the cause, not as a duration: it rejects because runsc exited
    // (quoting it), never because the driver's 30 s start deadline ran out.
    const error = await expectCode(
      () => createSandbox({ driver: 'gvisor', id: uniqueId('fail'), limits: { openFiles: 0 } }),
      'SANDBOX_START_FAILED',
    );
    expect(error.message).not.toMatch(/did not start within/);
    // runsc's own words (the failing step varies: importing fds, or the sandbox dying under it),
    // then the notable lines of its log.
    expect(error.message).toContain('running container: starting container');
    expect(error.message).toMatch(/runsc log: .*FATAL ERROR/s);
    expect(await runtimeDirs('fail-')).toEqual([]);
  });

  test("the caller's startTimeoutMs is the gVisor start's deadline, not the driver's 30 s", async () => {
    // 50 ms is less than runsc needs to start a box: the driver's own wait gives up, names the
    // caller's deadline and leaves nothing behind. (It used to wait its own 30 s regardless.)
    const error = await expectCode(
      () => createSandbox({ driver: 'gvisor', id: uniqueId('slow'), startTimeoutMs: 50 }),
      'SANDBOX_START_FAILED',
    );
    expect(error.message).toContain('the gVisor box did not start within 50 ms');
    expect(await runtimeDirs('slow-')).toEqual([]);
  });

  test('probeGvisor starts a real box on the chosen platform', async () => {
    const probe = await probeGvisor();
    expect(probe, probe.detail).toMatchObject({ ok: true });
    expect(probe.detail).toMatch(/platform (kvm|systrap|ptrace).*ran as uid 1000/);
    if (!oldRunsc) expect(probe.detail).not.toContain('rejects statx');
  });

  test.skipIf(oldRunsc)(
    `ls and stat work in the box (statx with AT_NO_AUTOMOUNT)${oldRunsc ? ` [skipped: runsc ${version || 'absent'} is older than 20240729; run setup.sh]` : ''}`,
    async () => {
      await box.exec('echo hi > /workspace/file');
      const listed = await box.exec(['ls', '-la', '/workspace']);
      expect(listed.stderr.toString()).toBe('');
      expect(listed).toMatchObject({ exitCode: 0 });
      expect(listed.stdout.toString()).toContain('file');
      const stat = await box.exec(['stat', '-c', '%s %u', '/workspace/file']);
      expect(stat.stderr.toString()).toBe('');
      expect(stat.stdout.toString()).toBe('3 1000\n');
    },
  );
});
