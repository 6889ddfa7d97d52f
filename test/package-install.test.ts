import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { REPO } from './helpers/cli.js';

// The package as a user gets it: `npm pack` of the built repository (npm test builds first),
// installed with npm into a fresh project, then used the ways the README says. The README's
// library example is read from README.md, so the README stays true.

const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const NPM_TIMEOUT_MS = 120_000;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let project: string;
let packed: { filename: string; files: { path: string }[] };
const env: NodeJS.ProcessEnv = {};

/**
 * argv in cwd, with this test's environment. npm's own variables are left out: under
 * `npm test` they name this repository (npm_config_local_prefix), not the fresh project.
 */
function run(argv: string[], cwd: string, timeoutMs = 60_000, withEnv = env): Promise<Result> {
  const [command, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: withEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function described(result: Result): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

/** The code block under the README's "From a Node program" heading. */
async function readmeLibraryExample(): Promise<string> {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const match = /^#+ From a Node program\n[^]*?^```js\n([^]*?)^```$/m.exec(readme);
  if (match?.[1] === undefined)
    throw new Error('README.md has no js block under "From a Node program"');
  return match[1];
}

beforeAll(async () => {
  for (const [name, value] of Object.entries(process.env))
    if (!name.toLowerCase().startsWith('npm_')) env[name] = value;
  // This test's node first, for npm and for the `#!/usr/bin/env node` of the installed bin.
  env.PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  // Run as root, boxes run as uids of their own, and a one-shot exec hands itself over to its box only
  // when that uid can read the package's files (src/drivers/bwrap/hand-over.ts): the project is
  // 0755 like a user's, not 0700 as mkdtemp makes it, so the runs below take the users' path.
  project = await mkdtemp(join(tmpdir(), 'ironclaw-package-'));
  await chmod(project, 0o755);
  env.IRONCLAW_STATE_DIR = join(project, 'state');
  await mkdir(env.IRONCLAW_STATE_DIR, { mode: 0o700 });

  const pack = await run(['npm', 'pack', '--json', '--pack-destination', project], REPO);
  expect(pack.code, described(pack)).toBe(0);
  [packed] = JSON.parse(pack.stdout) as [typeof packed];
  await writeFile(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2)}\n`,
  );
  const devDependencies = (
    JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    }
  ).devDependencies;
  const install = await run(
    [
      'npm',
      'install',
      join(project, packed.filename),
      `@types/node@${devDependencies['@types/node']}`,
      '--no-audit',
      '--no-fund',
    ],
    project,
    NPM_TIMEOUT_MS,
  );
  expect(install.code, described(install)).toBe(0);
  const example = await readmeLibraryExample();
  await writeFile(join(project, 'example.mjs'), example);
  await writeFile(join(project, 'example.ts'), example);
}, NPM_TIMEOUT_MS * 2);

afterAll(async () => {
  // The state directory is inside it.
  if (project !== undefined) await rm(project, { recursive: true, force: true });
});

describe.concurrent('the package from npm pack, installed with npm install', () => {
  test("runs the README's library example as written", async () => {
    const result = await run(['node', 'example.mjs'], project);
    expect(result.code, described(result)).toBe(0);
    expect(result.stdout).toMatch(/^0 42\n/);
    expect(result.stdout).toContain('hello');
  }, 60_000);

  test('runs `npx ironclaw exec -- echo hi`', async () => {
    const result = await run(['npx', 'ironclaw', 'exec', '--', 'echo', 'hi'], project);
    expect(result, described(result)).toMatchObject({ code: 0, stdout: 'hi\n' });
  }, 60_000);

  test('passes `npx ironclaw doctor`', async () => {
    // Without QEMU, whose first VM from a fresh state directory boots a template (a minute
    // under TCG): test/cli-doctor.test.ts probes it. Every box the doctor starts here reads
    // the installed package's files, and QEMU is an optional part, so the exit status stands.
    const withoutQemu = { ...env, IRONCLAW_QEMU: join(project, 'no-qemu') };
    const result = await run(['npx', 'ironclaw', 'doctor'], project, 120_000, withoutQemu);
    expect(result.code, described(result)).toBe(0);
  }, 130_000);

  test('serves `npx ironclaw dashboard` from the files it ships', async () => {
    const withAudit = { ...env, IRONCLAW_AUDIT_DB: join(project, 'dashboard-audit.db') };
    const printed = await run(
      ['npx', 'ironclaw', 'dashboard', '--json'],
      project,
      60_000,
      withAudit,
    );
    try {
      expect(printed.code, described(printed)).toBe(0);
      const url = new URL((JSON.parse(printed.stdout) as { url: string }).url);
      const token = url.hash.slice('#token='.length);
      for (const name of ['index.html', 'dashboard.js', 'dashboard.css', 'icon.svg']) {
        const response = await fetch(`${url.origin}/${name === 'index.html' ? '' : name}`);
        expect(response.status, name).toBe(200);
        expect(await response.text(), name).toBe(
          await readFile(join(REPO, 'src', 'dashboard', 'page', name), 'utf8'),
        );
      }
      const state = await fetch(`${url.origin}/api/state`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(state.status).toBe(200);
      expect(await state.json()).toMatchObject({ title: 'IronClaw daemon', sandboxes: [] });
    } finally {
      await run(['npx', 'ironclaw', 'daemon', '--stop'], project, 60_000, withAudit);
    }
  }, 90_000);

  test("type-checks the README's example with tsc --strict, module nodenext", async () => {
    const argv = ['--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext'];
    const options = [...argv, '--target', 'esnext', '--types', 'node', '--noEmit'];
    const result = await run(['node', TSC, ...options, 'example.ts'], project, 90_000);
    expect(result.code, described(result)).toBe(0);
  }, 100_000);

  test('names the missing file when the installed package lacks one, and doctor blames it', async () => {
    const broken = join(project, 'broken');
    await mkdir(broken, { mode: 0o755 });
    for (const name of ['package.json', 'node_modules'])
      await cp(join(project, name), join(broken, name), {
        recursive: true,
        verbatimSymlinks: true,
      });
    await rm(join(broken, 'node_modules', 'ironclaw', 'box', 'etc', 'group'));
    const incomplete = `the ironclaw package at ${join(broken, 'node_modules', 'ironclaw')} is incomplete: box/etc/group is missing`;
    const exec = await run(['npx', 'ironclaw', 'exec', '--', 'echo', 'hi'], broken);
    expect(exec.code, described(exec)).toBe(125);
    expect(exec.stderr).toContain(incomplete);
    const withoutQemu = { ...env, IRONCLAW_QEMU: join(project, 'no-qemu') };
    const doctor = await run(['npx', 'ironclaw', 'doctor', '--json'], broken, 60_000, withoutQemu);
    expect(doctor.code, described(doctor)).toBe(1);
    const { checks } = JSON.parse(doctor.stdout) as {
      checks: { name: string; ok: boolean; detail: string; fix?: string }[];
    };
    const box = checks.find((check) => check.name === 'bwrap one-shot box');
    expect(box?.ok).toBe(false);
    expect(box?.fix).toMatch(/^reinstall the ironclaw package/);
    expect(box?.detail).toContain(incomplete);
  }, 90_000);

  test('ships every source map its files link, each holding the sources it names', async () => {
    const files = new Set(packed.files.map((file) => file.path));
    const installed = join(project, 'node_modules', 'ironclaw');
    for (const file of files) {
      if (!/\.(c|m)?js$/.test(file)) continue;
      const text = await readFile(join(installed, file), 'utf8');
      const link = /\n\/\/# sourceMappingURL=(\S+)\n?$/.exec(text)?.[1];
      if (link === undefined) continue;
      const mapPath = posix.join(posix.dirname(file), link);
      expect(files.has(mapPath), `${file} links ${mapPath}`).toBe(true);
      const map = JSON.parse(await readFile(join(installed, mapPath), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      expect(map.sourcesContent?.length, mapPath).toBe(map.sources.length);
      expect(map.sourcesContent?.every((source) => typeof source === 'string')).toBe(true);
    }
  });
});
