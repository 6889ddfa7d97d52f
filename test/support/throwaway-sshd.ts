// A throwaway sshd on a loopback port with its own config and host key, for git over SSH: the
// account is the test's own user, with one client key. Started only where /usr/sbin/sshd is.
import { execFile, spawn } from 'node:child_process';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SSHD = '/usr/sbin/sshd';

const hasSshd = await access(SSHD).then(
  () => true,
  () => false,
);
/** Why sshd cannot serve git here, or undefined when it can: it runs git through the login shell. */
export const sshdMissing = !hasSshd
  ? `no ${SSHD}; setup.sh installs openssh-server`
  : /(nologin|false)$/.test(userInfo().shell ?? '')
    ? `${userInfo().username}'s login shell is ${userInfo().shell}, so sshd cannot run git for it`
    : undefined;

export interface Sshd extends AsyncDisposable {
  port: number;
  user: string;
  /** The client's private key, and the host key's public half as known_hosts wants it. */
  clientKey: string;
  hostKey: string;
}

export async function startSshd(dir: string, signal: AbortSignal): Promise<Sshd> {
  await mkdir(dir, { recursive: true });
  for (const name of ['host_key', 'client_key'])
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
  await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'client_key.pub')));
  // sshd checks this directory exists when started as root (privilege separation).
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const user = userInfo().username;
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      'PidFile none',
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${user}`,
      '',
    ].join('\n'),
  );
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string): void => reject(new Error(`sshd did not start: ${why}\n${log}`));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      log += chunk;
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) resolve();
    });
    child.once('error', (error) => fail(error.message));
    child.once('exit', (code) => fail(`exit ${code}`));
    signal.addEventListener('abort', () => fail('timed out'), { once: true });
  });
  const [clientKey, hostPub] = await Promise.all([
    readFile(join(dir, 'client_key'), 'utf8'),
    readFile(join(dir, 'host_key.pub'), 'utf8'),
  ]);
  return {
    port,
    user,
    clientKey,
    hostKey: hostPub.split(' ').slice(0, 2).join(' '),
    [Symbol.asyncDispose]: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A port nothing listens on right now (sshd takes no port 0). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
