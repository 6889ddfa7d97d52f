/** IronClaw as a library: create sandboxes and run work in them from a Node program. */
export { createSandbox, type SandboxOptions } from './runtime/create-sandbox.js';
export {
  Sandbox,
  type ExecOptions,
  type ExecOutput,
  type FileChunk,
  type SandboxPath,
} from './runtime/sandbox.js';
export type { WorkspaceOptions } from './runtime/box-workspace.js';
export type { FileChangeView, WorkspaceDiff } from './core/workspace-diff.js';
export type { WorkspaceChange, WorkspaceEntry } from './core/workspace-changes.js';
export type { ApplyReport } from './host/workspace-apply.js';
export { IronClawError, type ErrorCode } from './core/errors.js';
export type { IsolationReport, LayerReport } from './core/isolation.js';
export type { Limits } from './core/limits.js';
export type { FileInfo } from './protocol/guest-api.js';
export { SandboxPool, type SandboxPoolOptions } from './runtime/sandbox-pool.js';
export { runOnce } from './runtime/run-once.js';
export type { RunOnceOptions, RunOnceResult } from './runtime/run-once-options.js';
export { closeInheritedFds } from './host/inherited-fds.js';
export * as seccomp from './core/seccomp/index.js';
