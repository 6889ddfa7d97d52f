import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox, type Sandbox } from '../src/index.js';
import { expectCode } from './support/expect-code.js';
import { eventually } from './support/host-processes.js';

// Issue 13: output and files are never silently lost, and a box never wedges on what it holds.
// Run on bwrap, whose boxes start fast enough for files and output of 100 MiB.

const MiB = 1024 ** 2;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

let box: Sandbox;
beforeAll(async () => {
  box = await createSandbox({ driver: 'bwrap' });
});
afterAll(async () => {
  await box.destroy();
});

async function boxSha256(path: string): Promise<string> {
  const result = await box.exec(['sha256sum', path]);
  expect(result.exitCode).toBe(0);
  return result.stdout.toString().split(' ')[0] ?? '';
}

describe('files of any size', () => {
  test('100 MiB in from a stream and out again, whole and as a stream, by sha256', async () => {
    const data = randomBytes(100 * MiB);
    const pieces = Array.from({ length: 100 }, (_, i) => data.subarray(i * MiB, (i + 1) * MiB));
    await box.writeFile('big/in.bin', Readable.from(pieces), { mode: 0o600 });
    expect(await boxSha256('/workspace/big/in.bin')).toBe(sha256(data));
    expect((await box.stat('big/in.bin')).mode).toBe(0o600);

    expect(sha256(await box.readFile('big/in.bin'))).toBe(sha256(data));
    // A stream read in part, then left: its reads ahead are settled, the box is not disturbed.
    const head: Buffer[] = [];
    for await (const chunk of box.readFileStream('big/in.bin')) {
      head.push(chunk);
      if (head.length === 3) break;
    }
    expect(Buffer.concat(head)).toEqual(data.subarray(0, Buffer.concat(head).length));
    expect(Buffer.concat(head).length).toBeGreaterThan(2 * MiB);
    // A cap asked for is an error past it, never a cut.
    await expectCode(() => box.readFile('big/in.bin', { maxBytes: MiB }), 'FILE_ERROR');
    await box.remove('big', { recursive: true });
  }, 120_000);

  test('a write at an offset keeps what is there; a plain write replaces it', async () => {
    await box.writeFile('offset.txt', 'hello world');
    await box.writeFile('offset.txt', 'W', { offset: 6 });
    expect((await box.readFile('offset.txt')).toString()).toBe('hello World');
    await box.writeFile('offset.txt', 'new');
    expect((await box.readFile('offset.txt')).toString()).toBe('new');
    await box.writeFile('empty.txt', '');
    expect((await box.readFile('empty.txt')).length).toBe(0);
  });
});

describe('exec output', () => {
  test('100 MiB streamed through the callbacks, uncapped, by sha256', async () => {
    const command = 'head -c 104857600 /dev/urandom > /tmp/out.bin && sha256sum /tmp/out.bin';
    const expected = (await box.exec(command)).stdout.toString().split(' ')[0];
    const hash = createHash('sha256');
    let bytes = 0;
    const result = await box.exec(['cat', '/tmp/out.bin'], {
      maxOutputBytes: Number.MAX_SAFE_INTEGER,
      collect: false,
      onStdout: (chunk) => {
        hash.update(chunk);
        bytes += chunk.length;
      },
    });
    expect(result).toMatchObject({ exitCode: 0, truncated: false, droppedBytes: 0 });
    expect(bytes).toBe(100 * MiB);
    expect(hash.digest('hex')).toBe(expected);
    await box.remove('/tmp/out.bin');
  }, 120_000);

  test('collected output past the cap is reported as truncated, with what was dropped', async () => {
    const result = await box.exec(['head', '-c', String(3 * MiB), '/dev/zero'], {
      maxOutputBytes: MiB,
    });
    expect(result).toMatchObject({ exitCode: 0, truncated: true, droppedBytes: 2 * MiB });
    expect(result.stdout.toString()).toContain('[ironclaw: output truncated at');
  });

  test('a timeout is exit status 124 with timedOut, killed by SIGKILL', async () => {
    const result = await box.exec(['sleep', '30'], { timeoutMs: 300 });
    expect(result).toMatchObject({ exitCode: 124, timedOut: true, signal: 'SIGKILL' });
  });
});

