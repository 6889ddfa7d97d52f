import { spawn } from 'node:child_process';
import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, freshStateDir, runCli } from './helpers/cli.js';
import { auditRecords, summary } from './support/audit-records.js';
import { eventually } from './support/host-processes.js';

/**
 * A daemon killed with SIGKILL never writes the end of its sandboxes into the audit store (their
 * boxes die with it). The next daemon finds them recorded as started by a dead owner and writes
 * a 'sandbox-lost' event for each, so every start in the store has an end.
 */
describe('a daemon restarted after a crash', () => {
  let stateDir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    stateDir = await freshStateDir();
    env = {
      ...process.env,
      IRONCLAW_STATE_DIR: stateDir,
      IRONCLAW_POOL_SIZE: '0',
      IRONCLAW_AUDIT_DB: join(stateDir, 'audit.db'),
    };
  });
  afterAll(async () => {
    await runCli(['daemon', '--stop'], { env });
    await rm(stateDir, { recursive: true, force: true });
  });

  // The CLI's own sandbox-create request and outcome are the daemon's: it creates the box.
  const events = async () =>
    (await auditRecords(join(stateDir, 'audit.db'))).filter((record) =>
      record.kind.startsWith('sandbox-'),
    );

  test('records the sandboxes of the dead daemon as lost, once', async () => {
    const daemon = spawn(process.execPath, [BIN, 'daemon', '--pool', '0'], {
      env,
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => daemon.once('exit', resolve));
    const socket = join(stateDir, 'daemon.sock');
    await eventually(
      () =>
        access(socket).then(
          () => true,
          () => false,
        ),
      (up) => up,
      20_000,
    );
    const id = `lost-${process.pid}`;
    expect(await runCli(['sandbox', 'create', '--id', id], { env })).toMatchObject({ code: 0 });
    daemon.kill('SIGKILL');
    await exited;
    expect(summary(await events())).toEqual([
      ['sandbox-create requested'],
      ['sandbox-create done'],
    ]);

    // The next `sandbox` command starts a new daemon, which sweeps when it starts.
    const list = await runCli(['sandbox', 'list'], { env });
    expect(list.code).toBe(0);
    expect(list.stdout).not.toContain(id);
    const found = await eventually(events, (records) => records.length >= 3, 10_000);
    expect(summary(found, 'driver', 'ownerPid')).toEqual([
      ['sandbox-create requested', 'bwrap', undefined],
      ['sandbox-create done', 'bwrap', undefined],
      ['sandbox-lost info', 'bwrap', daemon.pid],
    ]);
    expect(found.map((record) => record.sandbox)).toEqual([id, id, id]);
    // A second restart finds nothing more to report.
    expect(await runCli(['daemon', '--stop'], { env })).toMatchObject({ code: 0 });
    expect((await runCli(['sandbox', 'list'], { env })).code).toBe(0);
    expect(await events()).toHaveLength(3);
  });
});
