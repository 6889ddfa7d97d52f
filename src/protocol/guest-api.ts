import * as z from 'zod/mini';
import { WindowSizeSchema } from './window-size.js';

/** Methods the guest agent serves, with their parameter and result schemas. */

const Base64 = z.string();
/** What can reach execve: a C string ends at its first NUL, so a NUL would cut it short. */
const CString = z
  .string()
  .check(z.refine((text) => !text.includes('\0'), { message: 'must not contain a NUL byte' }));
const Path = CString.check(z.minLength(1), z.maxLength(4096));
/** An environment variable's name: no `=`, which would end it early, and no NUL. */
const EnvName = CString.check(
  z.minLength(1),
  z.refine((name) => !name.includes('='), { message: 'must not contain "="' }),
);
const PositiveInt = z.number().check(z.int(), z.positive());
const Offset = z.number().check(z.int(), z.gte(0), z.lte(Number.MAX_SAFE_INTEGER));
/**
 * How `path` is spelled: utf8 (the default), or base64 of its bytes, for names that are not valid
 * UTF-8 (a file name is bytes to the kernel; list reports such names in `nameBytes`).
 */
const PathEncoding = z.optional(z.enum(['utf8', 'base64']));

/** Most bytes one read_file answers with: base64 of it fits a 16 MiB frame with room to spare. */
export const MAX_FILE_CHUNK_BYTES = 8 * 1024 * 1024;

export const PingParamsSchema = z.object({});
export const PingResultSchema = z.object({
  pid: z.number(),
  uptimeMs: z.number(),
  node: z.string(),
  /** A process for the next exec is made and waiting (src/guest/exec-stubs.ts); absent in a
   * box that makes none. */
  execReady: z.optional(z.boolean()),
});
export type PingResult = z.infer<typeof PingResultSchema>;

/** The terminal an exec runs in: its size, and the caller's TERM. */
export const TtySchema = z.extend(WindowSizeSchema, {
  term: z.optional(CString.check(z.minLength(1), z.maxLength(256))),
});
export type Tty = z.infer<typeof TtySchema>;

export const ExecParamsSchema = z
  .object({
    /** Program and arguments, run without a shell. */
    argv: z.optional(
      z.array(CString).check(
        z.minLength(1),
        z.maxLength(65536),
        z.refine((argv) => argv[0] !== '', { message: 'the program name must not be empty' }),
      ),
    ),
    /** A shell command line, run by /bin/sh -c. */
    shell: z.optional(CString),
    cwd: z.optional(Path),
    env: z.optional(z.record(EnvName, CString)),
    /** Bytes for stdin, base64. */
    stdin: z.optional(Base64),
    /** If true, stdin stays open for `input` messages until one carries eof. */
    stdinOpen: z.optional(z.boolean()),
    timeoutMs: z.optional(PositiveInt),
    /** Cap on stdout+stderr bytes streamed back; the rest is dropped and counted. */
    maxOutputBytes: z.optional(PositiveInt),
    /**
     * Run the command in a pseudo-terminal of this size, made in the box: its output (stdout and
     * stderr together, as a terminal shows them) comes as `stdout` events, and input `resize`
     * messages follow the caller's window.
     */
    tty: z.optional(TtySchema),
  })
  .check(
    z.refine((p) => (p.argv === undefined) !== (p.shell === undefined), {
      message: 'give exactly one of argv or shell',
    }),
  );
export type ExecParams = z.infer<typeof ExecParamsSchema>;

/** Data of the `stdout` and `stderr` events of an exec. */
export const OutputEventSchema = z.object({ data: Base64 });

export const ExecResultSchema = z.object({
  /** Exit status; 126 cannot execute, 127 not found, as shells report them. Null if signalled. */
  exitCode: z.nullable(z.number()),
  signal: z.nullable(z.string()),
  timedOut: z.boolean(),
  truncated: z.boolean(),
  /** Output bytes dropped past the cap. */
  droppedBytes: z.number(),
  durationMs: z.number(),
  /** The kernel's OOM killer ended the command: the box's memory limit was reached. */
  oomKilled: z.optional(z.boolean()),
  /** The box's memory limit, when known, reported with oomKilled. */
  memoryLimitBytes: z.optional(z.number()),
});
export type ExecResult = z.infer<typeof ExecResultSchema>;

/**
 * Writes `data` to a regular file: the whole file (created or truncated), or, with `offset`, at
 * that offset of the file (created if missing, never truncated), which is how a file of any size
 * goes in one chunk after another; or appended with `append`.
 */
export const WriteFileParamsSchema = z
  .object({
    path: Path,
    pathEncoding: PathEncoding,
    data: Base64,
    mode: z.optional(z.number().check(z.int(), z.gte(0), z.lte(0o7777))),
    append: z.optional(z.boolean()),
    offset: z.optional(Offset),
  })
  .check(
    z.refine((p) => !(p.append === true && p.offset !== undefined), {
      message: 'give at most one of append or offset',
    }),
  );
