// Rows timed inside this process through the library API. Box creation and destruction that a
// row does not claim to measure happen outside the timed part, so each row times one thing.
import { performance } from 'node:perf_hooks';

/**
 * The library's entry, passed in: it is imported from the benchmark's own copy of the package
 * (see snapshot.mjs), not from ../dist/, which others may be rebuilding.
 * @typedef {typeof import('../dist/index.js')} Library
 */

/** @typedef {{ total: number[], parts: Record<string, number[]> }} Timings */
/** @typedef {import('./run.mjs').Plan} Plan */

/** @param {{ exitCode: number }} result @param {string} what */
function expectSuccess(result, what) {
  if (result.exitCode !== 0)
    throw new Error(`${what} returned exit code ${result.exitCode}, expected 0`);
}

/** @param {string[]} names @returns {Timings} */
function timings(names) {
  return { total: [], parts: Object.fromEntries(names.map((name) => [name, []])) };
}

/**
 * Warm pool: take a ready box and run the first command in it. Returning the box and waiting
 * for the pool to refill sit outside the timed part, so every acquisition finds a ready box.
 * @param {Library} library
 * @param {Plan} counts
 */
export async function measureWarmPool({ SandboxPool }, counts) {
  /** @type {unknown} */
  let poolError;
  const pool = new SandboxPool({
    size: 2,
    // The pool retries with back-off forever; a benchmark should stop and say why instead.
    onError: (error) => {
      poolError ??= error;
      void pool.close();
    },
  });
  const result = timings(['acquire', 'exec', 'execInGuest']);
  try {
    for (let run = 0; run < counts.warmup + counts.runs; run++) {
      counts.signal.throwIfAborted();
      await pool.whenFull();
      if (poolError)
        throw new Error('the warm pool could not start a sandbox', { cause: poolError });
      const t0 = performance.now();
      const sandbox = await pool.acquire();
      try {
        const t1 = performance.now();
        const output = await sandbox.exec(['true']);
        const t2 = performance.now();
        expectSuccess(output, 'warm pool exec true');
        if (run >= counts.warmup)
          record(result, t2 - t0, {
            acquire: t1 - t0,
            exec: t2 - t1,
            execInGuest: output.durationMs,
          });
      } finally {
        await sandbox.destroy();
      }
    }
  } finally {
    await pool.close();
  }
  return result;
}

/**
 * No pool: create a box and run the first command in it; destroying it is not timed.
 * @param {Library} library
 * @param {Plan} counts
 */
export async function measureColdApi({ createSandbox }, counts) {
  const result = timings(['create', 'exec', 'execInGuest']);
  for (let run = 0; run < counts.warmup + counts.runs; run++) {
    counts.signal.throwIfAborted();
    const t0 = performance.now();
    const sandbox = await createSandbox();
    try {
      const t1 = performance.now();
      const output = await sandbox.exec(['true']);
      const t2 = performance.now();
      expectSuccess(output, 'cold API exec true');
      if (run >= counts.warmup)
        record(result, t2 - t0, { create: t1 - t0, exec: t2 - t1, execInGuest: output.durationMs });
    } finally {
      await sandbox.destroy();
    }
  }
  return result;
}

/**
 * One live box, commands repeated: the round trip host → guest agent → process → result.
 * argv and shell forms alternate so both see the same background load.
 * @param {Library} library
 * @param {Plan} counts
 */
export async function measureLiveExec({ createSandbox }, counts) {
  const argv = timings(['inGuest']);
  const shell = timings(['inGuest']);
  const sandbox = await createSandbox();
  try {
    for (let run = 0; run < counts.warmup + counts.runs; run++) {
      counts.signal.throwIfAborted();
      for (const [form, command] of /** @type {const} */ ([
        [argv, ['true']],
        [shell, 'true'],
      ])) {
        const t0 = performance.now();
        const output = await sandbox.exec(command);
        const ms = performance.now() - t0;
        expectSuccess(output, `live exec ${JSON.stringify(command)}`);
        // The guest's own spawn-to-exit time: the rest of the round trip is channel and agent.
        if (run >= counts.warmup) record(form, ms, { inGuest: output.durationMs });
      }
    }
  } finally {
    await sandbox.destroy();
  }
  return { argv, shell };
}

/** @param {Timings} into @param {number} total @param {Record<string, number>} parts */
function record(into, total, parts) {
  into.total.push(total);
  for (const [name, ms] of Object.entries(parts)) into.parts[name]?.push(ms);
}
