import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AuditStore } from '../src/audit/audit-store.js';
import { BIN, freshStateDir, REPO, runCli } from './helpers/cli.js';

// The dashboard as a user meets it: the built CLI's daemon serves it, `ironclaw dashboard`
// prints its address, and a real browser (Debian's chromium, headless) opens that address.

const CHROMIUM = '/usr/bin/chromium';
/** A browser, boxes and CLI runs on a 2-core machine that other work keeps busy. */
const BROWSER_TEST_MS = 120_000;
const hasChromium = existsSync(CHROMIUM);

let env: NodeJS.ProcessEnv;
let workspace: string;
let auditPath: string;
let url: string;
let browser: Browser;

/** A GET with the headers given as they are (Host and Origin included), and its answer. */
function rawGet(
  target: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const { hostname, port, pathname } = new URL(target);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: pathname, headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** Every file under dir with its bytes and mode, to compare before and after. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, name);
    const info = await lstat(path);
    files[name] =
      `${info.mode.toString(8)} ${info.isFile() ? (await readFile(path)).toString('base64') : ''}`;
  }
  return files;
}

async function openPage(address = url): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  // Waits are for events (an element appearing); the bound is only for a machine under load.
  page.setDefaultTimeout(60_000);
  await page.goto(address);
  return page;
}

