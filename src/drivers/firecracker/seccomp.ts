import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { type Check, IronClawError } from '../../core/errors.js';
import { actionToRet, describeRet } from '../../core/seccomp/actions.js';
import type { SeccompArch } from '../../core/seccomp/arch.js';
import { type LibseccompArg, toLibseccompRules } from '../../core/seccomp/libseccomp-rules.js';
import type { Policy } from '../../core/seccomp/policy.js';

const execFileAsync = promisify(execFile);

/**
 * Our seccomp policies in the input format of Firecracker's `seccompiler-bin` (notes/vmm.md
 * §1.6; firecracker src/seccompiler/src/types.rs at v1.16.1), which Firecracker cannot take as
 * JSON: `--seccomp-filter` wants the compiled, bitcode-serialised file that the seccompiler-bin
 * of the same release writes. The format has one filter per thread kind, each with a default
 * action and ONE action for every rule that matches; rules are ORed, a rule's conditions ANDed.
 * seccompiler-bin hands the rules to libseccomp, whose comparisons see all 64 bits (a `dword`
 * matters only to `eq`), so the translation goes through our libseccomp model, which writes
 * 32-bit comparisons as masked-eq prefixes of the low word: the verdicts stay exactly ours.
 */

export const FIRECRACKER_THREADS = ['vmm', 'api', 'vcpu'] as const;
export type FirecrackerThread = (typeof FIRECRACKER_THREADS)[number];

export type FirecrackerAction =
  'allow' | 'kill_process' | 'kill_thread' | 'log' | 'trap' | { errno: number } | { trace: number };

/** A u64: a number when exact in a double, else a bigint (written as JSON digits either way). */
export type U64 = number | bigint;

export interface FirecrackerCondition {
  index: number;
  type: 'dword' | 'qword';
  op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | { masked_eq: U64 };
  val: U64;
}

export interface FirecrackerRule {
  syscall: string;
  comment?: string;
  args?: FirecrackerCondition[];
}

export interface FirecrackerFilter {
  default_action: FirecrackerAction;
  filter_action: FirecrackerAction;
  filter: FirecrackerRule[];
}

export type FirecrackerFilterFile = Record<FirecrackerThread, FirecrackerFilter>;

/** The input of seccompiler-bin for `arch`, each thread kind filtered by its policy. */
export function firecrackerFilterFile(
  policies: Readonly<Record<FirecrackerThread, Policy>>,
  arch: SeccompArch,
): Check<FirecrackerFilterFile> {
  const file: Partial<FirecrackerFilterFile> = {};
  for (const thread of FIRECRACKER_THREADS) {
    const filter = firecrackerFilter(policies[thread], arch);
    if (!filter.ok) return { ...filter, message: `${thread} thread: ${filter.message}` };
    file[thread] = filter.value;
  }
  return { ok: true, value: file as FirecrackerFilterFile };
}

/** One thread kind's filter; refused when the policy needs more than one match action. */
export function firecrackerFilter(policy: Policy, arch: SeccompArch): Check<FirecrackerFilter> {
  const model = toLibseccompRules(policy, arch);
  if (!model.ok) return model;
  const byAction = new Map<number, Set<string>>();
  for (const rule of model.value.rules) {
    const names = byAction.get(rule.action) ?? new Set<string>();
    byAction.set(rule.action, names.add(rule.syscall));
  }
  if (byAction.size > 1) {
    const needs = [...byAction]
      .map(([ret, names]) => `${describeRet(ret)} (${[...names].slice(0, 3).join(', ')}…)`)
      .join(', ');
    return {
      ok: false,
      code: 'POLICY_UNENFORCEABLE',
      message: `policy "${policy.name}" cannot be a Firecracker filter: the format has one action for every matching rule, and this policy needs ${byAction.size}: ${needs}`,
    };
  }
  const defaultAction = toAction(model.value.defaultAction);
  const matchRet = [...byAction.keys()][0];
  if (!defaultAction.ok) return defaultAction;
  const filterAction = matchRet === undefined ? defaultAction : toAction(matchRet);
  if (!filterAction.ok) return filterAction;
  const reasons = reasonsBySyscall(policy);
  return {
    ok: true,
    value: {
      default_action: defaultAction.value,
      filter_action: filterAction.value,
      filter: model.value.rules.map((rule) => {
        const comment = reasons.get(rule.syscall);
        return {
          syscall: rule.syscall,
          ...(comment === undefined ? {} : { comment }),
          ...(rule.args.length > 0 ? { args: rule.args.map(toCondition) } : {}),
        };
      }),
    },
  };
}

