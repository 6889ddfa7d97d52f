import { createHash } from 'node:crypto';
import { IronClawError, toIronClawError } from '../core/errors.js';
import type { IgnoreRule } from '../core/ignore-rules.js';
import {
  changesDigest,
  compareTrees,
  unsafeSymlinkTarget,
  type WorkspaceChange,
  type WorkspaceEntry,
} from '../core/workspace-changes.js';
import {
  asText,
  type FileChangeView,
  MAX_TEXT_DIFF_BYTES,
  summarise,
  textPatch,
  type WorkspaceDiff,
} from '../core/workspace-diff.js';
import { audit, audited } from '../audit/audit-trail.js';
import { BoundedTail } from '../host/bounded-tail.js';
import { type BoxTree, readBoxTree, type WorkspaceBox } from './box-tree.js';
import {
  type ApplyReport,
  findHostConflicts,
  readHostFile,
  writeChanges,
} from '../host/workspace-apply.js';
import { packScan } from '../host/workspace-pack.js';
import { scanWorkspace, type WorkspaceScan } from '../host/workspace-scan.js';

/** Applies IronClaw refused (audited "denied"): not confirmed, a stale diff, unsafe, conflicting. */
const APPLY_REFUSALS = [
  'NOT_CONFIRMED',
  'WORKSPACE_CHANGED',
  'WORKSPACE_UNSAFE',
  'WORKSPACE_CONFLICT',
] as const;

/** `createSandbox({ workspace })`: a host directory copied into the box's /workspace. */
export interface WorkspaceOptions {
  dir: string;
  /** Cap on the bytes of files copied in, and read back out (default 256 MiB). */
  maxBytes?: number | undefined;
  /** Cap on the number of paths, both ways (default 100,000). */
  maxEntries?: number | undefined;
  /** Patterns to exclude besides .git, .env, .env.* and DIR/.ironclawignore. */
  exclude?: readonly string[] | undefined;
  /** false: do not exclude .git, .env and .env.* (default true). */
  defaultExcludes?: boolean | undefined;
}

export const DEFAULT_WORKSPACE_MAX_BYTES = 256 * 1024 * 1024;
const DEFAULT_MAX_ENTRIES = 100_000;
/** All text diffs of one diff together: it crosses the daemon's socket in one frame. */
const MAX_DIFF_PATCH_CHARS = 4 * 1024 * 1024;

/** An explicit yes for exactly one diff: the hook a signed approval token will fill. */
export interface ApplyApproval {
  /** The digest of the diff that was shown (WorkspaceDiff.digest). */
  digest: string;
  /** Set by whoever approved: the human at the terminal, for now. */
  confirmed: boolean;
}

/** A scanned host directory whose caps were checked, ready to be copied into a box. */
export interface PreparedWorkspace {
  readonly scan: WorkspaceScan;
  readonly caps: { maxBytes: number; maxEntries: number };
}

/**
 * A box's workspace and the host directory it came from: the manifest of what went in (kept on
 * the host, in memory), and the diff and apply against it.
 */
export class BoxWorkspace {
  readonly dir: string;
  readonly #rules: IgnoreRule[];
  readonly #maxBytes: number;
  readonly #maxEntries: number;
  #manifest: Map<string, WorkspaceEntry>;

  private constructor(
    dir: string,
    rules: IgnoreRule[],
    manifest: WorkspaceEntry[],
    caps: { maxBytes: number; maxEntries: number },
  ) {
    this.dir = dir;
    this.#rules = rules;
    this.#manifest = new Map(manifest.map((entry) => [entry.path, entry]));
    this.#maxBytes = caps.maxBytes;
    this.#maxEntries = caps.maxEntries;
  }

