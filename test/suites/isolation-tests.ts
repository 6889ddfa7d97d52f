import { randomBytes } from 'node:crypto';
import { access, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Sandbox } from '../../src/index.js';
import { listenAbstract, listenTcp } from '../support/counting-server.js';
import { hostProcess } from '../support/host-processes.js';
import { BOX_UID_TEXT, expectBoxUid } from '../support/box-uid.js';
import type { SuiteContext } from './suite-context.js';

/** Tries each target from inside the box; prints one "connected" or "refused" line per target. */
const CONNECT_PY = `
import socket, sys
def attempt(label, family, address):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(address)
        print('connected', label)
    except OSError as error:
        print('refused', label, type(error).__name__)
    finally:
        s.close()
port = int(sys.argv[1])
attempt('abstract', socket.AF_UNIX, '\\0' + sys.argv[2])
for host in sys.argv[3:]:
    attempt(host, socket.AF_INET, (host, port))
`;

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Attacks a box must not get away with. Each canary is readable or reachable by the box's host
 * uid, so only the isolation layer under test stands between it and the box.
 */
export function defineIsolationTests(ctx: SuiteContext): void {
  describe('isolation', () => {
    const canary = `canary-${randomBytes(12).toString('hex')}`;
    const savedCanary = process.env.IRONCLAW_CANARY;
    const hostDirs: string[] = [];
    let box: Sandbox;

    beforeAll(async () => {
      process.env.IRONCLAW_CANARY = canary; // set before the box starts: it must not inherit it
      box = await ctx.create();
    });
    afterAll(async () => {
      if (savedCanary === undefined) delete process.env.IRONCLAW_CANARY;
      else process.env.IRONCLAW_CANARY = savedCanary;
      await box?.destroy();
      await Promise.allSettled(hostDirs.map((dir) => rm(dir, { recursive: true, force: true })));
    });

    /** A world-readable canary file in a fresh host directory under `parent`. */
    async function hostCanary(parent: string): Promise<string> {
      const dir = await mkdtemp(join(parent, 'ironclaw-canary-'));
      hostDirs.push(dir);
      await chmod(dir, 0o755);
      const file = join(dir, 'secret.txt');
      await writeFile(file, canary, { mode: 0o644 });
      return file;
    }

    test('host files outside the box mounts are not visible (/var/tmp, host /tmp, the repo)', async () => {
      const files = [
        await hostCanary('/var/tmp'),
        await hostCanary(tmpdir()),
        join(REPO_ROOT, 'package.json'),
      ];
      const result = await box.exec([
        'sh',
        '-c',
        'for f; do if cat "$f" 2>/dev/null; then echo "READ $f"; else echo "absent $f"; fi; done',
        'sh',
        ...files,
      ]);
      expect(result.stdout.toString()).toBe(files.map((file) => `absent ${file}\n`).join(''));
      expect(result.stdout.toString()).not.toContain(canary);
    });

    test('the root filesystem is read-only: writes to /usr, /etc and / fail, nothing lands on the host', async () => {
      const name = `ironclaw-probe-${randomBytes(6).toString('hex')}`;
      const result = await box.exec([
        'sh',
        '-c',
        'for p; do if touch "$p" 2>/dev/null || mkdir "$p" 2>/dev/null; then echo "WROTE $p"; else echo "refused $p"; fi; done; touch /usr/x 2>&1 || true',
        'sh',
        `/usr/${name}`,
        `/usr/bin/${name}`,
        `/etc/${name}`,
        `/${name}`,
      ]);
      const out = result.stdout.toString();
      expect(out).toContain(
        `refused /usr/${name}\nrefused /usr/bin/${name}\nrefused /etc/${name}\nrefused /${name}\n`,
      );
      if (ctx.driver === 'gvisor') {
        // gVisor checks permissions before the mount's read-only flag, so uid 1000 gets EACCES
        // here; the mounts must still say read-only (the gofer also serves them read-only).
        expect(out).toContain('Permission denied');
        const mounts = (await box.exec(['cat', '/proc/self/mounts'])).stdout.toString();
        expect(mounts).toMatch(/^\S+ \/ \S+ ro[,\s]/m);
        expect(mounts).toMatch(/^\S+ \/usr \S+ ro[,\s]/m);
      } else {
        expect(out).toContain('Read-only file system');
      }
      await expect(access(`/usr/${name}`)).rejects.toThrow();
      await expect(access(`/usr/bin/${name}`)).rejects.toThrow();
    });

    test('/workspace and /tmp are writable, and what the box writes the file API reads', async () => {
      const result = await box.exec(
        'echo from-exec > /workspace/w.txt && echo from-exec > /tmp/t.txt && echo ok',
      );
      expect(result.stdout.toString()).toBe('ok\n');
      expect((await box.readFile('/workspace/w.txt')).toString()).toBe('from-exec\n');
      expect((await box.readFile('/tmp/t.txt')).toString()).toBe('from-exec\n');
      await box.writeFile('/workspace/api.txt', 'from-api');
      expect((await box.exec(['cat', '/workspace/api.txt'])).stdout.toString()).toBe('from-api');
    });

    test('the network is loopback only: host TCP (127.0.0.1 and host addresses) and abstract sockets are unreachable', async () => {
      const tcp = await listenTcp();
      const abstractName = `ironclaw-canary-${randomBytes(6).toString('hex')}`;
      const abstract = await listenAbstract(abstractName);
      try {
        const hosts = ['127.0.0.1', ...hostIPv4Addresses()];
        await box.writeFile('/tmp/connect.py', CONNECT_PY);
        const result = await box.exec(
          ['python3', '/tmp/connect.py', String(tcp.port), abstractName, ...hosts],
          { timeoutMs: 25_000 },
        );
        const lines = result.stdout.toString().trim().split('\n');
        expect(lines, result.stderr.toString()).toHaveLength(hosts.length + 1); // every attempt ran
        expect(lines.filter((line) => !line.startsWith('refused '))).toEqual([]);
        expect(tcp.connections).toBe(0);
        expect(abstract.connections).toBe(0);
      } finally {
        await Promise.all([tcp.close(), abstract.close()]);
      }
    });

    test('only the loopback interface exists (/proc/net/dev)', async () => {
      const result = await box.exec(['cat', '/proc/net/dev']);
      const names = result.stdout
        .toString()
        .split('\n')
        .slice(2)
        .filter(Boolean)
        .map((line) => line.split(':')[0]?.trim());
      expect(names).toEqual(['lo']);
    });

    test('no host environment variable reaches the box (canary set in the test process)', async () => {
      expect(process.env.IRONCLAW_CANARY).toBe(canary);
      const env = await box.exec(['env']);
      expect(env.stdout.toString()).not.toContain('IRONCLAW_CANARY');
      expect(env.stdout.toString()).not.toContain(canary);
      // Nor is it in the initial environment of any box process (the agent's included).
      const initial = await box.exec('cat /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n"');
      expect(initial.stdout.toString()).toContain('PATH=');
      expect(initial.stdout.toString()).not.toContain(canary);
    });

    test('/proc shows only the box processes', async () => {
      // runsc 20221219 rejects the statx flags (AT_NO_AUTOMOUNT) of this Debian's ls with EINVAL.
      const list =
        ctx.driver === 'gvisor' ? 'for p in /proc/*; do echo "${p#/proc/}"; done' : 'ls /proc';
      const result = await box.exec(`${list}; echo ---; cat /proc/1/cmdline | tr "\\0" " "`);
      const [listing = '', init = ''] = result.stdout.toString().split('---\n');
      const pids = listing
        .split('\n')
        .filter((name) => /^\d+$/.test(name))
        .map(Number);
      expect(pids.length).toBeGreaterThan(0);
      expect(pids.length).toBeLessThan(10); // init, agent, this shell, ls: not the host's hundreds
      expect(pids).not.toContain(process.pid);
      const hostInit = (await readFile('/proc/1/cmdline', 'utf8')).replaceAll('\0', ' ');
      expect(init).not.toBe(hostInit); // the box's pid 1 is its own init, not the host's
    });

    test('the box process has no capabilities, no new privileges and uid 1000', async () => {
      const status = (await box.exec(['cat', '/proc/self/status'])).stdout.toString();
      const field = (name: string): string | undefined =>
        new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1];
      // runsc 20221219's /proc/<pid>/status has no CapAmb and no NoNewPrivs line: under gVisor
      // both are read with prctl (PR_GET_NO_NEW_PRIVS, PR_CAP_AMBIENT_IS_SET for caps 0..40).
      const sets = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd'];
      for (const set of ctx.driver === 'gvisor' ? sets : [...sets, 'CapAmb'])
        expect(field(set), set).toBe('0000000000000000');
      expect(field('Uid')?.split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
      expect(field('Gid')?.split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
      if (ctx.driver === 'gvisor') {
        const prctl = await box.exec([
          'python3',
          '-c',
          'import ctypes; c = ctypes.CDLL(None); print(c.prctl(39, 0, 0, 0, 0), sum(c.prctl(47, 1, n, 0, 0) == 1 for n in range(41)))',
        ]);
        expect(prctl.stdout.toString(), prctl.stderr.toString()).toBe('1 0\n');
      } else {
        expect(field('NoNewPrivs')).toBe('1');
      }
      expect((await box.exec(['id', '-u'])).stdout.toString()).toBe('1000\n');
    });

    test('has its own hostname (uts namespace)', async () => {
      const name = (await box.exec(['cat', '/proc/sys/kernel/hostname'])).stdout.toString().trim();
      expect(name).toBe('ironclaw');
      expect(name).not.toBe(hostname());
    });

    const vm = ctx.options.vm === true;
    test(`reports its isolation honestly (cgroup ${vm ? 'on, in the guest kernel' : ctx.options.cgroups.available ? 'on' : `off: ${ctx.options.cgroups.reason}`})`, async () => {
      const { isolation } = box;
      expect(isolation.driver).toBe(ctx.driver);
      expectBoxUid(isolation.hostUid);
      for (const layer of ['namespaces', 'filesystem', 'network', 'rlimits'] as const)
        expect(isolation.layers[layer].on, layer).toBe(true);
      const { cgroups } = ctx.options;
      if (vm) {
        // The box's own kernel enforces the limits; the report says which kernel and how it runs.
        expect(isolation.layers.cgroup.on).toBe(true);
        expect(isolation.layers.cgroup.detail).toMatch(/guest/);
        expect(isolation.layers.kernel?.on).toBe(true);
        expect(isolation.layers.kernel?.detail).toMatch(/\b(KVM|TCG)\b/);
      } else if (cgroups.available) {
        expect(isolation.layers.cgroup.on).toBe(true);
        for (const dir of await cgroups.dirs(box.id))
          expect(isolation.layers.cgroup.detail).toContain(dir);
      } else {
        expect(isolation.layers.cgroup.on).toBe(false);
        expect(isolation.layers.cgroup.detail).toMatch(/not writable|no cgroup|needs root|delegat/);
      }
      for (const layer of Object.values(isolation.layers))
        expect(layer.detail.length).toBeGreaterThan(0);
    });

    test.skipIf(!ctx.options.hostPidNamespace)(
      `its processes run as ${BOX_UID_TEXT}, the one its report names (seen from the host)${ctx.options.hostPidNamespace ? '' : ` [skipped: ${ctx.driver} box processes are not host processes]`}`,
      async () => {
        const init = await hostProcess(box.boxPid);
        expect(init?.uid).toBe(box.isolation.hostUid);
        expectBoxUid(init?.uid);
      },
    );
  });
}

function hostIPv4Addresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((infos) => infos ?? [])
    .filter((info) => info.family === 'IPv4' && !info.internal)
    .map((info) => info.address);
}
