// QEMU rows: raw QEMU booting the same kernel, initramfs and command line as IronClaw's qemu
// driver (its exact argv, read from a running VM) to the guest's first byte, beside IronClaw's
// cold createSandbox -> first exec result and the exec round trip on a live VM; then VMs
// restored from a template (create -> first result, and create alone), a warm pool of restored
// VMs (acquire -> first result), and the host memory (proportional set size) of an idle VM,
// restored and cold. A TCG boot costs seconds, so the cold rows take BENCH_QEMU_RUNS runs
// (default 5, after 1 warm-up), interleaved so drift hits every row alike; the restore rows take
// BENCH_QEMU_RESTORE_RUNS (default 20). Absent (with the reason) where QEMU is not installed.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { processFloor } from './box-floor.mjs';
import { repeat, row } from './stats.mjs';

const execFileAsync = promisify(execFile);
/** Idle time before an exec: long enough for the guest agent to make its next process. */
const IDLE_MS = 200;
/** The QEMU the driver runs (from PATH, unless IRONCLAW_QEMU names another). */
const QEMU = process.env.IRONCLAW_QEMU ?? 'qemu-system-x86_64';

/** @returns {Promise<string | undefined>} why QEMU rows cannot run here, if they cannot */
export async function qemuUnavailable() {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return 'the qemu driver needs x86-64 Linux';
  return execFileAsync(QEMU, ['--version']).then(
    () => undefined,
    () => `${QEMU} is not installed`,
  );
}

/**
 * @param {{ createSandbox: Function }} library
 * @param {import('./run.mjs').Plan} plan
 * @param {(message: string) => void} progress
 * @returns {Promise<import('./report.mjs').Row[]>}
 */
export async function measureQemu(library, plan, progress) {
  const runs = Number(process.env.BENCH_QEMU_RUNS ?? '5');
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error('BENCH_QEMU_RUNS must be a positive integer');
  const counts = { runs, warmup: 1, signal: plan.signal };
  // The first sandbox builds the image and probes KVM (untimed), and shows the driver's argv.
  const box = await library.createSandbox({
    driver: 'qemu',
    template: false,
    startTimeoutMs: 600_000,
  });
  let argv;
  const liveCounts = { runs: 20, warmup: counts.warmup, signal: plan.signal };
  let live, idle, ping, floor;
  try {
    const cmdline = await readFile(`/proc/${box.boxPid}/cmdline`, 'utf8');
    const words = cmdline.split('\0').filter(Boolean);
    argv = words.slice(1); // boxPid is QEMU itself: its argv, binary first
    progress(`qemu: ${box.isolation.layers.kernel?.detail ?? ''}`);
    live = await repeat(liveCounts, () => box.exec(['true']));
    idle = await repeat(liveCounts, () => box.exec(['true']), IDLE_MS);
    ping = await repeat(liveCounts, () => box.ping());
    floor = await processFloor(box, liveCounts);
  } finally {
    await box.destroy();
  }
  if ('reason' in floor) progress(`qemu floor row absent: ${floor.reason}`);
  /** @type {Record<string, number[]>} */
  const samples = { init: [], agent: [], cold: [] };
  for (let index = 0; index < counts.warmup + counts.runs; index++) {
    counts.signal.throwIfAborted();
    progress(`qemu run ${index + 1} of ${counts.warmup + counts.runs}`);
    const init = await rawBoot(argv, 'init');
    const agent = await rawBoot(argv, 'agent');
    const started = performance.now();
    const sandbox = await library.createSandbox({
      driver: 'qemu',
      template: false,
      startTimeoutMs: 120_000,
    });
    try {
      await sandbox.exec(['true']);
    } finally {
      await sandbox.destroy();
    }
    const cold = performance.now() - started;
    if (index >= counts.warmup) {
      samples.init.push(init);
      samples.agent.push(agent);
      samples.cold.push(cold);
    }
  }
  const ratio = median(samples.cold) / median(samples.agent);
  progress(
    `qemu: cold create -> first exec is ${ratio.toFixed(2)} x the raw boot to the agent's first byte (target <= 1.15)`,
  );
  return [
    row(
      'qemu-raw-init',
      "baseline: raw QEMU, same kernel + initramfs, to init's first byte (probe mode)",
      true,
      samples.init,
    ),
    row(
      'qemu-raw-agent',
      "baseline: raw QEMU, the driver's argv, to the guest agent's first byte (a ping)",
      false,
      samples.agent,
    ),
    row(
      'qemu-cold',
      `qemu cold API: createSandbox + exec(["true"]) (${ratio.toFixed(2)} x raw)`,
      false,
      samples.cold,
    ),
    row('qemu-exec', 'qemu live VM: exec(["true"])', true, live),
    row(
      'qemu-exec-idle',
      'qemu live VM: exec(["true"]) after 200 ms idle (its process made ahead of time)',
      true,
      idle,
    ),
    row('qemu-ping', 'qemu live VM: ping (the agent round trip, no process)', true, ping),
    ...('samples' in floor
      ? [
          row(
            'qemu-floor',
            'qemu live VM, inside, no agent: posix_spawn(/bin/true) + wait (floor of exec)',
            true,
            floor.samples,
          ),
        ]
      : []),
    ...(await measureTemplates(library, counts, progress)),
  ];
}

