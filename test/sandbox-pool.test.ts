import { expect, test } from 'vitest';
import { SandboxPool } from '../src/index.js';

// The warm pool on the default driver: a pooled box is handed out with its guest's exec path
// warm and the process for its first command made ahead of time (src/guest/exec-stubs.ts).
test('a pooled sandbox comes with the process for its first command ready, and runs it', async () => {
  const pool = new SandboxPool({ size: 1 });
  try {
    pool.start();
    await pool.whenFull();
    const sandbox = await pool.acquire();
    try {
      expect((await sandbox.ping()).execReady).toBe(true);
      const result = await sandbox.exec(['sh', '-c', 'echo "$0 ran"']);
      expect(result).toMatchObject({ exitCode: 0 });
      expect(result.stdout.toString()).toBe('sh ran\n');
    } finally {
      await sandbox.destroy();
    }
  } finally {
    await pool.close();
  }
});
