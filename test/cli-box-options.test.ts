import { chmod, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freshStateDir, runCli } from './helpers/cli.js';
import { auditRecords } from './support/audit-records.js';

// -e, --env-file, -w and -v on exec, sandbox create and sandbox exec, with real bwrap boxes.

let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  const stateDir = await freshStateDir();
  env = { IRONCLAW_STATE_DIR: stateDir, IRONCLAW_POOL_SIZE: '0' };
  // The box runs as another uid when the tests run as root: the directory must be open to it.
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-volume-'));
  await chmod(dir, 0o777);
  await writeFile(join(dir, 'note.txt'), 'from the host\n');
});

afterAll(async () => {
  await runCli(['daemon', '--stop'], { env });
});

/** The audit store's records (this worker's store, which the CLI inherits), as flat events. */
async function auditEvents(): Promise<{ event: string; host?: unknown; guest?: unknown }[]> {
  return (await auditRecords()).map((record) => ({ event: record.kind, ...record.data }));
}

describe('ironclaw exec -e, --env-file, -w, -v', () => {
  test('variables from -e, from the caller (-e NAME) and from --env-file; -e wins', async () => {
    const file = join(dir, 'vars.env');
    await writeFile(file, '# comment\n\nB=from-file\nA=overridden\nPASSED\n');
    const result = await runCli(
      [
        'exec',
        '--env-file',
        file,
        '-e',
        'A=1',
        '-e',
        'FROM_CALLER',
        '-w',
        '/tmp',
        '--',
        'sh',
        '-c',
        'echo "$A $B $PASSED $FROM_CALLER"; pwd',
      ],
      { env: { ...env, FROM_CALLER: 'caller value', PASSED: 'passed' } },
    );
    expect(result).toMatchObject({ code: 0, stdout: '1 from-file passed caller value\n/tmp\n' });
  });

  test('-e NAME with NAME unset, a bad name and a relative -w are refused clearly', async () => {
    const unset = await runCli(['exec', '-e', 'NOT_SET_ANYWHERE_X', '--', 'true'], { env });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('NOT_SET_ANYWHERE_X is not set in your environment');
    const bad = await runCli(['exec', '-e', '1BAD=x', '--', 'true'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid environment variable name "1BAD"');
    const relative = await runCli(['exec', '-w', 'src', '--', 'true'], { env });
    expect(relative.code).toBe(2);
    expect(relative.stderr).toContain('give an absolute directory');
  });

  test('-v is read-only by default: the box reads the host file and cannot write there', async () => {
    const result = await runCli(
      ['exec', '-v', `${dir}:/data`, '--', 'sh', '-c', 'cat /data/note.txt; echo x > /data/attack'],
      { env },
    );
    expect(result.stdout).toBe('from the host\n');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Read-only file system');
    expect(await readdir(dir)).not.toContain('attack');
  });

  test('negative control: -v HOST:BOX:rw writes through, and the audit log records it', async () => {
    const result = await runCli(
      ['exec', '-v', `${dir}:/data:rw`, '--', 'sh', '-c', 'echo written > /data/through'],
      { env },
    );
    expect(result.code).toBe(0);
    expect(await readFile(join(dir, 'through'), 'utf8')).toBe('written\n');
    expect(await auditEvents()).toContainEqual(
      expect.objectContaining({ event: 'mount-read-write', host: dir, guest: '/data' }),
    );
  });

  test('a driver without host mounts refuses -v with POLICY_UNENFORCEABLE', async () => {
    const result = await runCli(
      ['exec', '--driver', 'gvisor', '-v', `${dir}:/data`, '--', 'true'],
      {
        env,
      },
    );
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('POLICY_UNENFORCEABLE');
    expect(result.stderr).toContain('host mounts');
  });

  test('help lists the options and examples with valid values', async () => {
    const help = await runCli(['exec', '-h']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('-e, --env NAME[=VALUE]');
    expect(help.stdout).toContain('-v, --volume HOST:BOX[:ro|:rw]');
    expect(help.stdout).toContain('approval cliff');
    expect(help.stdout).toContain('bwrap, gvisor, qemu, firecracker');
    expect(help.stdout).toMatch(/examples:\n {2}ironclaw exec/);
  });
});

describe('ironclaw sandbox create / exec with box options', () => {
  test('create -e -v gives every command the variable and the mount; exec -e -w add theirs', async () => {
    const created = await runCli(
      ['sandbox', 'create', '--id', 'opts-one', '-e', 'K=box', '-v', `${dir}:/data`],
      { env },
    );
    expect(created).toMatchObject({ code: 0, stdout: 'opts-one\n' });
    const result = await runCli(
      [
        'sandbox',
        'exec',
        '-e',
        'J=call',
        '-w',
        '/data',
        'opts-one',
        '--',
        'sh',
        '-c',
        'echo "$K $J"; pwd; cat note.txt',
      ],
      { env },
    );
    expect(result).toMatchObject({ code: 0, stdout: 'box call\n/data\nfrom the host\n' });
    await runCli(['sandbox', 'rm', 'opts-one'], { env });
  });

  test('create --driver with a capability the driver lacks is POLICY_UNENFORCEABLE', async () => {
    const result = await runCli(['sandbox', 'create', '--driver', 'gvisor', '-v', `${dir}:/data`], {
      env,
    });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('POLICY_UNENFORCEABLE');
  });

  test('IRONCLAW_DRIVER or IRONCLAW_MEMORY the running daemon would ignore is refused', async () => {
    // The daemon is running (bwrap, default memory) since the tests above.
    const driver = await runCli(['sandbox', 'create'], {
      env: { ...env, IRONCLAW_DRIVER: 'gvisor' },
    });
    expect(driver.code).toBe(2);
    expect(driver.stderr).toContain('the running daemon was started with bwrap');
    expect(driver.stderr).toContain('--driver gvisor');
    const memory = await runCli(['sandbox', 'create'], { env: { ...env, IRONCLAW_MEMORY: '1g' } });
    expect(memory.code).toBe(2);
    expect(memory.stderr).toContain('IRONCLAW_MEMORY');
    const list = await runCli(['sandbox', 'list'], { env });
    expect(list.stdout).toBe('');
  });
});
