import { domainToASCII, domainToUnicode } from 'node:url';
import type { Check } from '../errors.js';
import { formatIp, parseIp, unmapIpv4, type IpAddress } from './ip-address.js';

/** A destination host: a normalised DNS name, or an IP literal. */
export type Host = { kind: 'name'; name: string } | { kind: 'ip'; ip: IpAddress };

const MAX_NAME = 253;
const MAX_LABEL = 63;
const NUMERIC_LAST = /^(\d+|0x[0-9a-f]*)$/i;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;

function invalid(text: string, why: string): Check<never> {
  return {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: `invalid host ${JSON.stringify(text.slice(0, 300))}: ${why}`,
  };
}

/**
 * Normalises a DNS name the one way both rules and requests go through, so they compare as
 * plain strings: lower case, no trailing dot, Unicode labels as punycode (UTS 46, as browsers
 * do), every `xn--` label valid punycode. Refused: empty labels, labels or names over the DNS
 * limits, characters outside letters, digits, `-` and `_`, and names whose last label is all
 * digits or hex-looking (`0x7f.1`): resolvers read those as IPv4 numbers, so they are not names.
 */
export function normalizeHostName(text: string): Check<string> {
  if (text.length === 0) return invalid(text, 'it is empty');
  if (text.length > MAX_NAME + 1) return invalid(text, `names are at most ${MAX_NAME} characters`);
  // Characters the URL parser gives meaning to (userinfo, port, path, percent-escapes) never
  // reach it: a name that contains one is refused, not reinterpreted.
  if (/[\s/\\?#@:%[\]*<>^|"'`{}]/u.test(text))
    return invalid(text, 'only letters, digits, "-", "_" and "." may appear in a name');
  const trimmed = text.endsWith('.') ? text.slice(0, -1) : text;
  if (trimmed.split('.').some((label) => label === ''))
    return invalid(text, 'it has an empty label (two dots in a row, or a leading dot)');
  if (NUMERIC_LAST.test(trimmed.slice(trimmed.lastIndexOf('.') + 1)))
    return invalid(text, 'its last label is a number, which resolvers read as an IPv4 address');
  const ascii = domainToASCII(trimmed);
  if (ascii === '') return invalid(text, 'it is not a valid internationalised name (IDNA)');
  if (ascii.length > MAX_NAME) return invalid(text, `names are at most ${MAX_NAME} characters`);
  const labels = ascii.split('.');
  for (const label of labels) {
    if (label === '') return invalid(text, 'it has an empty label after IDNA mapping');
    if (label.length > MAX_LABEL)
      return invalid(text, `the label "${label.slice(0, 20)}…" is over ${MAX_LABEL} characters`);
    if (!LABEL.test(label))
      return invalid(text, `the label "${label}" has a character a host name may not have`);
    if (label.startsWith('xn--') && !validPunycode(label))
      return invalid(text, `the label "${label}" is not valid punycode`);
  }
  if (NUMERIC_LAST.test(labels.at(-1) ?? ''))
    return invalid(text, 'its last label is a number, which resolvers read as an IPv4 address');
  return { ok: true, value: ascii };
}

function validPunycode(label: string): boolean {
  const unicode = domainToUnicode(label);
  return unicode !== label && unicode !== '' && domainToASCII(unicode) === label;
}

/**
 * A request's destination host: an IP literal (IPv6 with or without brackets, IPv4-mapped IPv6
 * reduced to its IPv4 address) or a name, normalised.
 */
export function parseHost(text: string): Check<Host> {
  const bare = /^\[.*\]$/.test(text) ? text.slice(1, -1) : text;
  const ip = parseIp(bare);
  if (ip) return { ok: true, value: { kind: 'ip', ip: unmapIpv4(ip) } };
  if (bare !== text || bare.includes(':'))
    return invalid(text, 'it is neither a host name nor an IPv4 or IPv6 address');
  const name = normalizeHostName(text);
  return name.ok ? { ok: true, value: { kind: 'name', name: name.value } } : name;
}

export function formatHost(host: Host): string {
  return host.kind === 'name' ? host.name : formatIp(host.ip);
}