describe.skipIf(!hasChromium)(
  `the dashboard in headless Chromium (needs ${CHROMIUM})`,
  { timeout: BROWSER_TEST_MS },
  () => {
    beforeAll(async () => {
      const stateDir = await freshStateDir();
      auditPath = join(stateDir, 'audit.db');
      env = { IRONCLAW_STATE_DIR: stateDir, IRONCLAW_AUDIT_DB: auditPath, IRONCLAW_POOL_SIZE: '0' };
      workspace = await mkdtemp(join(tmpdir(), 'ironclaw-dash-ws-'));
      await mkdir(join(workspace, 'src'));
      await writeFile(join(workspace, 'README.md'), '# demo project\n');
      await writeFile(join(workspace, 'src', 'main.py'), 'print("hello from the box")\n');
      // A name that is markup: the page must show it as text, never run it.
      await writeFile(join(workspace, '<img src=x onerror="window.pwned=1">'), 'x');
      const created = await runCli(
        ['sandbox', 'create', '--id', 'dash-one', '--workspace', workspace],
        { env },
      );
      expect(created.stderr).toBe('');
      const printed = await runCli(['dashboard', '--json'], { env });
      expect(printed.code, printed.stderr).toBe(0);
      url = (JSON.parse(printed.stdout) as { url: string }).url;
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    }, BROWSER_TEST_MS);

    afterAll(async () => {
      await browser?.close();
      await runCli(['daemon', '--stop'], { env });
    });

    test('`ironclaw dashboard` prints a 127.0.0.1 address with a token in its fragment', () => {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43}$/);
    });

    test('shows the live sandbox with its driver, limits, network and workspace', async () => {
      const page = await openPage();
      const card = page.locator('[data-sandbox="dash-one"]');
      await card.waitFor();
      const text = await card.innerText();
      expect(text).toContain('bwrap');
      expect(text).toContain('512 processes');
      expect(text).toContain('No network');
      expect(text).toContain(workspace);
      expect(text).toMatch(/Uptime\s+\d+/);
      // The key left the address bar once the page kept it.
      expect(page.url()).not.toContain('token');
      await page.close();
    });

    test('audit records appear live and the filters narrow them', async () => {
      const page = await openPage();
      await page.locator('#live[data-state="live"]').waitFor();
      const store = await AuditStore.open(auditPath);
      try {
        store.append({ kind: 'sandbox-created', sandbox: 'feed-demo', data: { driver: 'bwrap' } });
        const exec = store.request({
          kind: 'exec',
          sandbox: 'feed-demo',
          data: { argv: ['python3', 'src/main.py'] },
        });
        exec.settle('done', { exitCode: 0 });
        store
          .request({ kind: 'egress', sandbox: 'feed-demo', data: { host: 'evil.example' } })
          .settle('denied', { reason: 'not on the allow-list' });
      } finally {
        store.close();
      }
      const rows = page.locator('#audit-rows tr.record');
      await rows.filter({ hasText: 'evil.example' }).waitFor();
      // Only these records: the daemon writes its own to the same store.
      await page.selectOption('#filter-sandbox', 'feed-demo');
      await expect.poll(() => rows.count()).toBe(5);
      await page.selectOption('#filter-status', 'denied');
      await expect.poll(() => rows.count()).toBe(1);
      expect(await rows.first().innerText()).toContain('egress');
      await page.selectOption('#filter-status', '');
      await page.selectOption('#filter-kind', 'exec');
      await expect.poll(() => rows.count()).toBe(2);
      await page.close();
    });

    test("browses the sandbox's files and shows a text file", async () => {
      const page = await openPage();
      await page.locator('[data-sandbox="dash-one"] button', { hasText: 'Browse files' }).click();
      const drawer = page.locator('#files');
      await drawer.locator('.file-row', { hasText: 'src/' }).click();
      await drawer.locator('.file-row', { hasText: 'main.py' }).click();
      await expect
        .poll(() => drawer.locator('.viewer').innerText())
        .toBe('print("hello from the box")\n');
      // The markup-named file is listed by its name, as text, and did not run.
      await drawer.locator('.crumbs a', { hasText: 'workspace' }).click();
      await drawer.locator('.file-row', { hasText: '<img src=x' }).waitFor();
      expect(await page.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();
      await page.close();
    });

    test('the page without its key is locked, and says how to get in', async () => {
      const page = await openPage(url.replace(/#.*/, ''));
      await page.locator('#locked').waitFor();
      expect(await page.locator('#main').isHidden()).toBe(true);
      await page.close();
    });

    test('the API refuses a request without the token, with a wrong one, or from another Host or Origin', async () => {
      const base = new URL(url);
      const token = base.hash.slice('#token='.length);
      const state = `${base.origin}/api/state`;
      const host = base.host;
      const good = { host, authorization: `Bearer ${token}` };
      // The control: the same request with the token and the right Host passes.
      expect((await rawGet(state, good)).status).toBe(200);
      expect((await rawGet(state, { host })).status).toBe(401);
      expect((await rawGet(state, { host, authorization: 'Bearer nope' })).status).toBe(401);
      // DNS rebinding: a site's own name in Host, even with a stolen token.
      const rebound = await rawGet(state, { ...good, host: `attacker.example:${base.port}` });
      expect(rebound.status).toBe(403);
      expect(rebound.body).toContain('answers only to Host');
      // Another page's script calling the API.
      const foreign = await rawGet(state, { ...good, origin: 'http://attacker.example' });
      expect(foreign.status).toBe(403);
      // The page itself holds no data but is refused to a rebound name too.
      expect((await rawGet(`${base.origin}/`, { host: 'attacker.example' })).status).toBe(403);
    });

    test('Approve on a diff card applies exactly that change to the host', async () => {
      const changed = await runCli(
        [
          'sandbox',
          'exec',
          'dash-one',
          '--',
          'sh',
          '-c',
          'echo "# demo project, edited in the box" > README.md && echo "x = 1" > src/new.py',
        ],
        { env },
      );
      expect(changed.code, changed.stderr).toBe(0);
      const page = await openPage();
      // `ironclaw apply` without a terminal leaves the decision to the dashboard and waits.
      const applying = runCli(['apply', 'dash-one'], { env });
      const card = page.locator('[data-approval]', { hasText: workspace });
      await card.waitFor();
      const text = await card.innerText();
      expect(text).toContain('Apply 2 changes');
      expect(text).toContain('+# demo project, edited in the box');
      expect(text).toContain('ironclaw apply (pid');
      await page.screenshot({ path: join(REPO, 'docs', 'dashboard.png'), fullPage: true });
      await card.locator('button', { hasText: 'Approve' }).click();
      const applied = await applying;
      expect(applied.code, applied.stderr).toBe(0);
      expect(await readFile(join(workspace, 'README.md'), 'utf8')).toBe(
        '# demo project, edited in the box\n',
      );
      expect(await readFile(join(workspace, 'src', 'new.py'), 'utf8')).toBe('x = 1\n');
      await card.waitFor({ state: 'detached' });
      await page.close();
    });

    test('Deny leaves the host workspace byte for byte as it was', async () => {
      const other = await mkdtemp(join(tmpdir(), 'ironclaw-dash-deny-'));
      await writeFile(join(other, 'keep.txt'), 'original\n');
      const created = await runCli(
        ['sandbox', 'create', '--id', 'dash-two', '--workspace', other],
        {
          env,
        },
      );
      expect(created.code, created.stderr).toBe(0);
      const before = await snapshot(other);
      const changed = await runCli(
        [
          'sandbox',
          'exec',
          'dash-two',
          '--',
          'sh',
          '-c',
          'echo tampered > keep.txt && echo new > added.txt',
        ],
        { env },
      );
      expect(changed.code, changed.stderr).toBe(0);
      const page = await openPage();
      const applying = runCli(['apply', 'dash-two'], { env });
      const card = page.locator('[data-approval]', { hasText: other });
      await card.locator('button', { hasText: 'Deny' }).click();
      const denied = await applying;
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toMatch(/not approved|denied/i);
      expect(await snapshot(other)).toEqual(before);
      await page.close();
    });
  },
);

describe.skipIf(!hasChromium)(
  `the dashboard of \`ironclaw mcp --http --dashboard\` (needs ${CHROMIUM})`,
  { timeout: BROWSER_TEST_MS },
  () => {
    test("shows the sandboxes the server's MCP clients made, with their egress rules", async () => {
      const stateDir = await freshStateDir();
      const child = spawn(process.execPath, [BIN, 'mcp', '--http', '127.0.0.1:0', '--dashboard'], {
        env: {
          ...process.env,
          IRONCLAW_STATE_DIR: stateDir,
          IRONCLAW_AUDIT_DB: join(stateDir, 'audit.db'),
          IRONCLAW_POOL_SIZE: '0',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      let stderr = '';
      const printed = await new Promise<{ mcp: string; token: string; dashboard: string }>(
        (resolve, reject) => {
          child.stderr.on('data', (chunk: Buffer) => {
            stderr += chunk.toString();
            const mcp = /serving Streamable HTTP at (\S+)/.exec(stderr)?.[1];
            const token = /bearer token [^:]*: (\S+)/.exec(stderr)?.[1];
            const dashboard = /dashboard [^:]*: (\S+)/.exec(stderr)?.[1];
            if (mcp && token && dashboard) resolve({ mcp, token, dashboard });
          });
          void exited.then((code) => reject(new Error(`the server exited (${code}): ${stderr}`)));
        },
      );
      const client = new Client({ name: 'dashboard-test', version: '1.0.0' });
      let browser: Browser | undefined;
      try {
        expect(printed.dashboard).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=/);
        await client.connect(
          new StreamableHTTPClientTransport(new URL(printed.mcp), {
            requestInit: { headers: { authorization: `Bearer ${printed.token}` } },
          }),
        );
        const created = await client.callTool({
          name: 'sandbox_create',
          arguments: { allowNet: ['pypi.org'] },
        });
        const { sandboxId } = created.structuredContent as { sandboxId: string };
        browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
        const page = await browser.newPage();
        await page.goto(printed.dashboard);
        const card = page.locator(`[data-sandbox="${sandboxId}"]`);
        await card.waitFor();
        expect(await card.locator('.network .chip').innerText()).toBe('pypi.org');
        expect(await page.locator('#source-title').innerText()).toContain(printed.mcp);
      } finally {
        await browser?.close();
        await client.close();
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      }
    });
  },
);
