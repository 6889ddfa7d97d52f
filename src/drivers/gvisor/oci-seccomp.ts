import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Check, IronClawError, unwrap } from '../../core/errors.js';
import {
  actionToRet,
  ERRNO_NAMES,
  retAllows,
  SECCOMP_RET,
  SECCOMP_RET_ACTION_FULL,
  SECCOMP_RET_DATA,
} from '../../core/seccomp/actions.js';
import { type SeccompArch, seccompArchOf } from '../../core/seccomp/arch.js';
import { SANDBOX_POLICY_FILE } from '../../core/seccomp/compile-for-host.js';
import { type LibseccompArg, toLibseccompRules } from '../../core/seccomp/libseccomp-rules.js';
import { loadPolicy } from '../../core/seccomp/load-policy.js';
import type { Policy } from '../../core/seccomp/policy.js';
import { planSyscalls } from '../../core/seccomp/syscall-plan.js';
import { packageRoot } from '../../host/package-files.js';

/*
 * Our seccomp policy as the OCI runtime spec's `linux.seccomp`, which runsc's sentry enforces on
 * the box's processes (with --oci-seccomp) before its own kernel serves the call. What runsc
 * makes of it (runsc/specutils/seccomp/seccomp.go, read at 20221219 and at 20240729):
 * - every comparison is on all 64 bits, and several comparisons of one argument in one entry
 *   are ORed, not ANDed; so rules go through our libseccomp model, which writes 32-bit
 *   comparisons as masked-eq prefixes of the low word, one comparison per argument: exact;
 * - entries are tried in order and the first that matches decides; the model gives every rule
 *   of one syscall the same action, so order cannot change a verdict;
 * - `errnoRet` is ignored (SCMP_ACT_ERRNO is always EPERM). ENOSYS, which callers need to fall
 *   back from clone3 and io_uring, is written as SCMP_ACT_TRACE: with no tracer the sentry fails
 *   the call with ENOSYS (as Linux does), and no box process can become a tracer while ptrace is
 *   refused to all of them, which is checked here. Any other errno becomes EPERM: still denied;
 * - no SCMP_ACT_KILL_PROCESS or SCMP_ACT_LOG: kill-process becomes SCMP_ACT_KILL, which kills the
 *   calling thread (the call is still refused), and log becomes allow (log allows the call);
 * - `architectures` is ignored: the sentry serves only its native ABI (no x32, no 32-bit calls);
 * - a name its own syscall table lacks is skipped with a warning: its kernel has no such call
 *   and answers ENOSYS (runsc 20221219: mount_setattr, pidfd_getfd, quotactl_fd).
 */

export type OciSeccompAction =
  'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO' | 'SCMP_ACT_KILL' | 'SCMP_ACT_TRAP' | 'SCMP_ACT_TRACE';

export type OciSeccompOp =
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_MASKED_EQ';

/** A u64: a number when a double holds it exactly, else a bigint (see ociConfigJson). */
export type U64 = number | bigint;

export interface OciSeccompArg {
  index: number;
  /** For SCMP_CMP_MASKED_EQ the mask. */
  value: U64;
  valueTwo: U64;
  op: OciSeccompOp;
}

export interface OciSeccompSyscall {
  names: string[];
  action: OciSeccompAction;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: OciSeccompAction;
  architectures: string[];
  syscalls: OciSeccompSyscall[];
}

/** The OCI seccomp section for `policy` on `arch`, plus its numbers for the isolation report. */
export interface OciSeccompRendering {
  seccomp: OciSeccomp;
  /** Syscalls given another action than the default whatever their arguments. */
  unconditional: number;
  /** Syscalls whose action depends on their arguments. */
  conditional: number;
}

const OCI_ARCH: Record<SeccompArch, string> = {
  x86_64: 'SCMP_ARCH_X86_64',
  aarch64: 'SCMP_ARCH_AARCH64',
};

const OCI_OP: Record<LibseccompArg['op'], OciSeccompOp> = {
  eq: 'SCMP_CMP_EQ',
  ne: 'SCMP_CMP_NE',
  lt: 'SCMP_CMP_LT',
  le: 'SCMP_CMP_LE',
  gt: 'SCMP_CMP_GT',
  ge: 'SCMP_CMP_GE',
  'masked-eq': 'SCMP_CMP_MASKED_EQ',
};

/**
 * Renders `policy` for runsc. Fails closed: what runsc cannot be told exactly is either denied
 * more (see above) or refused with POLICY_UNENFORCEABLE, never dropped.
 */
