import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod/mini';
import { encodeFrame } from '../src/protocol/frame-encoder.js';
import { FrameDecoder } from '../src/protocol/frame-decoder.js';
import { RpcClient } from '../src/protocol/rpc-client.js';
import { DAEMON_METHODS } from '../src/protocol/daemon-api.js';
import { freshStateDir, runCli } from './helpers/cli.js';

let stateDir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  stateDir = await freshStateDir();
  env = { IRONCLAW_STATE_DIR: stateDir, IRONCLAW_POOL_SIZE: '1' };
});

afterAll(async () => {
  await runCli(['daemon', '--stop'], { env });
});

function daemonSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(join(stateDir, 'daemon.sock'));
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends raw bytes to the daemon and returns the first message it answers with. */
async function rawExchange(bytes: Buffer): Promise<unknown> {
  const socket = await daemonSocket();
  const decoder = new FrameDecoder();
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      const [first] = decoder.push(chunk);
      if (first !== undefined) resolve(first);
    });
    socket.once('close', () => reject(new Error('closed without an answer')));
    socket.write(bytes);
  });
}

describe('ironclaw sandbox (through the daemon)', () => {
  test('create, exec, write, read, ls, list, rm', async () => {
    const created = await runCli(['sandbox', 'create', '--id', 'cli-one'], { env });
    expect(created).toMatchObject({ code: 0, stdout: 'cli-one\n' });

    const exec = await runCli(
      ['sandbox', 'exec', 'cli-one', '--', 'sh', '-c', 'echo hi; echo oops >&2; exit 4'],
      { env },
    );
    expect(exec).toMatchObject({ code: 4, stdout: 'hi\n', stderr: 'oops\n' });

    const piped = await runCli(['sandbox', 'exec', 'cli-one', '--', 'tr', 'a-z', 'A-Z'], {
      env,
      input: 'shout\n',
    });
    expect(piped).toMatchObject({ code: 0, stdout: 'SHOUT\n' });

    expect(
      (
        await runCli(['sandbox', 'write', 'cli-one', 'notes/a.txt', '-'], {
          env,
          input: 'kept in the box\n',
        })
      ).code,
    ).toBe(0);
    expect(await runCli(['sandbox', 'read', 'cli-one', 'notes/a.txt'], { env })).toMatchObject({
      code: 0,
      stdout: 'kept in the box\n',
    });
    const state = await runCli(
      ['sandbox', 'exec', 'cli-one', '--', 'cat', '/workspace/notes/a.txt'],
      { env },
    );
    expect(state.stdout).toBe('kept in the box\n');

    const ls = await runCli(['sandbox', 'ls', 'cli-one', '--json'], { env });
    expect(JSON.parse(ls.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'notes', type: 'directory' })]),
    );

    const list = await runCli(['sandbox', 'list', '--json'], { env });
    expect(
      (JSON.parse(list.stdout) as { sandboxes: { id: string }[] }).sandboxes.map((s) => s.id),
    ).toContain('cli-one');

    expect((await runCli(['sandbox', 'rm', 'cli-one'], { env })).code).toBe(0);
    const gone = await runCli(['sandbox', 'exec', 'cli-one', '--', 'true'], { env });
    expect(gone.code).toBe(125);
    expect(gone.stderr).toContain('SANDBOX_NOT_FOUND');
  });

  test('bad ids and paths get clear errors', async () => {
    const badId = await runCli(['sandbox', 'create', '--id', '../../etc'], { env });
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('INVALID_ID');
    await runCli(['sandbox', 'create', '--id', 'cli-two'], { env });
    const traversal = await runCli(['sandbox', 'read', 'cli-two', '../../etc/passwd'], { env });
    expect(traversal.code).toBe(125);
    expect(traversal.stderr).toContain('PATH_OUTSIDE_SANDBOX');
    const outside = await runCli(['sandbox', 'read', 'cli-two', '/etc/shadow'], { env });
    expect(outside.stderr).toContain('PATH_OUTSIDE_SANDBOX');
    const duplicate = await runCli(['sandbox', 'create', '--id', 'cli-two'], { env });
    expect(duplicate.stderr).toContain('already exists');
    await runCli(['sandbox', 'rm', 'cli-two'], { env });
  });

  test('hostile frames close that connection with a reason; the daemon keeps serving', async () => {
    const oversize = Buffer.alloc(4);
    oversize.writeUInt32BE(16 * 1024 * 1024 + 1);
    expect(await rawExchange(oversize)).toMatchObject({
      t: 'fatal',
      error: { code: 'FRAME_TOO_LARGE' },
    });

    const notJson = Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('{{{{{')]);
    expect(await rawExchange(notJson)).toMatchObject({
      t: 'fatal',
      error: { code: 'FRAME_INVALID' },
    });

    expect(await rawExchange(encodeFrame({ t: 'req', id: 'x' }))).toMatchObject({
      t: 'fatal',
      error: { code: 'PROTOCOL_ERROR' },
    });

    expect(
      await rawExchange(encodeFrame({ t: 'req', id: 1, method: 'format_disk', params: {} })),
    ).toMatchObject({
      t: 'res',
      id: 1,
      ok: false,
      error: { code: 'INVALID_ARGUMENT' },
    });

    const client = new RpcClient(await daemonSocket(), { name: 'daemon' });
    await expect(
      client.request('create', { id: 'Bad Id!' }, DAEMON_METHODS.create.result),
    ).rejects.toMatchObject({ code: 'INVALID_ID' });
    await expect(
      client.request('read_file', { id: 'nope', path: 'x' }, DAEMON_METHODS.read_file.result),
    ).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
    await expect(
      client.request('exec', { id: 'nope' }, DAEMON_METHODS.exec.result),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const listed = await client.request('sandboxes', {}, DAEMON_METHODS.sandboxes.result);
    expect(listed.pool.target).toBe(1);
    client.close();

    const after = await runCli(['sandbox', 'list'], { env });
    expect(after.code).toBe(0);
    void z;
  });
});
