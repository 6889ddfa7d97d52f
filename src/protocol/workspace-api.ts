import * as z from 'zod/mini';

/** The workspace round trip on the daemon's socket: create's option, diff and apply. */

const PositiveInt = z.number().check(z.int(), z.positive());
const Path = z.string().check(z.maxLength(4096));

export const WorkspaceParamsSchema = z.object({
  /** Absolute host path, resolved by the CLI (the daemon's working directory is not the CLI's). */
  dir: Path.check(z.regex(/^\//, 'an absolute path')),
  maxBytes: z.optional(PositiveInt),
});

const EntrySchema = z.object({
  path: Path,
  type: z.enum(['file', 'directory', 'symlink']),
  mode: z.number(),
  size: z.number(),
  sha256: z.optional(z.string()),
  target: z.optional(z.string()),
});

const ChangeKindSchema = z.enum(['added', 'modified', 'deleted', 'mode', 'type']);

export const WorkspaceDiffSchema = z.object({
  sandbox: z.string(),
  dir: Path,
  digest: z.string(),
  changes: z.array(
    z.object({
      path: Path,
      kind: ChangeKindSchema,
      before: z.optional(EntrySchema),
      after: z.optional(EntrySchema),
      patch: z.optional(z.string()),
      binary: z.optional(z.boolean()),
      refused: z.optional(z.string()),
      note: z.optional(z.string()),
    }),
  ),
  summary: z.record(ChangeKindSchema, z.number()),
  ignored: z.array(z.object({ path: Path, pattern: z.string() })),
  skipped: z.array(z.object({ path: Path, reason: z.string() })),
});

export const WorkspaceApplyParamsSchema = z.object({
  id: z.string().check(z.maxLength(200)),
  /** The digest of the diff that was shown and confirmed. */
  digest: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  /** The approval apply_request opened for this diff: the apply waits for its answer. */
  approval: z.string().check(z.maxLength(200)),
});

export const ApplyReportSchema = z.object({
  applied: z.array(z.object({ path: Path, kind: ChangeKindSchema })),
  kept: z.array(z.object({ path: Path, reason: z.string() })),
});
