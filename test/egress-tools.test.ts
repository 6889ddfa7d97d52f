// Real tools in a box with egress, unchanged (issue 14 §4): curl, pip, npm, git over https,
// Python urllib and requests, Node fetch, a WebSocket client and git over SSH each reach an
// allowed host and are refused an unlisted one with a reason they show. The services are one
// HTTPS server and one sshd on the host's loopback; the proxy's test-only table resolver maps
// their names there, and each tool trusts a throwaway CA through its usual variable (the proxy
// never decrypts). The box resolves names through its own DNS stub and reaches the proxy only.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox, type Sandbox } from '../src/index.js';
import { staticResolver } from '../src/network/resolver.js';
import { testProxy } from '../src/network/test-support.js';
import { makeCerts, makeGitRepo, makeNpmTarball, makeWheel } from './support/tool-fixtures.js';
import { startToolServer, type ToolServer } from './support/tool-server.js';
import { sshdMissing, startSshd, type Sshd } from './support/throwaway-sshd.js';

const NAMES = ['pypi.test', 'registry.test', 'git.test', 'web.test', 'ws.test'];
const CA = '/tmp/ca.pem';

let dir: string;
let server: ToolServer;
let sshd: Sshd | undefined;
let proxy: Awaited<ReturnType<typeof testProxy>>;
let box: Sandbox;
let port: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-tools-'));
  // As root the box runs as a uid of its own, which must reach the proxy's socket.
  await chmod(dir, 0o711);
  const [certs, wheel, npm, gitDir] = await Promise.all([
    makeCerts(dir, [...NAMES, 'denied.test']),
    makeWheel(dir),
    makeNpmTarball(dir),
    makeGitRepo(dir),
  ]);
  server = await startToolServer({ certs, wheel, npm, gitDir });
  port = server.port;
  if (sshdMissing === undefined)
    sshd = await startSshd(join(dir, 'sshd'), AbortSignal.timeout(20_000));
  const ports = [port, ...(sshd ? [sshd.port] : [])];
  // Every name maps to loopback, denied.test too: what refuses it is the rules, not the lookup.
  const resolver = staticResolver(
    Object.fromEntries([...NAMES, 'denied.test'].map((name) => [name, '127.0.0.1'])),
  );
  proxy = await testProxy(
    [
      ...NAMES.map((name) => `${name}:${port}`),
      ...(sshd ? [`git.test:${sshd.port}`] : []),
      ...ports.map((p) => `127.0.0.1:${p}`),
    ],
    { resolver },
  );
  await chmod(join(proxy.socketPath, '..'), 0o711);
  await chmod(proxy.socketPath, 0o666);
  box = await createSandbox({ egressSocket: proxy.socketPath });
  await box.writeFile(CA, certs.ca);
}, 120_000);

