// What the egress tool tests serve on the host's loopback: a throwaway CA and one certificate
// for every test name, a tiny wheel, a tiny npm tarball and a bare git repository, all made
// with the host's own openssl, python3, tar and git. Nothing here leaves the machine.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Certs {
  /** The CA's certificate, PEM: what each tool is told to trust. */
  ca: string;
  key: string;
  cert: string;
}

/** A CA and a server certificate for `names`, signed by it. */
export async function makeCerts(dir: string, names: readonly string[]): Promise<Certs> {
  const path = (name: string): string => join(dir, name);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=IronClaw test CA',
    '-keyout',
    path('ca.key'),
    '-out',
    path('ca.pem'),
  ]);
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${names[0]}`,
    '-keyout',
    path('server.key'),
    '-out',
    path('server.csr'),
  ]);
  await writeFile(
    path('ext.cnf'),
    `subjectAltName=${names.map((name) => `DNS:${name}`).join(',')}\nextendedKeyUsage=serverAuth\n`,
  );
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    path('server.csr'),
    '-CA',
    path('ca.pem'),
    '-CAkey',
    path('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    path('ext.cnf'),
    '-out',
    path('server.pem'),
  ]);
  const [ca, key, cert] = await Promise.all(
    ['ca.pem', 'server.key', 'server.pem'].map((name) => readFile(path(name), 'utf8')),
  );
  return { ca: ca!, key: key!, cert: cert! };
}

/** tinypkg 0.1 as a wheel (a zip with its dist-info), and its sha256. */
export async function makeWheel(dir: string): Promise<{ name: string; bytes: Buffer }> {
  const name = 'tinypkg-0.1-py3-none-any.whl';
  const script = String.raw`
import base64, hashlib, sys, zipfile
files = {
    "tinypkg/__init__.py": b"GREETING = 'hello from tinypkg'\n",
    "tinypkg-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\n",
    "tinypkg-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: ironclaw-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = ""
for path, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record += "%s,sha256=%s,%d\n" % (path, digest, len(data))
record += "tinypkg-0.1.dist-info/RECORD,,\n"
with zipfile.ZipFile(sys.argv[1], "w") as wheel:
    for path, data in files.items():
        wheel.writestr(path, data)
    wheel.writestr("tinypkg-0.1.dist-info/RECORD", record)
`;
  await run('python3', ['-c', script, join(dir, name)]);
  return { name, bytes: await readFile(join(dir, name)) };
}

/** tiny-pkg 1.0.0 as npm packs it: package/package.json and package/index.js in a .tgz. */
export async function makeNpmTarball(dir: string): Promise<{ bytes: Buffer; integrity: string }> {
  const root = join(dir, 'npm');
  await mkdir(join(root, 'package'), { recursive: true });
  await writeFile(
    join(root, 'package', 'package.json'),
    JSON.stringify({ name: 'tiny-pkg', version: '1.0.0', main: 'index.js' }),
  );
  await writeFile(join(root, 'package', 'index.js'), "module.exports = 'hello from tiny-pkg';\n");
  await run('tar', ['-czf', join(root, 'tiny-pkg-1.0.0.tgz'), '-C', root, 'package']);
  const bytes = await readFile(join(root, 'tiny-pkg-1.0.0.tgz'));
  return {
    bytes,
    integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
  };
}

/** A bare repository with one commit (README says hello), ready for dumb HTTP and ssh. */
export async function makeGitRepo(dir: string): Promise<string> {
  const work = join(dir, 'git-work');
  const bare = join(dir, 'repo.git');
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'test',
    GIT_AUTHOR_EMAIL: 'test@example.test',
    GIT_COMMITTER_NAME: 'test',
    GIT_COMMITTER_EMAIL: 'test@example.test',
    GIT_CONFIG_NOSYSTEM: '1',
    HOME: dir,
  };
  await run('git', ['init', '-q', '-b', 'main', work], { env });
  await writeFile(join(work, 'README'), 'hello from git\n');
  await run('git', ['-C', work, 'add', 'README'], { env });
  await run('git', ['-C', work, 'commit', '-q', '-m', 'first'], { env });
  await run('git', ['clone', '-q', '--bare', work, bare], { env });
  await run('git', ['-C', bare, 'update-server-info'], { env });
  return bare;
}
