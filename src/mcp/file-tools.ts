import type { McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod/mini';
import {
  EncodingInput,
  FileContentInput,
  FileEntryOutput,
  MCP_LIMITS,
  PathInput,
  SandboxIdInput,
} from './schemas.js';
import { decodeContent, type ToolDeps, toolCall } from './tool-context.js';
import { toolOk } from './tool-result.js';
import { toolSchema } from './tool-schema.js';

const WriteInput = z.object({
  sandboxId: SandboxIdInput,
  path: PathInput,
  content: FileContentInput,
  encoding: z.optional(EncodingInput),
  executable: z.optional(
    z.boolean().check(z.describe('Make the file executable (mode 0755 instead of 0644).')),
  ),
});

const ReadInput = z.object({
  sandboxId: SandboxIdInput,
  path: PathInput,
  encoding: z.optional(
    z
      .enum(['auto', 'utf8', 'base64'])
      .check(
        z.describe(
          'auto (default): utf8 text when the file is valid UTF-8, else base64. utf8 replaces invalid bytes.',
        ),
      ),
  ),
});

const ListInput = z.object({
  sandboxId: SandboxIdInput,
  path: z.optional(PathInput),
});

const utf8 = new TextDecoder('utf-8', { fatal: true });
const closed = { openWorldHint: false } as const;

export function registerFileTools(server: McpServer, deps: ToolDeps): void {
  const { sandboxes } = deps;
  server.registerTool(
    'sandbox_write_file',
    {
      title: 'Write a file in a sandbox',
      description: `Write a file in a sandbox of this session, creating its directories; an existing file is replaced. Paths are relative to /workspace, or absolute under /workspace or /tmp. At most ${MCP_LIMITS.fileBytes / 1024 ** 2} MiB per call; binary content goes as base64.`,
      inputSchema: toolSchema(WriteInput),
      outputSchema: toolSchema(
        z.object({ sandboxId: z.string(), path: z.string(), bytes: z.number() }),
      ),
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, ...closed },
    },
    (args, ctx) =>
      toolCall(deps, 'sandbox_write_file', async () => {
        const { sandbox } = sandboxes.get(args.sandboxId);
        const bytes = decodeContent(args.content, args.encoding, args.path, MCP_LIMITS.fileBytes);
        await sandbox.writeFile(args.path, bytes, {
          signal: ctx.mcpReq.signal,
          ...(args.executable ? { mode: 0o755 } : {}),
        });
        return toolOk(
          { sandboxId: args.sandboxId, path: args.path, bytes: bytes.length },
          `Wrote ${bytes.length} bytes to ${args.path}.`,
        );
      }),
  );

  server.registerTool(
    'sandbox_read_file',
    {
      title: 'Read a file from a sandbox',
      description: `Read a whole file from a sandbox of this session (at most ${MCP_LIMITS.readBytes / 1024 ** 2} MiB; look into bigger files with sandbox_exec, e.g. head, grep or sed -n). Text comes back as UTF-8; a binary file comes back as base64 in the structured result only (inspect it with sandbox_exec and xxd or file).`,
      inputSchema: toolSchema(ReadInput),
      outputSchema: toolSchema(
        z.object({
          sandboxId: z.string(),
          path: z.string(),
          content: z.string(),
          encoding: z.enum(['utf8', 'base64']),
          size: z.number(),
        }),
      ),
      annotations: { readOnlyHint: true, idempotentHint: true, ...closed },
    },
    (args, ctx) =>
      toolCall(deps, 'sandbox_read_file', async () => {
        const { sandbox } = sandboxes.get(args.sandboxId);
        const data = await sandbox.readFile(args.path, {
          signal: ctx.mcpReq.signal,
          maxBytes: MCP_LIMITS.readBytes,
        });
        const wanted = args.encoding ?? 'auto';
        let text: string | undefined;
        if (wanted === 'utf8') text = data.toString('utf8');
        else if (wanted === 'auto') text = decodeStrict(data);
        const result = {
          sandboxId: args.sandboxId,
          path: args.path,
          content: text ?? data.toString('base64'),
          encoding: text === undefined ? ('base64' as const) : ('utf8' as const),
          size: data.length,
        };
        // Base64 the caller did not ask for is no use to a model: it gets a pointer instead.
        const shown =
          text ??
          (wanted === 'base64'
            ? result.content
            : `${args.path} is binary (${data.length} bytes): its base64 is in the structured result, or ask for encoding base64; inspect it with sandbox_exec (xxd, file, od).`);
        return toolOk(result, shown);
      }),
  );

  server.registerTool(
    'sandbox_list_files',
    {
      title: 'List a directory in a sandbox',
      description:
        'List the entries of a directory in a sandbox of this session (default /workspace): name, type, size, mode and modification time. Not recursive; use sandbox_exec with find for a tree.',
      inputSchema: toolSchema(ListInput),
      outputSchema: toolSchema(
        z.object({ sandboxId: z.string(), path: z.string(), entries: z.array(FileEntryOutput) }),
      ),
      annotations: { readOnlyHint: true, idempotentHint: true, ...closed },
    },
    (args, ctx) =>
      toolCall(deps, 'sandbox_list_files', async () => {
        const { sandbox } = sandboxes.get(args.sandboxId);
        const path = args.path ?? '/workspace';
        const entries = (await sandbox.list(path, { signal: ctx.mcpReq.signal })).map((entry) => ({
          name: entry.name,
          path: entry.path,
          type: entry.type,
          size: entry.size,
          mode: entry.mode,
          mtime: new Date(entry.mtimeMs).toISOString(),
        }));
        const text = entries.length
          ? entries
              .map((e) =>
                e.type === 'directory' ? `${e.name}/` : `${e.name} (${e.type}, ${e.size} bytes)`,
              )
              .join('\n')
          : `${path} is empty.`;
        return toolOk({ sandboxId: args.sandboxId, path, entries }, text);
      }),
  );
}

function decodeStrict(data: Buffer): string | undefined {
  try {
    return utf8.decode(data);
  } catch {
    return undefined;
  }
}
