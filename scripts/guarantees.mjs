// What each driver guarantees, layer by layer, and which test shows it: the one statement the
// README's "Guarantees by driver" table is generated from (`node scripts/guarantees.mjs --write`
// rewrites it; test/guarantees.test.ts fails when the README and this data differ, when a
// driver of src/drivers has no row, when a row contradicts the driver's declared capabilities,
// or when a named test file does not exist).
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The layers, as columns: each an isolation-report layer or a fact about the box's host side. */
export const LAYERS = [
  { id: 'namespaces', title: 'Namespaces' },
  { id: 'seccomp', title: 'Our seccomp policy on box processes' },
  { id: 'kernel', title: 'Own kernel' },
  { id: 'jail', title: 'Outer jail (VMM, sentry)' },
  { id: 'cgroups', title: 'cgroups' },
  { id: 'uid', title: 'Per-box host uid' },
  { id: 'network', title: 'Network modes' },
];

/**
 * @typedef {{ holds: 'yes' | 'no' | 'partly', what: string, proof: string[] }} Cell
 * proof: test files of the repository, or words saying why there is none.
 */

/** @type {Record<string, Record<string, Cell>>} */
export const GUARANTEES = {
  bwrap: {
    namespaces: {
      holds: 'yes',
      what: 'user, pid, net, ipc, uts, cgroup; uid 1000 with no capabilities',
      proof: ['test/suites/isolation-tests.ts'],
    },
    seccomp: {
      holds: 'yes',
      what: 'bwrap --seccomp, on every box process',
      proof: ['test/suites/seccomp-tests.ts', 'test/seccomp-kernel.test.ts'],
    },
    kernel: { holds: 'no', what: "the host's", proof: [] },
    jail: { holds: 'no', what: 'none: the box is the outermost layer', proof: [] },
    cgroups: {
      holds: 'yes',
      what: 'memory and pids, as root or in a delegated cgroup',
      proof: ['test/suites/limit-tests.ts'],
    },
    uid: {
      holds: 'yes',
      what: "as root, by default (`boxUids: false`: one shared uid); unprivileged no: the caller's uid",
      proof: ['test/box-uids.test.ts'],
    },
    network: {
      holds: 'yes',
      what: 'none (loopback only), or egress through the proxy (`allowNet`)',
      proof: ['test/suites/isolation-tests.ts', 'test/egress.test.ts'],
    },
  },
  gvisor: {
    namespaces: {
      holds: 'yes',
      what: "box processes exist only in gVisor's kernel; the sentry in new namespaces, chrooted",
      proof: ['test/suites/isolation-tests.ts', 'test/gvisor-driver.test.ts'],
    },
    seccomp: {
      holds: 'yes',
      what: 'OCI `linux.seccomp`, enforced by the sentry',
      proof: ['test/suites/seccomp-tests.ts', 'src/drivers/gvisor/oci-seccomp.test.ts'],
    },
    kernel: {
      holds: 'yes',
      what: "gVisor's user-space kernel (ptrace or systrap, by probe)",
      proof: ['test/gvisor-driver.test.ts'],
    },
    jail: {
      holds: 'yes',
      what: "runsc's own seccomp filter; the sentry without capabilities (`--directfs=false`), as root run rootless as the box's uid",
      proof: ['test/gvisor-driver.test.ts', 'test/suites/isolation-tests.ts'],
    },
    cgroups: {
      holds: 'yes',
      what: 'memory for the whole sandbox; tasks by RLIMIT_NPROC in its kernel',
      proof: ['test/suites/limit-tests.ts'],
    },
    uid: {
      holds: 'yes',
      what: "as root, runsc, gofer and sentry run rootless as the box's uid",
      proof: ['test/gvisor-driver.test.ts', 'test/box-uids.test.ts'],
    },
    network: {
      holds: 'yes',
      what: 'none (`runsc --network=none`), or egress as streams over the agent channel (`allowNet`)',
      proof: ['test/suites/isolation-tests.ts', 'test/egress.test.ts'],
    },
  },
  qemu: {
    namespaces: {
      holds: 'yes',
      what: "the guest kernel's; the VMM in its own user, mount, pid, net, ipc, uts namespaces",
      proof: ['test/suites/isolation-tests.ts', 'test/qemu-driver.test.ts'],
    },
    seccomp: {
      holds: 'yes',
      what: 'the same compiled filter, installed by the guest agent in every command before exec',
      proof: ['test/suites/seccomp-tests.ts', 'test/sandbox-qemu.test.ts'],
    },
    kernel: {
      holds: 'yes',
      what: 'its own Linux in a QEMU microvm (TCG or KVM)',
      proof: ['test/qemu-driver.test.ts'],
    },
    jail: {
      holds: 'yes',
      what: 'the VMM as the box uid, in namespaces, with seccomp filters',
      proof: ['test/qemu-vmm-seccomp.test.ts', 'test/qemu-driver.test.ts'],
    },
    cgroups: {
      holds: 'yes',
      what: "in the guest kernel; the VM's RAM bounds the rest",
      proof: ['test/suites/limit-tests.ts'],
    },
    uid: {
      holds: 'yes',
      what: "as root, the jailed VMM runs as the box's uid",
      proof: ['test/qemu-driver.test.ts', 'test/qemu-vmm-seccomp.test.ts'],
    },
    network: {
      holds: 'yes',
      what: 'none (no NIC), or egress as streams over the virtio-serial channel (`allowNet`)',
      proof: ['test/suites/isolation-tests.ts', 'test/egress.test.ts'],
    },
  },
  firecracker: {
    namespaces: {
      holds: 'yes',
      what: "the guest kernel's; the VMM jailed in mount and pid namespaces",
      proof: ['test/firecracker-jailer.test.ts'],
    },
    seccomp: {
      holds: 'yes',
      what: "the same guest agent and image as QEMU's",
      proof: [
        'test/firecracker-driver.test.ts',
        'the guest code is proven under QEMU: no KVM here',
      ],
    },
    kernel: {
      holds: 'yes',
      what: 'its own Linux under KVM',
      proof: ['test/firecracker-contract.test.ts', 'untested live: no KVM here'],
    },
    jail: {
      holds: 'yes',
      what: "the jailer, and Firecracker's seccomp filters",
      proof: ['test/firecracker-jailer.test.ts', 'test/firecracker-seccomp.test.ts'],
    },
    cgroups: {
      holds: 'yes',
      what: 'memory and pids on the VMM',
      proof: ['test/firecracker-driver.test.ts', 'the report only: no KVM here'],
    },
    uid: {
      holds: 'partly',
      what: "the jailer runs the VMM as the box's uid",
      proof: ['test/firecracker-jailer.test.ts', 'no VM booted: no KVM here'],
    },
    network: {
      holds: 'yes',
      what: 'none (no NIC), or egress as streams over vsock (`allowNet`)',
      proof: ['test/firecracker-driver.test.ts', 'test/firecracker-guest-relay.test.ts'],
    },
  },
};

