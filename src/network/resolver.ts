import { lookup } from 'node:dns/promises';
import { IronClawError } from '../core/errors.js';
import { parseIp, type IpAddress } from '../core/net/ip-address.js';

/**
 * Resolves a name the decider allowed to the addresses the proxy may check and dial. The proxy
 * calls it once per connection and dials only what it returned and checked, so a name that
 * answers differently the second time (DNS rebinding) gains nothing.
 */
export type Resolver = (name: string, signal: AbortSignal) => Promise<readonly IpAddress[]>;

/** Lookups that never answer do not hold a connection for longer than this. */
const LOOKUP_TIMEOUT_MS = 10_000;

/**
 * The host's resolver (getaddrinfo: /etc/hosts, then DNS), every address in the order the
 * system prefers. getaddrinfo cannot be cancelled; an aborted lookup is abandoned.
 */
export const systemResolver: Resolver = async (name, signal) => {
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(LOOKUP_TIMEOUT_MS)]);
  deadline.throwIfAborted();
  const aborted = new Promise<never>((_, reject) => {
    deadline.addEventListener('abort', () => reject(deadline.reason as Error), { once: true });
  });
  aborted.catch(() => undefined);
  try {
    const answers = await Promise.race([lookup(name, { all: true, order: 'verbatim' }), aborted]);
    return answers.map((a) => parseIp(a.address)).filter((ip) => ip !== undefined);
  } catch (error) {
    if (deadline.aborted) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new IronClawError('NOT_FOUND', `cannot resolve ${name} (${code})`, { cause: error });
  }
};

/**
 * A resolver that answers from a table, for tests: it maps allowed names to loopback test
 * servers (which the address policy then refuses unless a rule names them, as it would a real
 * name that resolves there). A value may be a list of answers, one per call, the last repeated:
 * a name that rebinds.
 */
export function staticResolver(
  table: Readonly<Record<string, string | readonly string[][]>>,
): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolver = async (name: string): Promise<readonly IpAddress[]> => {
    const entry = table[name];
    const answers = typeof entry === 'string' ? [[entry]] : entry;
    const count = calls.filter((called) => called === name).length;
    calls.push(name);
    const answer = answers?.[Math.min(count, answers.length - 1)];
    if (!answer) throw new IronClawError('NOT_FOUND', `cannot resolve ${name} (ENOTFOUND)`);
    return answer.map((text) => parseIp(text)).filter((ip) => ip !== undefined);
  };
  return Object.assign(resolver, { calls });
}