  /** What was copied in: one entry a path, files with their sha256. */
  get manifest(): WorkspaceEntry[] {
    return [...this.#manifest.values()];
  }

  /**
   * Walks the host directory and checks the caps and exclusions, before any box is started:
   * a workspace over the cap fails here (WORKSPACE_TOO_LARGE), naming its largest parts.
   */
  static async prepare(options: WorkspaceOptions): Promise<PreparedWorkspace> {
    const caps = {
      maxBytes: options.maxBytes ?? DEFAULT_WORKSPACE_MAX_BYTES,
      maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
    };
    const scan = await scanWorkspace(options.dir, {
      ...caps,
      ...(options.exclude === undefined ? {} : { exclude: options.exclude }),
      ...(options.defaultExcludes === undefined
        ? {}
        : { defaultExcludes: options.defaultExcludes }),
    });
    return { scan, caps };
  }

  /**
   * Copies a prepared directory into the box's /workspace through the box's own tar, from an
   * archive IronClaw writes itself (see packScan), and records the manifest.
   */
  static async copyIn(
    box: WorkspaceBox,
    prepared: PreparedWorkspace,
    signal?: AbortSignal,
  ): Promise<BoxWorkspace> {
    const { scan, caps } = prepared;
    const manifest: WorkspaceEntry[] = [];
    let packFailure: IronClawError | undefined;
    const archive = (async function* () {
      try {
        yield* packScan(scan, manifest);
      } catch (error) {
        packFailure = toIronClawError(error);
        throw error;
      }
    })();
    const stderr = new BoundedTail();
    const result = await box
      .exec(['tar', '-x', '-p', '-f', '-', '-C', '/workspace', '--no-same-owner'], {
        stdin: archive,
        collect: false,
        onStderr: (chunk) => stderr.push(chunk),
        ...(signal === undefined ? {} : { signal }),
      })
      .catch((error: unknown) => {
        throw packFailure ?? error;
      });
    if (packFailure !== undefined) throw packFailure;
    if (result.exitCode !== 0)
      throw new IronClawError(
        'SANDBOX_START_FAILED',
        `cannot copy workspace ${scan.dir} into sandbox ${box.id}: the box's tar ${result.signal ?? `exit code ${result.exitCode}`}: ${stderr.text() || 'tar printed nothing'}`,
      );
    audit({
      kind: 'workspace-copied-in',
      sandbox: box.id,
      data: {
        dir: scan.dir,
        paths: manifest.length,
        bytes: scan.totalBytes,
        excluded: scan.excluded.length,
      },
    });
    return new BoxWorkspace(scan.dir, scan.rules, manifest, caps);
  }

  /** What changed in the box's /workspace since copy-in (or since the last apply). */
  async diff(box: WorkspaceBox, signal?: AbortSignal): Promise<WorkspaceDiff> {
    return (await this.#diff(box, signal)).diff;
  }

  /**
   * Writes the box's changes into the host directory, if `approval` names the diff the box
   * still has and says yes. Refused, with nothing written: a diff that changed since it was
   * shown, a change that would leave the workspace (a symlink out), and any path changed on the
   * host since copy-in (every one named). The audit store has the request before anything is
   * checked or written, and its outcome; a request that cannot be written refuses the apply.
   */
  apply(box: WorkspaceBox, approval: ApplyApproval, signal?: AbortSignal): Promise<ApplyReport> {
    return audited(
      {
        kind: 'workspace-apply',
        sandbox: box.id,
        data: { dir: this.dir, digest: approval.digest, confirmed: approval.confirmed },
      },
      () => this.#apply(box, approval, signal),
      {
        required: true,
        describe: (report) => ({
          applied: report.applied.length,
          paths: report.applied.slice(0, 100),
        }),
        denials: APPLY_REFUSALS,
      },
    );
  }

  async #apply(
    box: WorkspaceBox,
    approval: ApplyApproval,
    signal: AbortSignal | undefined,
  ): Promise<ApplyReport> {
    if (!approval.confirmed)
      throw new IronClawError(
        'NOT_CONFIRMED',
        `applying sandbox ${box.id}'s changes to ${this.dir} was not confirmed; nothing was written`,
      );
    const { diff, tree, changes } = await this.#diff(box, signal);
    if (diff.digest !== approval.digest)
      throw new IronClawError(
        'WORKSPACE_CHANGED',
        `sandbox ${box.id}'s workspace changed since the diff that was approved (${approval.digest.slice(0, 12)}, now ${diff.digest.slice(0, 12)}); nothing was written: look at the diff again`,
      );
    const refused = diff.changes.filter((change) => change.refused !== undefined);
    if (refused.length > 0)
      throw new IronClawError(
        'WORKSPACE_UNSAFE',
        `nothing was written to ${this.dir}: ${refused.length} change(s) would leave it:\n${refused.map((c) => `  ${c.path}: ${c.refused ?? ''}`).join('\n')}\nremove them in the box and look at the diff again`,
      );
    const conflicts = await findHostConflicts(this.dir, changes);
    if (conflicts.length > 0)
      throw new IronClawError(
        'WORKSPACE_CONFLICT',
        `nothing was written to ${this.dir}: ${conflicts.length} path(s) changed on the host since copy-in:\n${conflicts.map((c) => `  ${c.path}: ${c.reason}`).join('\n')}`,
      );
    const report = await writeChanges(this.dir, changes, tree.contents);
    // The host now holds the box's tree: later diffs and applies are against it.
    this.#manifest = new Map(tree.entries);
    return report;
  }

  async #diff(
    box: WorkspaceBox,
    signal: AbortSignal | undefined,
  ): Promise<{ diff: WorkspaceDiff; tree: BoxTree; changes: WorkspaceChange[] }> {
    const tree = await readBoxTree(box, {
      manifest: this.#manifest,
      rules: this.#rules,
      maxBytes: this.#maxBytes,
      maxEntries: this.#maxEntries,
      ...(signal === undefined ? {} : { signal }),
    });
    const changes = compareTrees(this.#manifest, tree.entries);
    const views: FileChangeView[] = [];
    let patchChars = 0;
    for (const change of changes) {
      const view = await this.#view(change, tree);
      patchChars += view.patch?.length ?? 0;
      if (view.patch !== undefined && patchChars > MAX_DIFF_PATCH_CHARS) {
        delete view.patch;
        view.note = `text diff not shown: the text diffs together are over ${MAX_DIFF_PATCH_CHARS} characters; read the file in the box`;
      }
      views.push(view);
    }
    return {
      diff: {
        sandbox: box.id,
        dir: this.dir,
        digest: changesDigest(this.dir, changes),
        changes: views,
        summary: summarise(changes),
        ignored: tree.ignored,
        skipped: tree.skipped,
      },
      tree,
      changes,
    };
  }

  async #view(change: WorkspaceChange, tree: BoxTree): Promise<FileChangeView> {
    const view: FileChangeView = { ...change };
    if (change.after?.type === 'symlink') {
      const unsafe = unsafeSymlinkTarget(change.path, change.after.target ?? '');
      if (unsafe) view.refused = `a symlink made in the box: ${unsafe}`;
    }
    const beforeIsFile = change.before?.type === 'file';
    const afterIsFile = change.after?.type === 'file';
    if (!beforeIsFile && !afterIsFile) return view;
    if (change.kind === 'mode') return view;
    const before = beforeIsFile ? await this.#hostCopy(change.before as WorkspaceEntry) : undefined;
    const after = afterIsFile ? tree.contents.get(change.path) : undefined;
    if (beforeIsFile && before === undefined) {
      view.binary = true;
      view.note =
        'the host copy changed since copy-in (or is too large to diff); apply will refuse it if it changed';
      return view;
    }
    const beforeText = before === undefined ? undefined : asText(before);
    const afterText = after === undefined ? undefined : asText(after);
    if (
      (before !== undefined && beforeText === undefined) ||
      (after !== undefined && afterText === undefined)
    ) {
      view.binary = true;
      return view;
    }
    const { patch, note } = textPatch(change.path, beforeText, afterText);
    view.patch = patch;
    if (note) view.note = note;
    return view;
  }

  /** The host's bytes of a copied-in file, if they are still what was copied in. */
  async #hostCopy(entry: WorkspaceEntry): Promise<Buffer | undefined> {
    if (entry.size > MAX_TEXT_DIFF_BYTES) return undefined;
    const data = await readHostFile(this.dir, entry.path, MAX_TEXT_DIFF_BYTES);
    if (!data) return undefined;
    return createHash('sha256').update(data).digest('hex') === entry.sha256 ? data : undefined;
  }
}

/** Copies a workspace into a new sandbox; one whose copy-in failed is destroyed, never handed out. */
export async function copyWorkspaceIn(
  sandbox: WorkspaceBox & {
    attachWorkspace(workspace: BoxWorkspace): void;
    destroy(): Promise<void>;
  },
  workspace: PreparedWorkspace,
  signal: AbortSignal,
): Promise<void> {
  try {
    sandbox.attachWorkspace(await BoxWorkspace.copyIn(sandbox, workspace, signal));
  } catch (error) {
    await sandbox.destroy();
    throw error;
  }
}
