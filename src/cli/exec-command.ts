import { allowNetRules } from './allow-net-flag.js';
import { runOnce } from '../runtime/run-once.js';
import { reportError, usageError } from './cli-error.js';
import { execReport, exitStatusOf, reportJsonError, reportOutcome } from './exec-report.js';
import { parseDriverFlag } from './config-flags.js';
import { parseLimitFlags } from './limit-flags.js';
import { ttySession } from './tty-session.js';
import { parseBoxFlags } from './box-flags.js';
import { showLongWork } from './long-work-display.js';

type ExecFlags = Record<string, string | boolean | string[] | undefined>;

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
    const allowNet = allowNetRules(flags['allow-net']);
    const box = await parseBoxFlags(flags);
    showLongWork(flags.json === true);
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    process.once('SIGINT', stop).once('SIGTERM', stop);
    using terminal = ttySession(flags, stop);
    const result = await runOnce(argv, {
      ...(driverFlag === undefined ? {} : { driver: parseDriverFlag(driverFlag) }),
      limits,
      stdio: flags.json ? 'pipe' : 'inherit',
      signal: controller.signal,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(workspace === undefined ? {} : { workspace }),
      ...(allowNet === undefined ? {} : { allowNet }),
      ...box,
      ...(flags.interactive === true ? { interactive: true } : {}),
      ...(terminal ? { tty: { ...terminal.tty, resizes: terminal.resizes } } : {}),
    }).finally(() => {
      // Back to a cooked terminal before anything is reported; stdin is read no more.
      terminal?.close();
      if (flags.interactive === true) process.stdin.destroy();
    });
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify(execReport(result, result, { isolation: result.isolation }))}\n`,
      );
    }
    reportOutcome(result, flag('timeout'));
    return exitStatusOf(result);
  } catch (error) {
    return flags.json ? reportJsonError(error) : reportError(error);
  }
}