export const WriteFileResultSchema = z.object({ bytes: z.number() });

/** Reads up to `maxBytes` (at most MAX_FILE_CHUNK_BYTES) of a regular file from `offset`. */
export const ReadFileParamsSchema = z.object({
  path: Path,
  pathEncoding: PathEncoding,
  offset: z.optional(Offset),
  maxBytes: z.optional(PositiveInt),
});
export const ReadFileResultSchema = z.object({
  data: Base64,
  /** The file's size when this chunk was read. */
  size: z.number(),
  /** More of the file lies past this chunk. */
  truncated: z.boolean(),
});
export type ReadFileResult = z.infer<typeof ReadFileResultSchema>;

export const FileTypeSchema = z.enum(['file', 'directory', 'symlink', 'other']);

export const FileInfoSchema = z.object({
  /** The name as text; a name that is not valid UTF-8 shows U+FFFD here, and its bytes below. */
  name: z.string(),
  path: z.string(),
  /** Base64 of the name's bytes, present only when they are not valid UTF-8. */
  nameBytes: z.optional(Base64),
  /** Base64 of the path's bytes, present only when they are not valid UTF-8. */
  pathBytes: z.optional(Base64),
  type: FileTypeSchema,
  size: z.number(),
  mode: z.number(),
  mtimeMs: z.number(),
});
export type FileInfo = z.infer<typeof FileInfoSchema>;

export const PathParamsSchema = z.object({ path: Path, pathEncoding: PathEncoding });
export const ListResultSchema = z.object({
  entries: z.array(FileInfoSchema),
  /** Entries left out past the listing's cap. */
  omitted: z.optional(z.number()),
});
export const RemoveParamsSchema = z.object({
  path: Path,
  pathEncoding: PathEncoding,
  recursive: z.optional(z.boolean()),
});
export const EmptyResultSchema = z.object({});

/**
 * Bridges TCP connections to the box's own loopback at `port` to the host's egress proxy: to
 * the Unix socket `socket` in the box (bound in by the driver), or, with `channel`, as byte
 * streams over this connection (a VM, which has no other way to the host). The box gets a proxy
 * address and still has no route out. `env` is added to the environment of every command run
 * from then on (the proxy variables; a command's own env still wins).
 */
export const NetBridgeParamsSchema = z.object({
  port: z.number().check(z.int(), z.gte(1), z.lte(65535)),
  socket: z.optional(Path),
  channel: z.optional(z.literal(true)),
  env: z.optional(
    z.record(z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/)), z.string()),
  ),
});

/**
 * Starts the box's DNS stub on its own loopback at `port` (UDP and TCP): every A query gets the
 * sentinel address, nothing is forwarded (protocol/dns-stub.ts). Port 53 needs the host to have
 * lowered the box's unprivileged port floor first.
 */
export const DnsStubParamsSchema = z.object({
  port: z.number().check(z.int(), z.gte(1), z.lte(65535)),
});

/**
 * One TCP connection to 127.0.0.1:`port` in the box (a published port, `sandbox create -p`):
 * the host's bytes come as the request's input, the box's go back as `data` events
 * (OutputEventSchema); the request ends when the connection does.
 */
export const PortConnectParamsSchema = z.object({
  port: z.number().check(z.int(), z.gte(1), z.lte(65535)),
});

/**
 * What the box's own cgroup in a VM guest counts (src/image/init.ts makes it): absent where the
 * guest has none (a bwrap or gVisor box, whose host cgroup the host reads itself).
 */
export const GuestStatsResultSchema = z.object({
  stats: z.optional(
    z.object({
      memoryBytes: z.number(),
      memoryLimitBytes: z.optional(z.number()),
      pids: z.number(),
      pidsLimit: z.optional(z.number()),
      cpuSeconds: z.number(),
    }),
  ),
});
export type GuestStatsResult = z.infer<typeof GuestStatsResultSchema>;

export const GUEST_METHODS = {
  ping: { params: PingParamsSchema, result: PingResultSchema },
  exec: { params: ExecParamsSchema, result: ExecResultSchema },
  write_file: { params: WriteFileParamsSchema, result: WriteFileResultSchema },
  read_file: { params: ReadFileParamsSchema, result: ReadFileResultSchema },
  list: { params: PathParamsSchema, result: ListResultSchema },
  stat: { params: PathParamsSchema, result: FileInfoSchema },
  remove: { params: RemoveParamsSchema, result: EmptyResultSchema },
  net_bridge: { params: NetBridgeParamsSchema, result: EmptyResultSchema },
  dns_stub: { params: DnsStubParamsSchema, result: EmptyResultSchema },
  port_connect: { params: PortConnectParamsSchema, result: EmptyResultSchema },
  stats: { params: z.object({}), result: GuestStatsResultSchema },
} as const;
