import { runOnce } from '../runtime/run-once.js';
import { reportError, usageError } from './cli-error.js';
import { parseDriverFlag } from './config-flags.js';
import { parseLimitFlags } from './limit-flags.js';

type ExecFlags = Record<string, string | boolean | undefined>;

/** `ironclaw exec -- CMD…`: one command in a fresh box, destroyed afterwards. Returns the exit status. */
export async function execCommand(argv: string[], flags: ExecFlags): Promise<number> {
  try {
    if (argv.length === 0)
      throw usageError(
        'nothing to run: give a command after --, for example: ironclaw exec -- echo hi',
      );
    const flag = (name: string): string | undefined =>
      typeof flags[name] === 'string' ? flags[name] : undefined;
    const driverFlag = flag('driver');
    const { limits, timeoutMs } = parseLimitFlags({
      timeout: flag('timeout'),
      memory: flag('memory'),
      pids: flag('pids'),
    });
    const workspace = flag('workspace');
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    process.once('SIGINT', stop).once('SIGTERM', stop);
    const result = await runOnce(argv, {
      ...(driverFlag === undefined ? {} : { driver: parseDriverFlag(driverFlag) }),
      limits,
      stdio: flags.json ? 'pipe' : 'inherit',
      signal: controller.signal,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(workspace === undefined ? {} : { workspace }),
    });
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify({
          exitCode: result.exitCode,
          timedOut: result.timedOut,
          durationMs: Math.round(result.durationMs),
          stdout: result.stdout.toString('utf8'),
          stderr: result.stderr.toString('utf8'),
          isolation: result.isolation,
        })}\n`,
      );
    } else if (result.timedOut) {
      process.stderr.write(
        `ironclaw: TIMEOUT: the command ran past --timeout ${flag('timeout') ?? ''} and was killed\n`,
      );
    }
    // 124 on timeout, as timeout(1) reports it.
    return result.timedOut ? 124 : result.exitCode;
  } catch (error) {
    return reportError(error);
  }
}
