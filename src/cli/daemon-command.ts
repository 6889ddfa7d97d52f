import { join } from 'node:path';
import { z } from 'zod/mini';
import { loadConfig } from '../host/config-file.js';
import { rotatingLog } from '../host/rotating-log.js';
import { defaultStateDir, ensureStateDir } from '../host/state-dir.js';
import { startDaemon } from '../runtime/daemon.js';
import { reportError } from './cli-error.js';
import { configFlags } from './config-flags.js';
import { connectDaemon } from './daemon-client.js';

/** `ironclaw daemon [--pool N]` runs the daemon in the foreground; `--stop` stops a running one. */
export async function daemonCommand(flags: {
  pool?: string | boolean | string[] | undefined;
  stop?: string | boolean | string[] | undefined;
}): Promise<number> {
  try {
    if (flags.stop) {
      const client = await connectDaemon({ autoStart: false });
      await client.request('shutdown', {}, z.object({}));
      client.close();
      return 0;
    }
    const config = await loadConfig(configFlags(flags));
    const stateDir = await ensureStateDir(defaultStateDir());
    const log = rotatingLog(join(stateDir, 'daemon.log'));
    const daemon = await startDaemon({
      stateDir,
      poolSize: config.poolSize,
      sandbox: {
        driver: config.driver,
        rootBoxUid: config.rootBoxUid,
        defaultMemoryBytes: config.defaultMemoryBytes,
      },
      log,
    });
    const stop = (): void => void daemon.close();
    process.once('SIGINT', stop).once('SIGTERM', stop);
    await daemon.stopped;
    return 0;
  } catch (error) {
    return reportError(error);
  }
}