/**
 * @param {{ createSandbox: Function, SandboxPool: any }} library
 * @param {{ warmup: number, signal: AbortSignal }} counts
 * @param {(message: string) => void} progress
 * @returns {Promise<import('./report.mjs').Row[]>}
 */
async function measureTemplates(library, counts, progress) {
  const runs = Number(process.env.BENCH_QEMU_RESTORE_RUNS ?? '20');
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error('BENCH_QEMU_RESTORE_RUNS must be a positive integer');
  // The first restore makes the template if there is none (a cold boot, untimed).
  await (await library.createSandbox({ driver: 'qemu', startTimeoutMs: 300_000 })).destroy();
  /** @type {Record<string, number[]>} */
  const samples = { restore: [], ready: [], pool: [] };
  progress(`qemu: ${runs} restores from the template`);
  for (let index = 0; index < counts.warmup + runs; index++) {
    counts.signal.throwIfAborted();
    const started = performance.now();
    const sandbox = await library.createSandbox({ driver: 'qemu', startTimeoutMs: 60_000 });
    const ready = performance.now() - started;
    try {
      await sandbox.exec(['true']);
      if (index >= counts.warmup) {
        samples.restore.push(performance.now() - started);
        samples.ready.push(ready);
      }
    } finally {
      await sandbox.destroy();
    }
  }
  progress(`qemu: ${runs} acquisitions from a warm pool of restored VMs`);
  const pool = new library.SandboxPool({ size: 2, sandbox: { driver: 'qemu' } });
  try {
    pool.start();
    for (let index = 0; index < counts.warmup + runs; index++) {
      counts.signal.throwIfAborted();
      await pool.whenFull();
      const started = performance.now();
      const sandbox = await pool.acquire();
      try {
        await sandbox.exec(['true']);
        if (index >= counts.warmup) samples.pool.push(performance.now() - started);
      } finally {
        await sandbox.destroy();
      }
    }
  } finally {
    await pool.close();
  }
  const restored = await idleCost(library, { driver: 'qemu' });
  const cold = await idleCost(library, {
    driver: 'qemu',
    template: false,
    startTimeoutMs: 120_000,
  });
  progress(
    `qemu: idle VM proportional set size: restored ${restored.pssMiB.toFixed(1)} MiB, cold ${cold.pssMiB.toFixed(1)} MiB; CPU ${restored.cpuPercent.toFixed(1)}% of a core`,
  );
  return [
    row(
      'qemu-restore',
      'qemu template restore: createSandbox + exec(["true"])',
      false,
      samples.restore,
    ),
    row(
      'qemu-restore-ready',
      'qemu template restore: createSandbox (agent answers)',
      true,
      samples.ready,
    ),
    row(
      'qemu-pool',
      'qemu warm pool of restored VMs: acquire + exec(["true"])',
      false,
      samples.pool,
    ),
    {
      ...row('qemu-pss-restored', 'qemu idle VM host memory (PSS), restored', true, [
        restored.pssMiB,
      ]),
      unit: 'MiB',
    },
    {
      ...row('qemu-pss-cold', 'qemu idle VM host memory (PSS), booted cold', true, [cold.pssMiB]),
      unit: 'MiB',
    },
    {
      ...row('qemu-idle-cpu', 'qemu idle VM host CPU (% of one core over 5 s), restored', true, [
        restored.cpuPercent,
      ]),
      unit: '%',
    },
  ];
}