/** The file as seccompiler-bin reads it: JSON, with every u64 in exact decimal digits. */
export function serializeFilterFile(file: FirecrackerFilterFile): string {
  return `${toJson(file, '')}\n`;
}

/** The seccompiler-bin of the Firecracker release in use: IRONCLAW_SECCOMPILER, else PATH. */
export function seccompilerBinary(): string {
  return process.env.IRONCLAW_SECCOMPILER ?? 'seccompiler-bin';
}

/**
 * Writes `file` to `<output>.json` and compiles it to `output` with seccompiler-bin, which must
 * come from the same release as the firecracker binary (the serialisation changed in v1.15).
 */
export async function compileFirecrackerFilter(
  file: FirecrackerFilterFile,
  options: { arch: SeccompArch; output: string; signal: AbortSignal },
): Promise<void> {
  const input = `${options.output}.json`;
  await writeFile(input, serializeFilterFile(file), { mode: 0o644 });
  const binary = seccompilerBinary();
  const args = [
    '--target-arch',
    options.arch,
    '--input-file',
    input,
    '--output-file',
    options.output,
  ];
  await execFileAsync(binary, args, { signal: options.signal, env: {} }).catch(
    (error: NodeJS.ErrnoException & { stderr?: string }) => {
      const detail =
        error.code === 'ENOENT'
          ? `${binary} is not installed: it ships in Firecracker's release archive (seccompiler-bin-<version>-<arch>) and must be the same version as firecracker; put it on PATH or set IRONCLAW_SECCOMPILER`
          : `${binary} failed: ${(error.stderr ?? '').trim() || error.message}`;
      throw new IronClawError(
        'POLICY_UNENFORCEABLE',
        `cannot compile the Firecracker seccomp filter: ${detail}`,
        { cause: error },
      );
    },
  );
}

function toAction(ret: number): Check<FirecrackerAction> {
  const described = describeRet(ret);
  const errno = /^errno\((\d+)\)$/.exec(described)?.[1];
  if (errno !== undefined) return { ok: true, value: { errno: Number(errno) } };
  switch (described) {
    case 'allow':
    case 'trap':
    case 'log':
      return { ok: true, value: described };
    case 'kill-process':
      return { ok: true, value: 'kill_process' };
    case 'kill-thread':
      return { ok: true, value: 'kill_thread' };
    default:
      return {
        ok: false,
        code: 'POLICY_UNENFORCEABLE',
        message: `no Firecracker action for ${described}`,
      };
  }
}

function toCondition(arg: LibseccompArg): FirecrackerCondition {
  if (arg.op === 'masked-eq') {
    // masked_eq compares (arg & mask) over all 64 bits; dword says the mask is the low word.
    return {
      index: arg.index,
      type: arg.value <= 0xffffffffn ? 'dword' : 'qword',
      op: { masked_eq: u64(arg.value) },
      val: u64(arg.valueTwo),
    };
  }
  // Only 64-bit comparisons reach here (32-bit ones became masked-eq): qword is exact.
  return { index: arg.index, type: 'qword', op: arg.op, val: u64(arg.value) };
}

function u64(value: bigint): U64 {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** The reason of the first rule naming each syscall with an action other than the default. */
function reasonsBySyscall(policy: Policy): Map<string, string> {
  const reasons = new Map<string, string>();
  const fallback = actionToRet(policy.defaultAction);
  for (const rule of policy.rules) {
    if (actionToRet(rule.action) === fallback) continue;
    for (const name of rule.syscalls) if (!reasons.has(name)) reasons.set(name, rule.reason);
  }
  return reasons;
}

function toJson(value: unknown, indent: string): string {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const inner = `${indent}  `;
    return `[\n${value.map((item) => inner + toJson(item, inner)).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined);
    if (entries.length === 0) return '{}';
    const inner = `${indent}  `;
    const lines = entries.map(
      ([key, item]) => `${inner}${JSON.stringify(key)}: ${toJson(item, inner)}`,
    );
    return `{\n${lines.join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}
