import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type Limits, resolveLimits } from '../../core/limits.js';
import { BOX_ENV } from '../../host/box-env.js';
import type { HostLayout } from '../../host/host-layout.js';
import type { OciSeccomp } from './oci-seccomp.js';
import { boxRlimits, type OciMount, ociSpec, readOnlyBinds } from './oci-spec.js';

const MiB = 1024 ** 2;

const layout: HostLayout = {
  usrSymlinks: [{ path: '/bin', target: 'usr/bin' }],
  rootDirs: [],
  etcBinds: ['/etc/ld.so.cache', '/etc/ssl/certs', '/etc/missing'],
  nodePath: '/opt/node/bin/node',
};
const kinds = new Map([
  ['/etc/ld.so.cache', 'file' as const],
  ['/etc/ssl/certs', 'directory' as const],
]);

function spec(limits: Partial<Limits> = {}, env: Record<string, string> = BOX_ENV) {
  return ociSpec({
    layout,
    limits: resolveLimits(limits),
    binds: readOnlyBinds(layout, kinds),
    args: ['/bin/true'],
    env,
  });
}

function mount(destination: string, mounts: OciMount[] = spec().mounts): OciMount | undefined {
  return mounts.find((entry) => entry.destination === destination);
}

describe('ociSpec', () => {
  it('runs the payload as uid 1000 without capabilities or new privileges, in /workspace', () => {
    const { process: proc } = spec();
    expect(proc.user).toEqual({ uid: 1000, gid: 1000 });
    expect(Object.values(proc.capabilities).flat()).toEqual([]);
    expect(proc.noNewPrivileges).toBe(true);
    expect(proc.terminal).toBe(false);
    expect(proc.cwd).toBe('/workspace');
  });

  it('has a read-only root, its own pid/net/ipc/uts/mount namespaces and hostname', () => {
    const result = spec();
    expect(result.root).toEqual({ path: 'rootfs', readonly: true });
    expect(result.linux.namespaces.map((ns) => ns.type).sort()).toEqual(
      ['ipc', 'mount', 'network', 'pid', 'uts'].sort(),
    );
    expect(result.hostname).toBe('ironclaw');
  });

  it('binds host /usr, the existing /etc entries and node read-only, and nothing else', () => {
    const binds = spec().mounts.filter((entry) => entry.type === 'bind');
    expect(binds.map((entry) => entry.destination)).toEqual([
      '/usr',
      '/etc/ld.so.cache',
      '/etc/ssl/certs',
      '/opt/node/bin/node',
    ]);
    for (const entry of binds) {
      expect(entry.source).toBe(entry.destination);
      expect(entry.options).toContain('ro');
    }
  });

  it('does not bind node again when it lives under /usr', () => {
    const binds = readOnlyBinds({ ...layout, nodePath: '/usr/bin/node' }, kinds);
    expect(binds.map((bind) => bind.path)).not.toContain('/usr/bin/node');
  });

  it('sizes /tmp, /workspace and /dev/shm from the limits, /workspace owned by uid 1000', () => {
    const mounts = spec({ tmpBytes: 8 * MiB, workspaceBytes: 3 * MiB }).mounts;
    expect(mount('/tmp', mounts)?.options).toEqual([`size=${8 * MiB}`, 'mode=1777']);
    expect(mount('/workspace', mounts)?.options).toEqual([
      `size=${3 * MiB}`,
      'mode=0755',
      'uid=1000',
      'gid=1000',
    ]);
    expect(mount('/dev/shm', mounts)?.options).toContain(`size=${8 * MiB}`);
    expect(mount('/dev/shm')?.options).toContain(`size=${64 * MiB}`); // capped like bwrap's
  });

  it('puts only the given environment in the box, never the host one', () => {
    process.env.IRONCLAW_OCI_CANARY = 'host-secret';
    try {
      const text = JSON.stringify(spec());
      expect(text).not.toContain('host-secret');
      expect(spec().process.env).toEqual(Object.entries(BOX_ENV).map(([k, v]) => `${k}=${v}`));
    } finally {
      delete process.env.IRONCLAW_OCI_CANARY;
    }
  });

  it('serializes any argv and environment as structured JSON that parses back unchanged', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    fc.assert(
      fc.property(
        fc.array(text, { maxLength: 5 }),
        fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/), text, { maxKeys: 5 }),
        (args, env) => {
          const built = ociSpec({
            layout,
            limits: DEFAULT_LIMITS,
            binds: [],
            args,
            env,
          });
          const parsed = JSON.parse(JSON.stringify(built)) as typeof built;
          expect(parsed).toEqual(built);
          expect(parsed.process.args).toEqual(args);
          expect(parsed.process.env).toEqual(Object.entries(env).map(([k, v]) => `${k}=${v}`));
        },
      ),
      { seed: 20221219, numRuns: 100 },
    );
  });
});

describe('ociSpec with a seccomp policy', () => {
  const seccomp: OciSeccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [{ names: ['ptrace'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
  const base = {
    layout,
    limits: resolveLimits({}),
    binds: readOnlyBinds(layout, kinds),
    args: ['/bin/true'],
    env: BOX_ENV,
  };

  it('carries the policy and the annotation that turns on runsc --oci-seccomp', () => {
    const withPolicy = ociSpec({ ...base, seccomp });
    expect(withPolicy.linux.seccomp).toEqual(seccomp);
    expect(withPolicy.annotations).toEqual({ 'dev.gvisor.flag.oci-seccomp': 'true' });
  });

  it('has neither without one (seccomp: none)', () => {
    const without = ociSpec(base);
    expect(without.linux).not.toHaveProperty('seccomp');
    expect(without).not.toHaveProperty('annotations');
  });
});

describe('boxRlimits', () => {
  it.each([
    [{ processes: 4096, pids: 512 }, 512],
    [{ processes: 300, pids: 512 }, 300],
    [{ processes: 128, pids: 4096 }, 128],
    [{ processes: 64, pids: 64 }, 64],
  ])('%j gives RLIMIT_NPROC %i (the box task limit is the smaller)', (limits, nproc) => {
    const byType = new Map(boxRlimits(resolveLimits(limits)).map((r) => [r.type, r]));
    expect(byType.get('RLIMIT_NPROC')).toEqual({ type: 'RLIMIT_NPROC', hard: nproc, soft: nproc });
  });

  it('sets nofile and fsize as asked, core to 0, soft equal to hard', () => {
    const rlimits = boxRlimits(resolveLimits({ openFiles: 256, fileSizeBytes: 5 * MiB }));
    expect(rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', hard: 256, soft: 256 },
      { type: 'RLIMIT_NPROC', hard: 512, soft: 512 },
      { type: 'RLIMIT_FSIZE', hard: 5 * MiB, soft: 5 * MiB },
      { type: 'RLIMIT_CORE', hard: 0, soft: 0 },
    ]);
  });
});
