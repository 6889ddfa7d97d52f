import { join } from 'node:path';
import { z } from 'zod/mini';
import { keepAuditTrimmed } from '../audit/audit-trail.js';
import { startDashboard } from '../dashboard/start-dashboard.js';
import { loadConfig } from '../host/config-file.js';
import { rotatingLog } from '../host/rotating-log.js';
import { defaultStateDir, ensureStateDir } from '../host/state-dir.js';
import { startDaemon } from '../runtime/daemon.js';
import { reportError } from './cli-error.js';
import { configFlags } from './config-flags.js';
import { connectDaemon } from './daemon-client.js';
import { openApprovals } from './open-approvals.js';

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
    keepAuditTrimmed({ maxAgeMs: config.auditMaxAgeMs, maxBytes: config.auditMaxBytes });
    const cliff = openApprovals();
    if (cliff.unavailable !== undefined) log(`approvals are off: ${cliff.unavailable}`);
    const daemon = await startDaemon({
      stateDir,
      poolSize: config.poolSize,
      sandbox: {
        driver: config.driver,
        rootBoxUid: config.rootBoxUid,
        boxUids: config.boxUids,
        defaultMemoryBytes: config.defaultMemoryBytes,
        defaultAllowNet: config.defaultAllowNet,
      },
      log,
      approvals: cliff.approvals,
      approvalsUnavailable: cliff.unavailable,
      dashboard: async (view) => {
        const dashboard = await startDashboard({
          title: 'IronClaw daemon',
          sandboxes: () => view.sandboxes(),
          approvals: cliff.approvals,
        });
        log(`dashboard at ${dashboard.url.replace(/#.*/, '')}`);
        return dashboard;
      },
    });
    const stop = (): void => void daemon.close();
    process.once('SIGINT', stop).once('SIGTERM', stop);
    await daemon.stopped;
    return 0;
  } catch (error) {
    return reportError(error);
  }
}
