import { describe, expect, test } from 'vitest';
import { IronClawError } from './errors.js';
import { type TarEntry, TarReader } from './tar-reader.js';
import {
  encodeTarHeader,
  paxRecord,
  type TarHeaderInput,
  tarEnd,
  tarPadding,
} from './tar-writer.js';

function archive(entries: (TarHeaderInput & { data?: string })[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const data = Buffer.from(entry.data ?? '');
    parts.push(encodeTarHeader({ ...entry, size: entry.size || data.length }), data);
    parts.push(Buffer.alloc(tarPadding(data.length)));
  }
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

/** Reads an archive in chunks of `step` bytes: entries with their data. */
function read(bytes: Buffer, step = 7, limits = {}): { entry: TarEntry; data: string }[] {
  const reader = new TarReader(limits);
  const out: { entry: TarEntry; data: string }[] = [];
  for (let offset = 0; offset < bytes.length; offset += step) {
    for (const event of reader.push(bytes.subarray(offset, offset + step))) {
      if (event.kind === 'entry') out.push({ entry: event.entry, data: '' });
      else if (event.kind === 'data')
        (out.at(-1) as { data: string }).data += event.data.toString();
    }
  }
  reader.end();
  return out;
}

function refusal(bytes: Buffer, limits = {}): IronClawError {
  try {
    read(bytes, 512, limits);
  } catch (error) {
    if (error instanceof IronClawError) return error;
    throw error;
  }
  throw new Error('the archive was accepted');
}

const dir = (path: string): TarHeaderInput => ({ path, type: 'directory', mode: 0o755, size: 0 });
const file = (path: string, data: string, mode = 0o644) => ({
  path,
  type: 'file' as const,
  mode,
  size: 0,
  data,
});

describe('TarReader', () => {
  test('reads files, directories, symlinks, pax and long names in any chunking', () => {
    const long = `${'d'.repeat(120)}`;
    const bytes = archive([
      dir('./'),
      dir('./src'),
      file('./src/a.txt', 'hello\n', 0o600),
      { path: './link', type: 'symlink', mode: 0o777, size: 0, linkTarget: 'src/a.txt' },
      dir(`./${long}`),
      file(`./${long}/${'f'.repeat(150)}`, 'x'.repeat(1000)),
      file('./ünïcode', 'u'),
    ]);
    for (const step of [1, 7, 512, 100_000]) {
      const entries = read(bytes, step);
      expect(entries.map((e) => [e.entry.path, e.entry.type])).toEqual([
        ['src', 'directory'],
        ['src/a.txt', 'file'],
        ['link', 'symlink'],
        [long, 'directory'],
        [`${long}/${'f'.repeat(150)}`, 'file'],
        ['ünïcode', 'file'],
      ]);
      expect(entries[1]).toMatchObject({ entry: { mode: 0o600, size: 6 }, data: 'hello\n' });
      expect(entries[2]?.entry.linkTarget).toBe('src/a.txt');
      expect(entries[4]?.data).toBe('x'.repeat(1000));
    }
  });

  test('a size of 8 GiB or more travels in a pax header (and meets the cap)', () => {
    const header = encodeTarHeader({ path: 'huge', type: 'file', mode: 0o644, size: 2 ** 33 });
    const reader = new TarReader({ maxDataBytes: 2 ** 34 });
    const [event] = reader.push(header);
    expect(event).toMatchObject({ kind: 'entry', entry: { path: 'huge', size: 2 ** 33 } });
    expect(refusal(Buffer.concat([header, tarEnd()])).code).toBe('WORKSPACE_TOO_LARGE');
  });

  test('reads GNU long names (L) as GNU tar writes them', () => {
    const name = `./${'n'.repeat(200)}`;
    const body = Buffer.from(`${name}\0`);
    const bytes = Buffer.concat([
      encodeTarHeader({
        path: '././@LongLink',
        type: 'raw',
        typeflag: 'L',
        mode: 0,
        size: body.length,
      }),
      body,
      Buffer.alloc(tarPadding(body.length)),
      encodeTarHeader(file(name.slice(0, 99), '')),
      tarEnd(),
    ]);
    expect(read(bytes).map((e) => e.entry.path)).toEqual(['n'.repeat(200)]);
  });

  test.each([
    ['a ../ path', [file('../escape', 'x')], 'ARCHIVE_UNSAFE', '".." component'],
    ['a ../ deeper in', [dir('a'), file('a/../../etc/passwd', 'x')], 'ARCHIVE_UNSAFE', '".."'],
    ['an absolute path', [file('/etc/passwd', 'x')], 'ARCHIVE_UNSAFE', 'absolute'],
    [
      'a file through a symlink',
      [
        { path: 'link', type: 'symlink', mode: 0o777, size: 0, linkTarget: '/etc' },
        file('link/x', 'x'),
      ],
      'ARCHIVE_UNSAFE',
      'which is a symlink',
    ],
    [
      'a file under a file',
      [file('f', 'x'), file('f/g', 'y')],
      'ARCHIVE_UNSAFE',
      'which is a file',
    ],
    ['a missing parent', [file('nowhere/x', 'x')], 'ARCHIVE_UNSAFE', 'before its directory'],
    ['a path twice', [file('x', '1'), file('x', '2')], 'ARCHIVE_UNSAFE', 'twice'],
    ['a "." component', [dir('a'), file('a/./b', 'x')], 'ARCHIVE_UNSAFE', '"." component'],
    [
      'an unsupported entry type',
      [{ path: 's', type: 'raw', typeflag: 'S', mode: 0o644, size: 0 }],
      'ARCHIVE_INVALID',
      'not supported',
    ],
  ] as const)('refuses %s', (_name, entries, code, words) => {
    const error = refusal(archive([...entries]));
    expect(error.code).toBe(code);
    expect(error.message).toContain(words);
  });

  test('refuses a ../ path given by a pax header, and one given by a GNU long name', () => {
    const pax = Buffer.from(paxRecord('path', `${'a/'.repeat(60)}../../../../../../../../x`));
    const viaPax = Buffer.concat([
      encodeTarHeader({ path: 'PaxHeader', type: 'raw', typeflag: 'x', mode: 0, size: pax.length }),
      pax,
      Buffer.alloc(tarPadding(pax.length)),
      encodeTarHeader(file('innocent', '')),
      tarEnd(),
    ]);
    expect(refusal(viaPax).code).toBe('ARCHIVE_UNSAFE');
    const body = Buffer.from('../../x\0');
    const viaGnu = Buffer.concat([
      encodeTarHeader({
        path: '././@LongLink',
        type: 'raw',
        typeflag: 'L',
        mode: 0,
        size: body.length,
      }),
      body,
      Buffer.alloc(tarPadding(body.length)),
      encodeTarHeader(file('innocent', '')),
      tarEnd(),
    ]);
    expect(refusal(viaGnu).code).toBe('ARCHIVE_UNSAFE');
  });

  test('caps: huge headers, too much data, too many entries, bad checksums, truncation', () => {
    const huge = encodeTarHeader({ path: 'x', type: 'raw', typeflag: 'x', mode: 0, size: 1 << 30 });
    expect(refusal(Buffer.concat([huge, tarEnd()])).message).toContain('over the cap');
    expect(refusal(archive([file('big', 'x'.repeat(2000))]), { maxDataBytes: 1000 }).code).toBe(
      'WORKSPACE_TOO_LARGE',
    );
    expect(
      refusal(archive([file('a', ''), file('b', ''), file('c', '')]), { maxEntries: 2 }).code,
    ).toBe('WORKSPACE_TOO_LARGE');
    const corrupt = archive([file('a', 'x')]);
    corrupt[0] = 0x62;
    expect(refusal(corrupt).message).toContain('checksum');
    const truncated = archive([file('a', 'x'.repeat(600))]).subarray(0, 700);
    expect(refusal(truncated).message).toContain('ended early');
    const withData = archive([{ ...dir('d'), size: 3 }]);
    expect(refusal(withData).message).toContain('has data');
  });
});
