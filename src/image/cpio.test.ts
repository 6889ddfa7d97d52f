import { spawn } from 'node:child_process';
import { lstat, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { IronClawError } from '../core/errors.js';
import { type CpioEntry, cpioArchive } from './cpio.js';

const ENTRIES: CpioEntry[] = [
  { type: 'directory', path: 'bin' },
  { type: 'file', path: 'bin/tool', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
  { type: 'symlink', path: 'bin/sh', target: 'tool' },
  // Its parent directories are not listed: the writer adds them.
  { type: 'file', path: 'lib/modules/a.ko', data: Uint8Array.from({ length: 4099 }, (_, i) => i) },
  { type: 'file', path: 'empty', data: new Uint8Array(0) },
  { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
];
const PATHS = [
  'bin',
  'bin/tool',
  'bin/sh',
  'lib',
  'lib/modules',
  'lib/modules/a.ko',
  'empty',
  'dev',
  'dev/console',
];

/** A reader written from the format description, independent of the writer's code. */
function parse(archive: Buffer): { name: string; fields: number[]; data: Buffer }[] {
  const out = [];
  let offset = 0;
  for (;;) {
    expect(archive.toString('ascii', offset, offset + 6)).toBe('070701');
    const fields = Array.from({ length: 13 }, (_, i) =>
      parseInt(archive.toString('ascii', offset + 6 + i * 8, offset + 14 + i * 8), 16),
    );
    const nameSize = fields[11] ?? 0;
    const name = archive.toString('utf8', offset + 110, offset + 110 + nameSize - 1);
    expect(archive[offset + 110 + nameSize - 1]).toBe(0);
    offset += Math.ceil((110 + nameSize) / 4) * 4;
    const size = fields[6] ?? 0;
    const data = archive.subarray(offset, offset + size);
    offset += Math.ceil(size / 4) * 4;
    if (name === 'TRAILER!!!') break;
    out.push({ name, fields, data });
  }
  expect(offset).toBe(archive.length);
  return out;
}

function run(
  argv: string[],
  input: Buffer,
  cwd: string,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] ?? '', argv.slice(1), { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', () => undefined);
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
    // A tool that stops reading early (a `which` probe, a failing cpio) is not a test error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

async function which(name: string): Promise<boolean> {
  return (await run(['sh', '-c', `command -v ${name}`], Buffer.alloc(0), '/')).code === 0;
}

const gnu = await which('cpio');
const bsd = await which('bsdcpio');

describe('cpioArchive (newc)', () => {
  const archive = cpioArchive(ENTRIES, { mtime: 1_700_000_000 });

  test('writes every entry, parents first, 4-byte aligned, with a trailer', () => {
    const entries = parse(archive);
    expect(entries.map((entry) => entry.name)).toEqual(PATHS);
    const byName = new Map(entries.map((entry) => [entry.name, entry]));
    expect(byName.get('bin/tool')?.fields[1]).toBe(0o100755);
    expect(byName.get('bin/sh')?.data.toString()).toBe('tool');
    expect(byName.get('bin/sh')?.fields[1]).toBe(0o120777);
    expect(byName.get('lib/modules')?.fields[1]).toBe(0o040755);
    expect(byName.get('dev/console')?.fields.slice(9, 11)).toEqual([5, 1]);
    expect(byName.get('lib/modules/a.ko')?.data).toEqual(
      Buffer.from(Uint8Array.from({ length: 4099 }, (_, i) => i)),
    );
    expect(entries.every((entry) => entry.fields[5] === 1_700_000_000)).toBe(true);
    expect(new Set(entries.map((entry) => entry.fields[0])).size).toBe(entries.length);
  });

  test('is reproducible: the same entries give the same bytes', () => {
    expect(cpioArchive(ENTRIES, { mtime: 1_700_000_000 }).equals(archive)).toBe(true);
  });

  test('refuses paths that leave the archive root, duplicates and bad modes', () => {
    const bad: CpioEntry[][] = [
      [{ type: 'directory', path: '../up' }],
      [{ type: 'directory', path: 'a/../../b' }],
      [{ type: 'directory', path: '/' }],
      [{ type: 'directory', path: 'a\0b' }],
      [
        { type: 'directory', path: 'x' },
        { type: 'directory', path: 'x/' },
      ],
      [{ type: 'file', path: 'f', data: new Uint8Array(0), mode: 0o10000 }],
      [{ type: 'symlink', path: 'l', target: '' }],
    ];
    for (const entries of bad) {
      expect(() => cpioArchive(entries), JSON.stringify(entries)).toThrow(IronClawError);
    }
  });

  describe('read back by other implementations', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ironclaw-cpio-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    test.skipIf(!gnu)(
      `GNU cpio -t lists it and cpio -id extracts it${gnu ? '' : ' [skipped: no cpio binary; apt-get install cpio]'}`,
      async () => {
        const listed = await run(['cpio', '--quiet', '-t'], archive, dir);
        expect(listed.code).toBe(0);
        expect(listed.out.trim().split('\n')).toEqual(PATHS);
        const out = join(dir, 'gnu');
        await run(['mkdir', out], Buffer.alloc(0), dir);
        // Device nodes need root to create: extract everything else.
        const extracted = await run(
          ['cpio', '--quiet', '-idm', '--no-absolute-filenames', '--nonmatching', 'dev/console'],
          archive,
          out,
        );
        expect(extracted.code).toBe(0);
        expect(await readFile(join(out, 'bin/tool'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
        expect((await lstat(join(out, 'bin/tool'))).mode & 0o777).toBe(0o755);
        expect(await readlink(join(out, 'bin/sh'))).toBe('tool');
        expect((await readFile(join(out, 'lib/modules/a.ko'))).length).toBe(4099);
        expect((await lstat(join(out, 'empty'))).size).toBe(0);
      },
    );

    test.skipIf(!bsd)(
      `bsdcpio (libarchive) -it lists it${bsd ? '' : ' [skipped: no bsdcpio binary; apt-get install libarchive-tools]'}`,
      async () => {
        const listed = await run(['bsdcpio', '-it', '--quiet'], archive, dir);
        expect(listed.code).toBe(0);
        expect(listed.out.trim().split('\n')).toEqual(PATHS);
      },
    );
  });
});
