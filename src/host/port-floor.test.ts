import { describe, expect, it } from 'vitest';
import { IronClawError } from '../core/errors.js';
import { lowerPortFloor } from './port-floor.js';

describe('lowerPortFloor', () => {
  it('fails with the reason when the process is gone, and lowers nothing', async () => {
    // Pids are below 2^22 on Linux: this one never exists.
    const error = await lowerPortFloor(2 ** 30, 53, AbortSignal.timeout(20_000)).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(IronClawError);
    expect(error).toMatchObject({ code: 'SANDBOX_START_FAILED' });
    expect((error as Error).message).toMatch(
      /^cannot lower the unprivileged port floor in the network namespace of box process 1073741824: \/proc\/1073741824\/ns\/net: No such file or directory; /,
    );
  });
});