export const START = '<!-- guarantees: generated by scripts/guarantees.mjs; do not edit -->';
export const END = '<!-- guarantees: end -->';

const MARK = { yes: 'yes', no: 'no', partly: 'partly' };

/** Whether a proof item names a file of the repository (else it is a reason, in words). */
export function isFile(item) {
  return /^(test|src|bench)\//.test(item);
}

/** The README table: one row per layer, one column per driver. */
export function guaranteeTable(guarantees = GUARANTEES) {
  const drivers = Object.keys(guarantees);
  const lines = [
    `| Layer | ${drivers.map((driver) => `\`${driver}\``).join(' | ')} |`,
    `| --- | ${drivers.map(() => '---').join(' | ')} |`,
  ];
  for (const layer of LAYERS) {
    const cells = drivers.map((driver) => {
      const cell = guarantees[driver]?.[layer.id];
      if (!cell) return '?';
      const proof = cell.proof.map((item) => (isFile(item) ? `\`${item}\`` : item));
      return `**${MARK[cell.holds]}**: ${cell.what}${proof.length ? ` (${proof.join(', ')})` : ''}`;
    });
    lines.push(`| ${layer.title} | ${cells.join(' | ')} |`);
  }
  return `${START}\n${lines.join('\n')}\n${END}`;
}

/** README.md's text with its generated table replaced by `table`. */
export function withTable(readme, table) {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${START} ... ${END} section`);
  return `${readme.slice(0, start)}${table}${readme.slice(end + END.length)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));
  const readme = await readFile(readmePath, 'utf8');
  const updated = withTable(readme, guaranteeTable());
  if (process.argv.includes('--write')) await writeFile(readmePath, updated);
  else process.stdout.write(`${guaranteeTable()}\n`);
}
