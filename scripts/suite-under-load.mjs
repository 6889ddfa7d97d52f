// Runs the test suite N times in a row while a CPU hog keeps every core busy (issue 13, §7: the
// suite must hold under load, so no test may lean on timing). Stops at the first failing run,
// prints each run's result and duration, and always ends the hog, whatever ends this script.
//
//   node scripts/suite-under-load.mjs                 # npm test, 3 runs
//   node scripts/suite-under-load.mjs --runs 5
//   node scripts/suite-under-load.mjs test/a.test.ts  # only these files (npx vitest run FILES)
//
// The hog is one busy loop per core (nproc), at nice 0 like the tests: it competes with them
// rather than yielding. Exit status: 0 when every run passed, else the failing run's status.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

const USAGE = 'usage: node scripts/suite-under-load.mjs [--runs N] [TEST_FILE...]';

/** @param {string[]} argv */
function parse(argv) {
  let runs = 3;
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--runs') {
      runs = Number(argv[++i]);
      if (!Number.isInteger(runs) || runs < 1)
        throw new Error(`--runs needs a whole number >= 1; ${USAGE}`);
    } else if (arg === '-h' || arg === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg?.startsWith('-')) {
      throw new Error(`unknown option ${arg}; ${USAGE}`);
    } else if (arg !== undefined) {
      files.push(arg);
    }
  }
  return { runs, files };
}

/** One busy loop per core, each in its own process group so that it is ended whole. */
function startHog() {
  const cores = availableParallelism();
  return Array.from({ length: cores }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore', detached: true }),
  );
}

/** @param {import('node:child_process').ChildProcess[]} hog */
function stopHog(hog) {
  for (const child of hog) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/**
 * @param {string[]} command
 * @returns {Promise<number>}
 */
function run(command) {
  const [program, ...args] = command;
  return new Promise((resolve) => {
    const child = spawn(/** @type {string} */ (program), args, { stdio: 'inherit' });
    child.once('error', (error) => {
      console.error(`suite-under-load: cannot run ${program}: ${error.message}`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
  });
}

let options;
try {
  options = parse(process.argv.slice(2));
} catch (error) {
  console.error(`suite-under-load: ${/** @type {Error} */ (error).message}`);
  process.exit(2);
}
const command =
  options.files.length > 0 ? ['npx', 'vitest', 'run', ...options.files] : ['npm', 'test'];
const hog = startHog();
const end = () => stopHog(hog);
process.once('exit', end);
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
  process.once(signal, () => {
    end();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}
console.error(
  `suite-under-load: ${hog.length} busy loops (one per core); ${options.runs} runs of: ${command.join(' ')}`,
);
const results = [];
let status = 0;
for (let i = 1; i <= options.runs; i++) {
  const started = performance.now();
  const code = await run(command);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  results.push(
    `run ${i}/${options.runs}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`} in ${seconds} s`,
  );
  console.error(`suite-under-load: ${results.at(-1)}`);
  if (code !== 0) {
    status = code;
    break;
  }
}
end();
console.error(`suite-under-load: summary\n  ${results.join('\n  ')}`);
process.exitCode = status;