/**
 * What an idle VM's QEMU costs the host, with a second VM of the same kind running beside it,
 * after one exec and a pause: its proportional set size (shared pages divided among their
 * sharers) in MiB, and the CPU it uses over 5 s, in percent of one core.
 * @param {{ createSandbox: Function }} library @param {Record<string, unknown>} options
 */
async function idleCost(library, options) {
  const sandboxes = [await library.createSandbox(options), await library.createSandbox(options)];
  try {
    for (const sandbox of sandboxes) await sandbox.exec(['true']);
    await delay(1000);
    const pid = sandboxes[0].boxPid;
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kib = Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1]);
    const before = await cpuTicks(pid);
    await delay(5000);
    const ticks = (await cpuTicks(pid)) - before;
    return { pssMiB: kib / 1024, cpuPercent: (ticks / CLOCK_TICKS_PER_SECOND / 5) * 100 };
  } finally {
    await Promise.all(sandboxes.map((sandbox) => sandbox.destroy()));
  }
}

/** USER_HZ: the unit of /proc/<pid>/stat's times on every Linux the driver runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** @param {number} pid @returns {Promise<number>} user + system time in clock ticks */
async function cpuTicks(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3, state.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * Boots QEMU with the driver's argv, its socket paths moved to a scratch directory, and times
 * spawn -> first byte on the agent socket: init's probe reply, or the agent's answer to a ping
 * frame (u32 big-endian length + JSON) written as soon as QEMU connects.
 * @param {string[]} argv @param {'init' | 'agent'} until
 */
async function rawBoot(argv, until) {
  const dir = await mkdtemp(join(tmpdir(), 'ironclaw-bench-qemu-'));
  const agentSocket = join(dir, 'agent.sock');
  const args = argv.map((arg) =>
    arg
      .replace(/path=[^,]*agent\.sock/, `path=${agentSocket}`)
      .replace(/path=[^,]*control\.sock/, `path=${join(dir, 'control.sock')}`)
      .replace(/unix:[^,]*qmp\.sock/, `unix:${join(dir, 'qmp.sock')}`)
      .replace(/^(.* ironclaw\.tmp=.*)$/, until === 'init' ? '$1 ironclaw.probe=1' : '$1'),
  );
  const server = createServer();
  await new Promise((resolve) => server.listen(agentSocket, () => resolve(undefined)));
  // The restore helper's port, which the driver listens on too (nothing is said on it here).
  const control = createServer((socket) => socket.on('error', () => undefined));
  await new Promise((resolve) =>
    control.listen(join(dir, 'control.sock'), () => resolve(undefined)),
  );
  const started = performance.now();
  const child = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    return await new Promise((resolve, reject) => {
      child.once('exit', (code) =>
        reject(new Error(`raw QEMU exited (${code}) before the first byte`)),
      );
      server.once('connection', (socket) => {
        socket.on('error', () => undefined);
        socket.once('data', () => resolve(performance.now() - started));
        if (until === 'agent') {
          const body = Buffer.from(JSON.stringify({ t: 'req', id: 1, method: 'ping', params: {} }));
          const length = Buffer.alloc(4);
          length.writeUInt32BE(body.length);
          socket.write(Buffer.concat([length, body]));
        }
      });
    });
  } finally {
    child.kill('SIGKILL');
    server.close();
    control.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** @param {number[]} values */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
