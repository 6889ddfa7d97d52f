// gVisor rows: raw `runsc do` as the baseline, beside IronClaw's gVisor one-shot run (create ->
// first result, in process and through the CLI), a gVisor sandbox with its guest agent, and the
// exec round trip on a live gVisor box. Absent (with the reason) where runsc is not installed.
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { promisify } from 'node:util';
import { measureInterleaved } from './process-rows.mjs';
import { processFloor } from './box-floor.mjs';
import { repeat, row, summarize } from './stats.mjs';

const execFileAsync = promisify(execFile);
/** Idle time before an exec: long enough for the guest agent to make its next process. */
const IDLE_MS = 200;

/** The runsc the gvisor driver prefers (src/drivers/gvisor/platform.ts): the raw rows use it too. */
async function runscPath() {
  if (process.env.IRONCLAW_RUNSC) return process.env.IRONCLAW_RUNSC;
  const own = '/opt/ironclaw/runsc/runsc';
  return access(own, constants.X_OK).then(
    () => own,
    () => 'runsc',
  );
}

/** @returns {Promise<string | undefined>} why gVisor rows cannot run here, if they cannot */
export async function gvisorUnavailable() {
  if (process.getuid?.() !== 0) return 'raw `runsc do` needs root';
  return execFileAsync(await runscPath(), ['--version']).then(
    () => undefined,
    () => 'runsc is not installed',
  );
}

/** A workload the platforms differ on: 50 process starts, each a few dozen system calls. */
const SPAWN_LOOP = 'i=0; while [ $i -lt 50 ]; do /bin/true; i=$((i+1)); done';

/**
 * Raw `runsc do` rows per platform this runsc has, but kvm (which hangs where it is listed but
 * unusable, and is the driver's only when its probe box ran): a start (`true`) and a workload of
 * process starts, where the platform's system-call interception is most of the cost. The driver
 * races ptrace and systrap at its probe and keeps the faster that works; these rows show the
 * same comparison with more samples.
 */
async function platformRows(runsc) {
  const { stdout } = await execFileAsync(runsc, ['help', 'platforms']);
  const listed = stdout.split('\n').map((line) => line.trim());
  return ['ptrace', 'systrap']
    .filter((platform) => listed.includes(platform))
    .flatMap((platform) => [
      {
        id: platform === 'ptrace' ? 'runsc' : `runsc-${platform}`,
        name: `baseline: raw runsc --platform=${platform} --network=none do true`,
        informational: platform !== 'ptrace',
        command: [runsc, `--platform=${platform}`, '--network=none', 'do', 'true'],
      },
      {
        id: `runsc-${platform}-spawns`,
        name: `platform: raw runsc --platform=${platform} do sh -c '50 x /bin/true'`,
        informational: true,
        command: [runsc, `--platform=${platform}`, '--network=none', 'do', 'sh', '-c', SPAWN_LOOP],
      },
    ]);
}

/**
 * @param {{ runOnce: Function, createSandbox: Function }} library
 * @param {string} cli path of bin/ironclaw.cjs
 * @param {import('./run.mjs').Plan} counts
 * @returns {Promise<import('./report.mjs').Row[]>}
 */
export async function measureGvisor(library, cli, counts) {
  // The platform probe (and its cached verdict) happens once, before anything is timed.
  await library.runOnce(['true'], { driver: 'gvisor', stdio: 'pipe' });
  const processRows = [
    ...(await platformRows(await runscPath())),
    {
      id: 'gvisor-cli',
      name: 'gvisor cold: ironclaw exec --driver gvisor -- true',
      informational: true,
      command: [process.execPath, cli, 'exec', '--driver', 'gvisor', '--', 'true'],
    },
  ];
  const measured = await measureInterleaved(processRows, counts);
  /** @type {import('./report.mjs').Row[]} */
  const rows = processRows.map((processRow, index) => {
    const { samples, failures } = measured[index] ?? { samples: [], failures: [] };
    return { ...processRow, samples, stats: summarize(samples), failures };
  });
  rows.push(
    row(
      'gvisor-once',
      'gvisor cold: runOnce(["true"]) create -> first result',
      false,
      await repeat(counts, async () => {
        const result = await library.runOnce(['true'], { driver: 'gvisor', stdio: 'pipe' });
        if (result.exitCode !== 0) throw new Error(`gvisor runOnce exited ${result.exitCode}`);
      }),
    ),
    row(
      'gvisor-api',
      'gvisor cold API: createSandbox + exec(["true"])',
      true,
      await repeat(counts, async () => {
        const sandbox = await library.createSandbox({ driver: 'gvisor' });
        try {
          await sandbox.exec(['true']);
        } finally {
          await sandbox.destroy();
        }
      }),
    ),
  );
  const sandbox = await library.createSandbox({ driver: 'gvisor' });
  try {
    rows.push(
      row(
        'gvisor-exec',
        'gvisor live box: exec(["true"])',
        false,
        await repeat(counts, () => sandbox.exec(['true'])),
      ),
      row(
        'gvisor-exec-idle',
        'gvisor live box: exec(["true"]) after 200 ms idle (its process made ahead of time)',
        true,
        await repeat(counts, () => sandbox.exec(['true']), IDLE_MS),
      ),
      row(
        'gvisor-ping',
        'gvisor live box: ping (the agent round trip, no process)',
        true,
        await repeat(counts, () => sandbox.ping()),
      ),
    );
    const floor = await processFloor(sandbox, counts);
    if ('samples' in floor)
      rows.push(
        row(
          'gvisor-floor',
          'gvisor live box, inside, no agent: posix_spawn(/bin/true) + wait (floor of exec)',
          true,
          floor.samples,
        ),
      );
    else process.stderr.write(`gvisor floor row absent: ${floor.reason}\n`);
  } finally {
    await sandbox.destroy();
  }
  return rows;
}
