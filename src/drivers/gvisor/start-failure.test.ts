import { expect, test } from 'vitest';
import { IronClawError } from '../../core/errors.js';
import { startFailure } from './start-failure.js';

const facts = { timedOut: false, timeoutMs: 30_000, runscSays: '', memoryBytes: undefined };
const LOG = 'runsc log: W1207 14:00:00.000000 1 x.go:1] starting sandbox: fork/exec: EAGAIN';

test('an error that is not ours says what it was, and what runsc logged', () => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), {
    code: 'ENOSPC',
  });
  const error = startFailure(enospc, { ...facts, runscSays: LOG });
  expect(error.code).toBe('SANDBOX_START_FAILED');
  expect(error.message).toBe(
    `the gVisor box failed to start: ENOSPC: no space left on device, write\nrunsc: ${LOG}`,
  );
  expect(error.cause).toBe(enospc);
  // Before runsc ran there is nothing of it to quote, and the message says so.
  expect(startFailure(new Error('EACCES'), facts).message).toBe(
    'the gVisor box failed to start: EACCES (runsc said nothing)',
  );
});

test('a timeout is named as one, whatever error the aborted wait surfaced as', () => {
  const aborted = new DOMException('This operation was aborted', 'AbortError');
  expect(startFailure(aborted, { ...facts, timedOut: true, runscSays: LOG }).message).toBe(
    `the gVisor box did not start within 30000 ms\nrunsc: ${LOG}`,
  );
});

test('our own errors keep their code and gain runsc’s log unless they quote it already', () => {
  const quoted = new IronClawError('SANDBOX_START_FAILED', `runsc exited during start-up: ${LOG}`);
  expect(startFailure(quoted, { ...facts, runscSays: LOG })).toBe(quoted);
  const bare = new IronClawError('SANDBOX_START_FAILED', 'the guest channel closed');
  const error = startFailure(bare, { ...facts, runscSays: LOG });
  expect(error).toMatchObject({
    code: 'SANDBOX_START_FAILED',
    message: `the guest channel closed\nrunsc: ${LOG}`,
  });
  const killed = new IronClawError('SANDBOX_START_FAILED', 'runsc exited (SIGKILL)');
  expect(startFailure(killed, { ...facts, memoryBytes: 1 << 20 }).message).toMatch(
    /SIGKILL\)\n\(the memory limit of 1048576 bytes also holds gVisor's runsc/,
  );
});
