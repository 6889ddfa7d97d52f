import { boxUidFor } from '../host/box-uid.js';
import { HAND_OVER_DRIVER, handOverToBwrap } from '../drivers/bwrap/hand-over.js';
import { EXIT_SANDBOX_FAILED, reportError } from './cli-error.js';

/**
 * `ironclaw exec -- CMD…` with no option but `--driver` naming the driver that can hand over (bwrap): nothing for node to watch (no
 * timeout, no captured output, no cgroup, no workspace), so this process becomes the box
 * instead of spawning it. Returns undefined when it does not hand over (an option, or a node or
 * host that cannot), for the supervised command to run; an exit status if the box cannot be
 * built. Any option not named here keeps the supervised path, so a new one cannot be ignored.
 */
export async function execHandOver(
  argv: string[],
  flags: Record<string, string | boolean | string[] | undefined>,
): Promise<number | undefined> {
  const plain = Object.entries(flags).every(
    ([name, value]) => value === undefined || (name === 'driver' && value === HAND_OVER_DRIVER),
  );
  if (argv.length === 0 || !plain) return undefined;
  // As root, the box's own uid, leased by this process, which the box becomes: the lease lives
  // as long as the box and is swept once it has ended (uid-lease.ts).
  const uid = await boxUidFor().catch(reportError);
  if (typeof uid === 'number') return uid;
  try {
    await handOverToBwrap(argv, {
      rootBoxUid: uid.uid,
      startFailure: {
        status: EXIT_SANDBOX_FAILED,
        message: 'ironclaw: SANDBOX_START_FAILED: the sandbox did not start',
      },
    });
    await uid.release(); // not handed over: the supervised path leases its own
    return undefined;
  } catch (error) {
    await uid.release();
    return reportError(error);
  }
}
