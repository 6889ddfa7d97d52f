// Times one child process from spawn() to its 'exit' event. stdio is ignored so no pipe reading
// sits on the measured path.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/**
 * @param {string} file
 * @param {readonly string[]} args
 * @returns {Promise<{ ms: number, ok: boolean, status: string }>} status: "exit code N" or the signal
 */
export function timeSpawn(file, args) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, args, { stdio: 'ignore' });
    child.once('error', (error) =>
      reject(new Error(`cannot start ${file}: ${error.message}`, { cause: error })),
    );
    child.once('exit', (code, signal) => {
      const ms = performance.now() - started;
      resolve({ ms, ok: code === 0, status: signal ?? `exit code ${code}` });
    });
  });
}