afterAll(async () => {
  await box?.destroy();
  await proxy?.[Symbol.asyncDispose]();
  await sshd?.[Symbol.asyncDispose]();
  await server?.[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

async function inBox(argv: string[], env: Record<string, string> = {}): Promise<Ran> {
  const result = await box.exec(argv, { env, timeoutMs: 90_000 });
  return {
    code: result.exitCode,
    out: result.stdout.toString(),
    err: result.stderr.toString(),
  };
}

const sh = (script: string, env: Record<string, string> = {}): Promise<Ran> =>
  inBox(['sh', '-c', script], env);

/** The reason the proxy gives for an unlisted host, as its 403 body says it. */
const refusal = (host: string, p: number): string =>
  `no --allow-net rule allows ${host}:${p}; allow it with --allow-net ${host}:${p}`;

describe('tools through the egress proxy, unchanged (bwrap)', () => {
  test('curl: https by name through CONNECT; an unlisted host gets the 403', async () => {
    const env = { CURL_CA_BUNDLE: CA };
    const ok = await inBox(['curl', '-sS', `https://web.test:${port}/hello`], env);
    expect(ok).toMatchObject({ code: 0, out: 'hello over tls\n' });
    const denied = await inBox(['curl', '-sS', `https://denied.test:${port}/hello`], env);
    expect(denied.code).not.toBe(0);
    expect(denied.err).toContain('CONNECT tunnel failed, response 403');
    // Plain http shows the proxy's reason itself.
    const plain = await inBox(['curl', '-sS', `http://denied.test:${port}/hello`]);
    expect(plain.out).toContain(refusal('denied.test', port));
    // Around the proxy, the name resolves (the stub's sentinel) and leads nowhere.
    const around = await inBox(['curl', '-sSv', '--noproxy', '*', `https://web.test:${port}/`]);
    expect(around.code).toBe(7);
    expect(around.err).toContain(`Trying 192.0.2.1:${port}`);
  });

  test('pip: downloads and installs a wheel from a simple index; an unlisted index is refused', async () => {
    const env = { PIP_CERT: CA, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_RETRIES: '0' };
    const installed = await sh(
      `python3 -m pip install -q --target /tmp/site --index-url https://pypi.test:${port}/simple/ tinypkg && PYTHONPATH=/tmp/site python3 -c 'import tinypkg; print(tinypkg.GREETING)'`,
      env,
    );
    expect(installed.err).toBe('');
    expect(installed).toMatchObject({ code: 0, out: 'hello from tinypkg\n' });
    const downloaded = await sh(
      `python3 -m pip download -q --no-deps -d /tmp/wheels --index-url https://pypi.test:${port}/simple/ tinypkg && ls /tmp/wheels`,
      env,
    );
    expect(downloaded.out).toBe('tinypkg-0.1-py3-none-any.whl\n');
    // pip shows why a fetch failed only when it retries: one retry.
    const denied = await sh(
      `python3 -m pip download --no-deps -d /tmp/w2 --index-url https://denied.test:${port}/simple/ tinypkg`,
      { ...env, PIP_RETRIES: '1' },
    );
    expect(denied.code).not.toBe(0);
    expect(denied.err).toContain("OSError('Tunnel connection failed: 403 Forbidden')");
  }, 120_000);

  test('npm: installs a tarball from a registry; an unlisted registry is refused', async () => {
    const env = {
      npm_config_cafile: CA,
      npm_config_update_notifier: 'false',
      npm_config_fetch_retries: '0',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
    };
    const installed = await sh(
      `cd /workspace && npm install --registry https://registry.test:${port}/ tiny-pkg >/dev/null && node -e "console.log(require('tiny-pkg'))"`,
      env,
    );
    expect(installed).toMatchObject({ code: 0, out: 'hello from tiny-pkg\n' });
    const denied = await sh(
      `cd /tmp && npm view --registry https://denied.test:${port}/ tiny-pkg`,
      env,
    );
    expect(denied.code).not.toBe(0);
    expect(denied.err).toMatch(/403/);
  }, 120_000);

  test('git over https: clones (dumb HTTP); an unlisted host is refused', async () => {
    const env = { GIT_SSL_CAINFO: CA };
    const cloned = await sh(
      `git clone -q https://git.test:${port}/repo.git /tmp/https-clone && cat /tmp/https-clone/README`,
      env,
    );
    expect(cloned).toMatchObject({ code: 0, out: 'hello from git\n' });
    const denied = await sh(`git clone -q https://denied.test:${port}/repo.git /tmp/no`, env);
    expect(denied.code).not.toBe(0);
    expect(denied.err).toContain('CONNECT tunnel failed, response 403');
  });

  test("Python's urllib and requests: https by name; an unlisted host is refused", async () => {
    const urllib = (host: string): string =>
      `import urllib.request\ntry:\n  print(urllib.request.urlopen('https://${host}:${port}/hello').read().decode(), end='')\nexcept Exception as e:\n  print('error', e)`;
    const requests = (host: string): string =>
      `import requests\ntry:\n  print(requests.get('https://${host}:${port}/hello').text, end='')\nexcept Exception as e:\n  print('error', e)`;
    const env = { SSL_CERT_FILE: CA, REQUESTS_CA_BUNDLE: CA };
    expect((await inBox(['python3', '-c', urllib('web.test')], env)).out).toBe('hello over tls\n');
    expect((await inBox(['python3', '-c', urllib('denied.test')], env)).out).toContain(
      'Tunnel connection failed: 403 Forbidden',
    );
    expect((await inBox(['python3', '-c', requests('web.test')], env)).out).toBe(
      'hello over tls\n',
    );
    expect((await inBox(['python3', '-c', requests('denied.test')], env)).out).toContain(
      '403 Forbidden',
    );
  });

  test('Node fetch: https by name (NODE_USE_ENV_PROXY); an unlisted host is refused', async () => {
    const fetchIt = (host: string): string =>
      `fetch('https://${host}:${port}/hello').then((r) => r.text()).then((t) => process.stdout.write(t), (e) => console.log('error', e.cause?.cause?.message ?? e.cause?.message))`;
    const env = { NODE_EXTRA_CA_CERTS: CA };
    expect((await inBox(['node', '-e', fetchIt('web.test')], env)).out).toBe('hello over tls\n');
    expect((await inBox(['node', '-e', fetchIt('denied.test')], env)).out).toBe(
      'error Proxy response (403) !== 200 when HTTP Tunneling\n',
    );
  });

  test("a WebSocket client (Node's global WebSocket): wss by name; an unlisted host is refused, and the log says why", async () => {
    const socket = (host: string): string =>
      `const ws = new WebSocket('wss://${host}:${port}/echo');
       ws.onopen = () => ws.send('hi');
       ws.onmessage = (m) => { console.log(m.data); ws.close(); };
       ws.onerror = () => { console.log('error'); process.exit(1); };`;
    const env = { NODE_EXTRA_CA_CERTS: CA };
    expect((await inBox(['node', '-e', socket('ws.test')], env)).out).toBe('echo: hi\n');
    const denied = await inBox(['node', '-e', socket('denied.test')], env);
    // Node's WebSocket reports a refused tunnel as a bare error event: the reason is in the log.
    expect(denied).toMatchObject({ code: 1, out: 'error\n' });
    expect(server.seen).not.toContain('denied.test upgrade /echo');
    expect(proxy.records).toContainEqual(
      expect.objectContaining({
        host: 'denied.test',
        decision: 'denied',
        reason: refusal('denied.test', port),
      }),
    );
  });

  test.skipIf(sshdMissing !== undefined)(
    `git over SSH through a host:port rule (GIT_SSH_COMMAND's connector)${sshdMissing === undefined ? '' : ` [skipped: ${sshdMissing}]`}`,
    async () => {
      const ssh = sshd!;
      await box.writeFile('/tmp/.ssh/id_ed25519', ssh.clientKey, { mode: 0o600 });
      await box.writeFile(
        '/tmp/.ssh/known_hosts',
        `[git.test]:${ssh.port} ${ssh.hostKey}\n[denied.test]:${ssh.port} ${ssh.hostKey}\n`,
      );
      const env = (await inBox(['sh', '-c', 'echo "$GIT_SSH_COMMAND"'])).out;
      expect(env).toMatch(/^ssh -o 'ProxyCommand=\S+ \/\.ironclaw\/agent\.mjs connect %h %p'\n$/);
      const url = (host: string): string =>
        `ssh://${ssh.user}@${host}:${ssh.port}${join(dir, 'repo.git')}`;
      const cloned = await sh(
        `git clone -q ${url('git.test')} /tmp/ssh-clone && cat /tmp/ssh-clone/README`,
      );
      expect(cloned).toMatchObject({ code: 0, out: 'hello from git\n' });
      const denied = await sh(`git clone -q ${url('denied.test')} /tmp/no-ssh`);
      expect(denied.code).not.toBe(0);
      expect(denied.err).toContain(
        `ironclaw connect: CONNECT denied.test:${ssh.port} refused: HTTP/1.1 403 Forbidden: IronClaw egress proxy: ${refusal('denied.test', ssh.port)}`,
      );
    },
    60_000,
  );
});
