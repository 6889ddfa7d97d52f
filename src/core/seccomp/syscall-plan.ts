import { syscallNumber, type SeccompArch } from './arch.js';
import type { Policy, Rule } from './policy.js';

/** The rules that apply to one syscall of one architecture, in the order they are tried. */
export interface SyscallRules {
  nr: number;
  name: string;
  rules: Rule[];
}

/**
 * Groups a policy's rules by syscall number for `arch`, sorted by number. Names that the arch
 * does not have (iopl on aarch64) are skipped: there is nothing to filter. Rules after one
 * without comparisons are dropped, as they can never apply.
 */
export function planSyscalls(policy: Policy, arch: SeccompArch): SyscallRules[] {
  const byNr = new Map<number, SyscallRules>();
  for (const rule of policy.rules) {
    for (const name of rule.syscalls) {
      const nr = syscallNumber(arch, name);
      if (nr === undefined) continue;
      let entry = byNr.get(nr);
      if (entry === undefined) {
        entry = { nr, name, rules: [] };
        byNr.set(nr, entry);
      }
      const last = entry.rules.at(-1);
      if (last === undefined || last.args.length > 0) entry.rules.push(rule);
    }
  }
  return [...byNr.values()].sort((a, b) => a.nr - b.nr);
}

/** A run of syscall numbers [start, next range's start) that share one outcome. */
export interface NumberRange<K> {
  start: number;
  key: K;
}

/**
 * Partitions all 32-bit syscall numbers into maximal runs with equal keys: `keyOf` gives each
 * planned syscall's key, every other number gets `defaultKey`. Ranges are sorted by start and the
 * first starts at 0, so a binary search over starts finds the range of any number.
 */
export function numberRanges<K>(
  planned: readonly SyscallRules[],
  keys: { keyOf: (entry: SyscallRules) => K; defaultKey: K },
): NumberRange<K>[] {
  const { keyOf, defaultKey } = keys;
  const ranges: NumberRange<K>[] = [{ start: 0, key: defaultKey }];
  const open = (start: number, key: K): void => {
    const last = ranges.at(-1)!;
    if (last.key === key) return;
    if (last.start === start) {
      ranges.pop();
      const before = ranges.at(-1);
      if (before !== undefined && before.key === key) return;
    }
    ranges.push({ start, key });
  };
  for (const entry of planned) {
    open(entry.nr, keyOf(entry));
    open(entry.nr + 1, defaultKey);
  }
  return ranges;
}
