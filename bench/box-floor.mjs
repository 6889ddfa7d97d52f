// The floor under a live box's exec round trip: the cheapest way to start a process in that box,
// measured inside the box, with no agent, channel or host in the loop. python3's posix_spawn
// (vfork + exec) of /bin/true and a waitpid, timed by the box's own clock. No exec through any
// guest agent can be faster than this on the same box, so a target below it is out of reach on
// this machine's platform, whatever the agent does. `program` replaces /bin/true's argv, to time
// what a step in front of the command (a VM's seccomp loader) adds to the same spawn.

const SCRIPT = `
import os, sys, time
samples = []
program = sys.argv[2:] or ['/bin/true']
for _ in range(int(sys.argv[1])):
    started = time.perf_counter()
    _, status = os.waitpid(os.posix_spawn(program[0], program, {}), 0)
    if status != 0:
        sys.exit('%s exited with wait status %d' % (program[0], status))
    samples.append((time.perf_counter() - started) * 1000)
print(' '.join(f'{sample:.4f}' for sample in samples))
`;

/**
 * @param {{ exec: Function }} sandbox a live box
 * @param {{ warmup: number, runs: number }} counts
 * @param {string[]} [program] what to spawn, by absolute path (default /bin/true)
 * @returns {Promise<{ samples: number[] } | { reason: string }>}
 */
export async function processFloor(sandbox, counts, program = []) {
  const result = await sandbox.exec([
    'python3',
    '-c',
    SCRIPT,
    String(counts.warmup + counts.runs),
    ...program,
  ]);
  if (result.exitCode === 127) return { reason: 'the box has no python3 to measure it with' };
  if (result.exitCode !== 0)
    throw new Error(`the floor measurement failed (${result.exitCode}): ${result.stderr}`);
  const samples = result.stdout.toString().trim().split(' ').map(Number);
  return { samples: samples.slice(counts.warmup) };
}