export function ociSeccomp(policy: Policy, arch: SeccompArch): Check<OciSeccompRendering> {
  const model = toLibseccompRules(policy, arch);
  if (!model.ok) return model;
  const traceIsEnosys = ptraceAlwaysRefused(policy, arch);
  const defaultAction = ociAction(model.value.defaultAction, traceIsEnosys);
  if (!defaultAction.ok) return defaultAction;
  // Entries with the same action and comparisons are merged: one entry for the unconditional
  // denials with one errno, one for socket and socketpair alike, ...
  const entries = new Map<string, OciSeccompSyscall>();
  const unconditional = new Set<string>();
  const conditional = new Set<string>();
  for (const rule of model.value.rules) {
    const action = ociAction(rule.action, traceIsEnosys);
    if (!action.ok) return { ...action, message: `${rule.syscall}: ${action.message}` };
    const args = rule.args.map((arg): OciSeccompArg => ({
      index: arg.index,
      value: u64(arg.value),
      valueTwo: u64(arg.valueTwo),
      op: OCI_OP[arg.op],
    }));
    (args.length === 0 ? unconditional : conditional).add(rule.syscall);
    const key = ociConfigJson([action.value, args]);
    const entry = entries.get(key);
    if (entry) entry.names.push(rule.syscall);
    else
      entries.set(key, {
        names: [rule.syscall],
        ...action.value,
        ...(args.length > 0 ? { args } : {}),
      });
  }
  return {
    ok: true,
    value: {
      seccomp: {
        defaultAction: defaultAction.value.action,
        architectures: [OCI_ARCH[arch]],
        syscalls: [...entries.values()],
      },
      unconditional: unconditional.size,
      conditional: conditional.size,
    },
  };
}

type OciAction = Pick<OciSeccompSyscall, 'action' | 'errnoRet'>;

function ociAction(ret: number, traceIsEnosys: boolean): Check<OciAction> {
  const data = ret & SECCOMP_RET_DATA;
  switch ((ret & SECCOMP_RET_ACTION_FULL) >>> 0) {
    case SECCOMP_RET.ALLOW:
    case SECCOMP_RET.LOG:
      return { ok: true, value: { action: 'SCMP_ACT_ALLOW' } };
    case SECCOMP_RET.KILL_PROCESS:
    case SECCOMP_RET.KILL_THREAD:
      return { ok: true, value: { action: 'SCMP_ACT_KILL' } };
    case SECCOMP_RET.TRAP:
      return { ok: true, value: { action: 'SCMP_ACT_TRAP' } };
    case SECCOMP_RET.ERRNO:
      if (data !== ERRNO_NAMES.ENOSYS) {
        return { ok: true, value: { action: 'SCMP_ACT_ERRNO', errnoRet: data } };
      }
      if (traceIsEnosys) return { ok: true, value: { action: 'SCMP_ACT_TRACE' } };
      return unenforceable(
        'ENOSYS can only be had from runsc as SCMP_ACT_TRACE with no tracer, which needs a policy that refuses ptrace unconditionally',
      );
    default:
      return unenforceable(`no OCI action for seccomp return 0x${ret.toString(16)}`);
  }
}

function u64(value: bigint): U64 {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/**
 * A bundle's config.json: JSON.stringify, with bigints written as exact decimal digits (runsc
 * reads u64 operands as Go uint64s). JSON.rawJSON is in Node 22 and later, not yet in
 * TypeScript's library.
 */
export function ociConfigJson(value: unknown): string {
  const { rawJSON } = JSON as unknown as { rawJSON(this: void, text: string): unknown };
  return JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'bigint' ? rawJSON(item.toString()) : item,
  );
}

/** True when every ptrace call is refused (no process under the policy can become a tracer). */
function ptraceAlwaysRefused(policy: Policy, arch: SeccompArch): boolean {
  const rules = planSyscalls(policy, arch).find((entry) => entry.name === 'ptrace')?.rules ?? [];
  const first = rules[0];
  const action = first === undefined ? policy.defaultAction : first.action;
  if (first !== undefined && first.args.length > 0) return false;
  return !retAllows(actionToRet(action));
}

function unenforceable(message: string): Check<never> {
  return {
    ok: false,
    code: 'POLICY_UNENFORCEABLE',
    message: `not expressible for runsc: ${message}`,
  };
}

let sandbox: Promise<OciSeccompRendering & { policy: string }> | undefined;

/**
 * policies/seccomp/sandbox.json (the policy bwrap boxes get, compiled by our compiler) rendered
 * for runsc on this CPU, once per process. Fails closed: no rendering means no box.
 */
export function sandboxOciSeccomp(): Promise<OciSeccompRendering & { policy: string }> {
  sandbox ??= (async () => {
    const arch = seccompArchOf(process.arch);
    if (arch === undefined) {
      throw new IronClawError(
        'POLICY_UNENFORCEABLE',
        `no seccomp policy for CPU architecture ${process.arch}: only x64 and arm64 are supported`,
      );
    }
    const file = join(await packageRoot(), SANDBOX_POLICY_FILE);
    const text = await readFile(file, 'utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new IronClawError('POLICY_UNENFORCEABLE', `${file} is not JSON`, { cause: error });
    }
    const policy = unwrap(loadPolicy(json, file));
    const rendering = unwrap(ociSeccomp(policy, arch));
    return { ...rendering, policy: policy.name };
  })();
  sandbox.catch(() => (sandbox = undefined));
  return sandbox;
}
