import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import { runscBinary } from '../src/drivers/gvisor/platform.js';
import { BIN, freshStateDir } from './helpers/cli.js';
import { descendantPids, eventually, startTimeOf } from './support/host-processes.js';

/**
 * Nothing a user starts may outlive its owner: a one-shot gVisor run whose CLI is killed with
 * SIGKILL (no chance to clean up) takes runsc, its gofer, its sandbox and the platform's stub
 * processes with it, as bwrap's --die-with-parent does for a bwrap box.
 */
const missing = await runscBinary().then(
  () => undefined,
  (error: Error) => error.message,
);
const skip = missing === undefined ? '' : ` [skipped: ${missing}]`;

describe.skipIf(missing !== undefined)(`a killed gVisor one-shot${skip}`, () => {
  test('SIGKILL to the CLI ends every process of its box', async () => {
    const stateDir = await freshStateDir();
    const cli = spawn(
      process.execPath,
      [BIN, 'exec', '--driver', 'gvisor', '--', 'sh', '-c', 'echo ready; exec sleep 3600'],
      { env: { ...process.env, IRONCLAW_STATE_DIR: stateDir }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let stderr = '';
      cli.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      await new Promise<void>((resolve, reject) => {
        cli.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('ready')) resolve();
        });
        cli.once('exit', () => reject(new Error(`the CLI exited before the box ran: ${stderr}`)));
      });
      const box = await descendantPids(cli.pid ?? 0);
      // runsc, its gofer and its sandbox (the sentry) at least.
      expect(box.length).toBeGreaterThanOrEqual(3);
      const started = new Map(
        await Promise.all(box.map(async (pid) => [pid, await startTimeOf(pid)] as const)),
      );
      cli.kill('SIGKILL');
      const alive = async (): Promise<number[]> => {
        const left: number[] = [];
        for (const [pid, start] of started) {
          if (start !== undefined && (await startTimeOf(pid)) === start) left.push(pid);
        }
        return left;
      };
      expect(await eventually(alive, (left) => left.length === 0, 10_000)).toEqual([]);
    } finally {
      cli.kill('SIGKILL');
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
