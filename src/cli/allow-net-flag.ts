import { parseAllowRules } from '../core/net/allow-rule.js';
import { usageError } from './cli-error.js';

/** The rules of `--allow-net a,b,c`, each checked here: a bad one is a usage error. */
export function allowNetRules(
  value: string | boolean | string[] | undefined,
): string[] | undefined {
  if (typeof value !== 'string') return undefined;
  const rules = value
    .split(',')
    .map((rule) => rule.trim())
    .filter((rule) => rule !== '');
  const checked = parseAllowRules(rules);
  if (!checked.ok) throw usageError(`--allow-net: ${checked.message}`);
  return rules.length === 0 ? undefined : rules;
}
