import { z } from 'zod';
import type { Check } from '../errors.js';
import { NEVER_DESTINATIONS, classifyAddress } from './address-class.js';
import { normalizeHostName, type Host } from './host-name.js';
import { formatIp, parseIp, sameIp, unmapIpv4, type IpAddress } from './ip-address.js';

/**
 * One `--allow-net` rule. A name rule allows that name only; a wildcard `*.pypi.org` allows
 * every name below pypi.org and never pypi.org itself; an address rule allows that address and
 * port. Without a port a rule allows the web ports, 80 and 443; with one, that port only, for
 * any TCP traffic (`github.com:22` for git over SSH).
 */
export type AllowRule =
  | { kind: 'name'; name: string; port?: number }
  | { kind: 'wildcard'; suffix: string; port?: number }
  | { kind: 'address'; ip: IpAddress; port: number };

/** The ports a rule without `:port` allows. */
export const WEB_PORTS: readonly number[] = [80, 443];

function invalid(text: string, why: string): Check<never> {
  return {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: `invalid network rule ${JSON.stringify(text.slice(0, 300))}: ${why}`,
  };
}

function parsePort(text: string, port: string): Check<number> {
  const value = Number(port);
  if (!/^[1-9]\d{0,4}$/.test(port) || value > 65535)
    return invalid(text, `the port "${port}" is not a number from 1 to 65535`);
  return { ok: true, value };
}

/** Parses `example.com`, `*.pypi.org`, `github.com:22`, `127.0.0.1:8080` or `[::1]:8080`. */
export function parseAllowRule(input: string): Check<AllowRule> {
  const text = input.trim();
  if (text === '') return invalid(input, 'it is empty');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text))
    return invalid(
      input,
      'a rule is a host, not a URL: write example.com, not https://example.com',
    );
  if (text.includes('/'))
    return invalid(input, 'a rule is a host with an optional :port, with no path or CIDR block');
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    const ip = parseIp(bracketed[1] ?? '');
    if (!ip || ip.family !== 6)
      return invalid(input, 'the part in brackets is not an IPv6 address');
    if (bracketed[2] === undefined)
      return invalid(input, `an address rule names its port: [${bracketed[1]}]:8080, say`);
    return addressRule(input, ip, bracketed[2]);
  }
  const colons = text.split(':').length - 1;
  if (colons > 1)
    return parseIp(text)
      ? invalid(input, `put an IPv6 address in brackets with its port: [${text}]:8080, say`)
      : invalid(input, 'it has more than one ":"');
  const [host = '', portText] = text.split(':');
  const v4 = parseIp(host);
  if (v4) {
    if (portText === undefined)
      return invalid(input, `an address rule names its port: ${host}:8080, say`);
    return addressRule(input, v4, portText);
  }
  let port: number | undefined;
  if (portText !== undefined) {
    const parsed = parsePort(input, portText);
    if (!parsed.ok) return parsed;
    port = parsed.value;
  }
  const withPort = <T extends object>(rule: T): T =>
    port === undefined ? rule : { ...rule, port };
  if (host.startsWith('*.')) {
    const suffix = normalizeHostName(host.slice(2));
    if (!suffix.ok) return invalid(input, suffix.message.replace(/^invalid host "[^"]*": /, ''));
    if (!suffix.value.includes('.'))
      return invalid(input, `"*.${suffix.value}" covers a whole top-level domain: name a domain`);
    return { ok: true, value: withPort({ kind: 'wildcard', suffix: suffix.value }) };
  }
  if (host.includes('*'))
    return invalid(input, 'a wildcard may only be a whole first label, as in *.example.com');
  const name = normalizeHostName(host);
  if (!name.ok) return invalid(input, name.message.replace(/^invalid host "[^"]*": /, ''));
  return { ok: true, value: withPort({ kind: 'name', name: name.value }) };
}

function addressRule(input: string, ip: IpAddress, portText: string): Check<AllowRule> {
  const port = parsePort(input, portText);
  if (!port.ok) return port;
  const address = unmapIpv4(ip);
  const special = classifyAddress(address);
  if (special && NEVER_DESTINATIONS.has(special.kind))
    return invalid(input, `${special.reason}, never a destination`);
  return { ok: true, value: { kind: 'address', ip: address, port: port.value } };
}

/** Every rule of a list, or the first bad one's error. */
export function parseAllowRules(texts: readonly string[]): Check<AllowRule[]> {
  const rules: AllowRule[] = [];
  for (const text of texts) {
    const rule = parseAllowRule(text);
    if (!rule.ok) return rule;
    rules.push(rule.value);
  }
  return { ok: true, value: rules };
}

/** For config files and API input: a list of rule strings, parsed, with precise issues. */
export const AllowRulesSchema = z
  .array(z.string().max(300))
  .max(1000)
  .transform((texts, ctx) => {
    const rules: AllowRule[] = [];
    texts.forEach((text, i) => {
      const rule = parseAllowRule(text);
      if (rule.ok) rules.push(rule.value);
      else ctx.addIssue({ code: 'custom', message: rule.message, path: [i] });
    });
    return rules;
  });

export function formatAllowRule(rule: AllowRule): string {
  const port = rule.port === undefined ? '' : `:${rule.port}`;
  switch (rule.kind) {
    case 'name':
      return `${rule.name}${port}`;
    case 'wildcard':
      return `*.${rule.suffix}${port}`;
    case 'address':
      return rule.ip.family === 6 ? `[${formatIp(rule.ip)}]${port}` : `${formatIp(rule.ip)}${port}`;
  }
}

/** Whether `rule` allows `host` (normalised, as parseHost gives it) on `port`. */
export function ruleAllows(rule: AllowRule, host: Host, port: number): boolean {
  const portOk = rule.port === undefined ? WEB_PORTS.includes(port) : rule.port === port;
  if (!portOk) return false;
  switch (rule.kind) {
    case 'name':
      return host.kind === 'name' && host.name === rule.name;
    case 'wildcard':
      return host.kind === 'name' && host.name.endsWith(`.${rule.suffix}`);
    case 'address':
      return host.kind === 'ip' && sameIp(unmapIpv4(host.ip), rule.ip);
  }
}

/** The first rule that allows `host` on `port`. */
export function findAllowRule(
  rules: readonly AllowRule[],
  host: Host,
  port: number,
): AllowRule | undefined {
  return rules.find((rule) => ruleAllows(rule, host, port));
}
