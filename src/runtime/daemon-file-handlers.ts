import { DAEMON_METHODS } from '../protocol/daemon-api.js';
import { type Handler, parseParams } from '../protocol/rpc-server.js';
import type { Sandbox } from './sandbox.js';

type FileMethod = 'write_file' | 'read_file' | 'list' | 'stat';

/** The daemon's file-transfer methods, on the sandbox that `find` resolves from a request's id. */
export function daemonFileHandlers(find: (id: string) => Sandbox): Record<FileMethod, Handler> {
  return {
    // Files go in and out one chunk per request, so a client of any size of file keeps its own
    // pace and the daemon holds one chunk at a time.
    write_file: async (raw, context) => {
      const params = parseParams(DAEMON_METHODS.write_file.params, raw, 'write_file');
      const data = Buffer.from(params.data, 'base64');
      const sandbox = find(params.id);
      const path = bytesOf(params);
      if (params.append) {
        const { size } = await sandbox.stat(path, { signal: context.signal }).catch(() => ({
          size: 0,
        }));
        await sandbox.writeFile(path, data, { signal: context.signal, offset: size });
      } else {
        await sandbox.writeFile(path, data, {
          signal: context.signal,
          ...(params.mode === undefined ? {} : { mode: params.mode }),
          ...(params.offset === undefined ? {} : { offset: params.offset }),
        });
      }
      return { bytes: data.length };
    },
    read_file: async (raw, context) => {
      const params = parseParams(DAEMON_METHODS.read_file.params, raw, 'read_file');
      const chunk = await find(params.id).readFileChunk(bytesOf(params), {
        signal: context.signal,
        ...(params.offset === undefined ? {} : { offset: params.offset }),
        ...(params.maxBytes === undefined ? {} : { maxBytes: params.maxBytes }),
      });
      return { data: chunk.data.toString('base64'), size: chunk.size, truncated: chunk.truncated };
    },
    list: async (raw, context) => {
      const params = parseParams(DAEMON_METHODS.list.params, raw, 'list');
      return find(params.id).listDir(bytesOf(params), { signal: context.signal });
    },
    stat: async (raw, context) => {
      const params = parseParams(DAEMON_METHODS.stat.params, raw, 'stat');
      return find(params.id).stat(bytesOf(params), { signal: context.signal });
    },
  };
}

/** A path as the client spelled it: text, or the bytes of a name that is not UTF-8. */
function bytesOf(params: {
  path: string;
  pathEncoding?: 'utf8' | 'base64' | undefined;
}): string | Buffer {
  return params.pathEncoding === 'base64' ? Buffer.from(params.path, 'base64') : params.path;
}