describe('special files never block the guest agent', () => {
  /** Prints "blocked" once a `cat /workspace/fifo` in the box sleeps (in its open of the FIFO). */
  const READER_BLOCKED = `for p in /proc/[0-9]*; do
    [ "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)" = 'cat /workspace/fifo ' ] &&
      grep -q '^State:[[:space:]]*S' $p/status 2>/dev/null && echo blocked
  done; true`;

  test('reads and writes of a FIFO fail at once, and the box keeps working', async () => {
    expect((await box.exec(['mkfifo', '/workspace/fifo'])).exitCode).toBe(0);
    // Past four: node's threadpool has four threads, each of which a blocking open would hold.
    for (let i = 0; i < 6; i++) {
      const error = await expectCode(
        () => box.readFile('fifo', { signal: AbortSignal.timeout(5000) }),
        'FILE_ERROR',
      );
      expect(error.message).toMatch(/FIFO/);
    }
    for (let i = 0; i < 6; i++) {
      await expectCode(
        () => box.writeFile('fifo', 'x', { signal: AbortSignal.timeout(5000) }),
        'FILE_ERROR',
      );
    }
    // A reader waiting on the FIFO must not make the write go through either.
    const reader = box.exec(['cat', '/workspace/fifo'], { timeoutMs: 60_000 });
    // The event: the reader sleeps in its open of the FIFO, which waits for a writer.
    const blocked = await eventually(
      async () => (await box.exec(['sh', '-c', READER_BLOCKED])).stdout.toString(),
      (out) => out.includes('blocked'),
      30_000,
    );
    expect(blocked).toContain('blocked');
    await expectCode(
      () => box.writeFile('fifo', 'x', { signal: AbortSignal.timeout(5000) }),
      'FILE_ERROR',
    );
    // Whatever the refused write did, a read-write open (which never blocks on a FIFO) releases
    // the reader if it still waits; it then ends of itself, not by its time limit.
    await box.exec(['sh', '-c', 'exec 3<>/workspace/fifo'], { timeoutMs: 30_000 });
    expect(await reader).toMatchObject({ exitCode: 0, timedOut: false });
    const alive = await box.exec(['echo', 'alive'], { signal: AbortSignal.timeout(5000) });
    expect(alive.stdout.toString()).toBe('alive\n');
    expect(await box.readFile('offset.txt')).toBeDefined();
    await box.remove('fifo');
  }, 60_000);
});

describe('file names are bytes', () => {
  test('a name that is not UTF-8 is listed with its bytes, and read and written by them', async () => {
    const name = Buffer.from([0x6e, 0xff, 0xfe, 0x2e, 0x74]); // "n", two bytes no UTF-8 has, ".t"
    await box.exec(['mkdir', '-p', '/workspace/names']);
    await box.exec([
      'sh',
      '-c',
      "printf 'from the box' > \"$(printf '/workspace/names/n\\377\\376.t')\"",
    ]);
    await box.writeFile('names/plain.txt', 'plain');
    const entries = await box.list('names');
    expect(entries.map((entry) => entry.name).sort()).toEqual(['n\ufffd\ufffd.t', 'plain.txt']);
    const odd = entries.find((entry) => entry.nameBytes !== undefined);
    expect(odd?.nameBytes).toBe(name.toString('base64'));
    expect(entries.find((entry) => entry.name === 'plain.txt')?.nameBytes).toBeUndefined();
    const path = Buffer.concat([Buffer.from('/workspace/names/'), name]);
    expect(Buffer.from(odd?.pathBytes ?? '', 'base64')).toEqual(path);

    expect((await box.readFile(path)).toString()).toBe('from the box');
    await box.writeFile(path, 'from the host');
    const seen = await box.exec(['sh', '-c', 'cat "$(printf \'/workspace/names/n\\377\\376.t\')"']);
    expect(seen.stdout.toString()).toBe('from the host');
    expect((await box.stat(path)).type).toBe('file');
    await box.remove(path);
    expect((await box.list('names')).map((entry) => entry.name)).toEqual(['plain.txt']);
  });
});
