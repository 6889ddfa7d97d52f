import { join } from 'node:path';
import { z } from 'zod/mini';
import { ApprovalBroker } from '../approval/approval-broker.js';
import { ApprovalPolicy } from '../approval/approval-policy.js';
import { AuditStore, auditStorePath } from '../audit/audit-store.js';
import { toIronClawError } from '../core/errors.js';
import { loadConfig } from '../host/config-file.js';
import { rotatingLog } from '../host/rotating-log.js';
import { defaultStateDir, ensureStateDir } from '../host/state-dir.js';
import { startDashboard } from '../dashboard/start-dashboard.js';
import { startDaemon } from '../runtime/daemon.js';
import { reportError } from './cli-error.js';
import { configFlags } from './config-flags.js';
import { connectDaemon } from './daemon-client.js';

/** `ironclaw daemon [--pool N]` runs the daemon in the foreground; `--stop` stops a running one. */
export async function daemonCommand(flags: {
  pool?: string | boolean | undefined;
  stop?: string | boolean | undefined;
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
    // Approvals are recorded before they are decided: without the audit store, none is given.
    const audit = await AuditStore.open().catch((error: unknown) => toIronClawError(error));
    if (!(audit instanceof AuditStore)) log(`approvals are off: ${audit.message}`);
    const approvals =
      audit instanceof AuditStore
        ? new ApprovalBroker({ audit, policy: new ApprovalPolicy() })
        : undefined;
    const daemon = await startDaemon({
      stateDir,
      poolSize: config.poolSize,
      sandbox: {
        driver: config.driver,
        rootBoxUid: config.rootBoxUid,
        defaultMemoryBytes: config.defaultMemoryBytes,
      },
      log,
      approvals,
      approvalsUnavailable: audit instanceof AuditStore ? undefined : audit.message,
      dashboard: async (view) => {
        const dashboard = await startDashboard({
          title: 'IronClaw daemon',
          sandboxes: () => view.sandboxes(),
          auditPath: auditStorePath(),
          approvals,
        });
        log(`dashboard at ${dashboard.url.replace(/#.*/, '')}`);
        return dashboard;
      },
    });
    const stop = (): void => void daemon.close();
    process.once('SIGINT', stop).once('SIGTERM', stop);
    await daemon.stopped;
    if (audit instanceof AuditStore) audit.close();
    return 0;
  } catch (error) {
    return reportError(error);
  }
}
