import * as z from 'zod/mini';
import { type DriverName, DRIVERS } from '../core/isolation.js';

/**
 * Limits on what one tool call may carry. A result holds its data twice (structured, and as text
 * for the model) and clients cap what they read (the SDK's stdio client at 10 MB), so results are
 * capped lower than arguments. Bigger work goes through files and several calls.
 */
export const MCP_LIMITS = {
  /** Bytes of one file written through a tool (decoded). */
  fileBytes: 8 * 1024 ** 2,
  /** Bytes of one file read through a tool. */
  readBytes: 2 * 1024 ** 2,
  /** Files `run` writes before its command. */
  files: 64,
  /** A shell command line: the kernel refuses a single argument past 128 KiB anyway. */
  commandChars: 64 * 1024,
  /** stdout+stderr kept per exec unless the call asks for another cap. */
  defaultOutputBytes: 1024 ** 2,
  maxOutputBytes: 2 * 1024 ** 2,
  defaultTimeoutSeconds: 60,
  maxTimeoutSeconds: 3600,
} as const;

const described = <T extends z.ZodMiniType>(schema: T, text: string): T =>
  schema.check(z.describe(text));

/** base64 of `bytes` bytes takes this many characters. */
const base64Chars = (bytes: number): number => Math.ceil(bytes / 3) * 4;

export const SandboxIdInput = described(
  z.string().check(z.minLength(1), z.maxLength(64)),
  'Id of a sandbox this session created with sandbox_create (sandbox_list shows them).',
);

/** What each driver puts between the code and the host, for a model choosing one. */
const DRIVER_NOTES: Record<DriverName, string> = {
  bwrap: 'namespaces + seccomp, the fastest',
  gvisor: 'a user-space kernel between the code and the host',
  qemu: 'a virtual machine (QEMU)',
  firecracker: 'a virtual machine (Firecracker, needs a bootable KVM)',
};

export const DriverInput = described(
  z.enum(DRIVERS),
  `Isolation driver: ${DRIVERS.map((name) => `${name} (${DRIVER_NOTES[name]})`).join(', ')}. Default: the server's default.`,
);

export const EncodingInput = described(
  z.enum(['utf8', 'base64']),
  'How `content` is encoded: utf8 text (default) or base64 for binary data.',
);

export const FileContentInput = described(
  z.string().check(z.maxLength(base64Chars(MCP_LIMITS.fileBytes))),
  `File content, at most ${MCP_LIMITS.fileBytes / 1024 ** 2} MiB.`,
);

export const PathInput = described(
  z.string().check(z.minLength(1), z.maxLength(4096)),
  'A path inside the sandbox: relative to /workspace, or absolute under /workspace or /tmp.',
);

/** Options every exec takes, for `run` and `sandbox_exec` alike. */
export const execOptionFields = {
  stdin: z.optional(
    described(
      z.string().check(z.maxLength(MCP_LIMITS.fileBytes)),
      'Text given to the command on stdin.',
    ),
  ),
  env: z.optional(
    described(
      z
        .record(z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/)), z.string())
        .check(z.refine((env) => Object.keys(env).length <= 256, 'at most 256 variables')),
      'Environment variables for the command (the box has no host variables).',
    ),
  ),
  timeoutSeconds: z.optional(
    described(
      z.number().check(z.positive(), z.lte(MCP_LIMITS.maxTimeoutSeconds)),
      `Kill the command (and everything it started) after this many seconds. Default ${MCP_LIMITS.defaultTimeoutSeconds}.`,
    ),
  ),
  maxOutputBytes: z.optional(
    described(
      z.number().check(z.int(), z.positive(), z.lte(MCP_LIMITS.maxOutputBytes)),
      `Cap on stdout+stderr bytes returned; the rest is dropped and reported as truncated. Default ${MCP_LIMITS.defaultOutputBytes / 1024 ** 2} MiB.`,
    ),
  ),
};

export const LimitFields = {
  memory: z.optional(
    described(
      z.string().check(z.maxLength(32)),
      'Memory limit such as 512m or 2g (needs cgroups on the host).',
    ),
  ),
  pids: z.optional(
    described(
      z.number().check(z.int(), z.positive(), z.lte(1_000_000)),
      'Limit on processes and threads inside the sandbox (needs cgroups on the host).',
    ),
  ),
};

/** Network egress for a sandbox: none unless the caller lists what it may reach. */
export const NetworkFields = {
  allowNet: z.optional(
    described(
      z.array(z.string().check(z.maxLength(300))).check(z.maxLength(64)),
      'Hosts the sandbox may reach through IronClaw\'s egress proxy: "example.com" (ports 80 and 443), "*.pypi.org" (subdomains), "github.com:22" (any TCP). Absent: no network at all. Every connection is audited; private and loopback addresses are refused unless listed as address:port.',
    ),
  ),
};

const LayerOutput = z.object({ on: z.boolean(), detail: z.string() });

export const IsolationOutput = described(
  z.object({
    driver: z.enum(DRIVERS),
    hostUid: z.number(),
    layers: z.record(z.string(), LayerOutput),
  }),
  'The isolation this sandbox really has: each layer on or off, and why.',
);

export const execOutputFields = {
  exitCode: described(
    z.nullable(z.number()),
    'Exit status; null when killed by a signal. 124: the timeout killed it (timedOut). 126: cannot execute, 127: not found.',
  ),
  signal: z.nullable(z.string()),
  timedOut: z.boolean(),
  oomKilled: described(
    z.boolean(),
    "True when the sandbox's memory limit was reached and the OOM killer ended the command.",
  ),
  truncated: described(z.boolean(), 'True when output past the cap was dropped.'),
  droppedBytes: z.number(),
  durationMs: z.number(),
  stdout: z.string(),
  stderr: z.string(),
};

export const FileEntryOutput = z.object({
  name: z.string(),
  path: z.string(),
  type: z.enum(['file', 'directory', 'symlink', 'other']),
  size: z.number(),
  mode: z.number(),
  mtime: z.string(),
});
