import { createHash } from 'node:crypto';
import { constants, type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { IronClawError } from '../core/errors.js';
import { encodeTarHeader, tarEnd, tarPadding } from '../core/tar-writer.js';
import type { WorkspaceEntry } from '../core/workspace-changes.js';
import type { WorkspaceScan } from './workspace-scan.js';

const CHUNK = 1024 * 1024;

/**
 * The tar stream of a scanned workspace, written by IronClaw itself so that the manifest and
 * the archive come from the same reads: each file is opened once (never through a symlink),
 * hashed while it is sent, and recorded in `manifest` with the hash of exactly the bytes the
 * box got. A file that changed size since the scan fails the copy-in, naming it.
 */
export async function* packScan(
  scan: WorkspaceScan,
  manifest: WorkspaceEntry[],
): AsyncGenerator<Buffer> {
  yield encodeTarHeader({ path: './', type: 'directory', mode: 0o755, size: 0 });
  for (const entry of scan.entries) {
    const name = `./${entry.path}`;
    if (entry.type === 'directory') {
      yield encodeTarHeader({ path: name, type: 'directory', mode: entry.mode, size: 0 });
      manifest.push(entry);
    } else if (entry.type === 'symlink') {
      const linkTarget = entry.target ?? '';
      yield encodeTarHeader({ path: name, type: 'symlink', mode: 0o777, size: 0, linkTarget });
      manifest.push(entry);
    } else {
      const handle = await openFile(join(scan.dir, entry.path));
      try {
        const info = await handle.stat();
        if (!info.isFile() || info.size !== entry.size)
          throw changed(scan, entry.path, 'changed while it was being copied in');
        yield encodeTarHeader({ path: name, type: 'file', mode: entry.mode, size: entry.size });
        const hash = createHash('sha256');
        let sent = 0;
        while (sent < entry.size) {
          const buffer = Buffer.allocUnsafe(Math.min(CHUNK, entry.size - sent));
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, sent);
          if (bytesRead === 0)
            throw changed(scan, entry.path, 'shrank while it was being copied in');
          const chunk = buffer.subarray(0, bytesRead);
          hash.update(chunk);
          sent += bytesRead;
          yield chunk;
        }
        yield Buffer.alloc(tarPadding(entry.size));
        manifest.push({ ...entry, sha256: hash.digest('hex') });
      } finally {
        await handle.close();
      }
    }
  }
  yield tarEnd();
}

async function openFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new IronClawError(
      'FILE_ERROR',
      `cannot read ${path} to copy it into the box: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

function changed(scan: WorkspaceScan, path: string, what: string): IronClawError {
  return new IronClawError('FILE_ERROR', `${join(scan.dir, path)} ${what}; try again`);
}
