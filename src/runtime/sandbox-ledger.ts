import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { audit } from '../audit/audit-trail.js';
import { ownerAlive, ownerText } from '../host/process-identity.js';
import { defaultStateDir, ensureStateDir } from '../host/state-dir.js';

/*
 * The sandboxes started on this host and not yet destroyed, one small file each in
 * `<state dir>/sandboxes`, naming the process that owns the sandbox. The audit store records a
 * sandbox's start and its end; when its owner dies first (a daemon killed with SIGKILL, a
 * crash), the box dies with it but no end is written. The next daemon or MCP server to start
 * finds the records of dead owners and writes a 'sandbox-lost' event for each, so every start
 * in the audit store has an end. (The store alone cannot tell: a create settled "done" says
 * nothing of whether its box still runs.)
 */

const RecordSchema = z.strictObject({
  sandbox: z.string().check(z.maxLength(64)),
  driver: z.string().check(z.maxLength(32)),
  createdAt: z.string().check(z.maxLength(40)),
  owner: z.string().check(z.maxLength(64)),
});

/** The largest record read: a few hundred bytes are written. */
const RECORD_MAX_BYTES = 4096;

function ledgerDir(): string {
  return join(defaultStateDir(), 'sandboxes');
}

let recorded = 0;

/**
 * Records that this process started sandbox `sandbox`; returns what removes the record (call it
 * when the sandbox is destroyed). A record that cannot be written costs the audit trail, not
 * the sandbox: the returned function then does nothing.
 */
export async function recordSandboxStart(
  sandbox: string,
  driver: string,
): Promise<() => Promise<void>> {
  try {
    await ensureStateDir(defaultStateDir());
    await mkdir(ledgerDir(), { mode: 0o700 }).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    });
    const path = join(ledgerDir(), `${sandbox}.${process.pid}-${++recorded}.json`);
    const record = {
      sandbox,
      driver,
      createdAt: new Date().toISOString(),
      owner: await ownerText(),
    };
    await writeFile(path, JSON.stringify(record), { mode: 0o600, flag: 'wx' });
    return () => rm(path, { force: true });
  } catch {
    return () => Promise.resolve();
  }
}

/**
 * Writes a 'sandbox-lost' audit event for each recorded sandbox whose owner is no longer
 * running, and drops its record; returns how many. Two processes sweeping at once report each
 * loss once: a record is claimed by renaming it before it is reported.
 */
export async function auditLostSandboxes(): Promise<number> {
  const dir = ledgerDir();
  let lost = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.json')) continue;
    const path = join(dir, name);
    const record = await readRecord(path);
    if (record && (await ownerAlive(record.owner))) continue;
    const claimed = `${path}.lost-${process.pid}`;
    if (
      !(await rename(path, claimed).then(
        () => true,
        () => false,
      ))
    )
      continue;
    if (record) {
      audit({
        kind: 'sandbox-lost',
        sandbox: record.sandbox,
        data: {
          driver: record.driver,
          createdAt: record.createdAt,
          ownerPid: Number(record.owner.split(' ')[0]),
        },
      });
      lost++;
    }
    await rm(claimed, { force: true });
  }
  return lost;
}

async function readRecord(path: string): Promise<z.infer<typeof RecordSchema> | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  if (text.length === 0 || text.length > RECORD_MAX_BYTES) return undefined;
  try {
    const parsed = RecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
