// srt's HTTP proxy (@anthropic-ai/sandbox-runtime), for the egress rows' comparison: installed
// with npm into a directory under the system's temporary directory, never into this project's
// dependencies, and reused by later runs. Started in-process (egress-proxies.mjs's), as its own
// tests do, with a
// filter that allows 127.0.0.1 on the bench servers' ports, and listening on 127.0.0.1 (TCP:
// srt's proxy serves sandboxes on a TCP port).
import { execFile } from 'node:child_process';
import { access, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const PACKAGE = '@anthropic-ai/sandbox-runtime';
const DIR = join(tmpdir(), 'ironclaw-bench-srt');
const PROXY_MODULE = join(DIR, 'node_modules', PACKAGE, 'dist', 'sandbox', 'http-proxy.js');

/**
 * srt's proxy module, installed first if it is not there yet, or why it cannot be had.
 * @param {(message: string) => void} progress
 * @returns {Promise<{ version: string, module: string } | { missing: string }>}
 */
export async function loadSrtProxy(progress) {
  const present = await access(PROXY_MODULE).then(
    () => true,
    () => false,
  );
  if (!present) {
    progress(`installing ${PACKAGE} into ${DIR} (not into the project)`);
    await mkdir(DIR, { recursive: true });
    try {
      await promisify(execFile)(
        'npm',
        ['install', '--prefix', DIR, '--no-save', '--no-audit', '--no-fund', PACKAGE],
        { timeout: 300_000 },
      );
    } catch (error) {
      const why = /** @type {{ stderr?: string, message: string }} */ (error);
      return {
        missing: `npm install ${PACKAGE} failed: ${(why.stderr || why.message).trim().split('\n').at(-1)}`,
      };
    }
  }
  try {
    const manifest = JSON.parse(
      await readFile(join(DIR, 'node_modules', PACKAGE, 'package.json'), 'utf8'),
    );
    const module = await import(pathToFileURL(PROXY_MODULE).href);
    if (typeof module.createHttpProxyServer !== 'function')
      throw new Error('it has no createHttpProxyServer');
    return { version: String(manifest.version), module: PROXY_MODULE };
  } catch (error) {
    return {
      missing: `${PACKAGE} is installed in ${DIR} but its proxy does not load: ${String(error)}`,
    };
  }
}

/**
 * srt's proxy on 127.0.0.1, allowing 127.0.0.1 on `ports` only.
 * @param {Function} createHttpProxyServer
 * @param {number[]} ports
 * @returns {Promise<{ port: number, close: () => Promise<void> }>}
 */
export async function startSrtProxy(createHttpProxyServer, ports) {
  /** @type {import('node:http').Server} */
  const server = createHttpProxyServer({
    filter: (/** @type {number} */ port, /** @type {string} */ host) =>
      host === '127.0.0.1' && ports.includes(port),
  });
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    port: address.port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve(undefined));
      }),
  };
}
