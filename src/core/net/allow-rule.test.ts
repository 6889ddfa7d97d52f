import { describe, expect, it } from 'vitest';
import { unwrap } from '../errors.js';
import {
  AllowRulesSchema,
  findAllowRule,
  formatAllowRule,
  parseAllowRule,
  parseAllowRules,
} from './allow-rule.js';
import { parseHost } from './host-name.js';

const rule = (text: string) => unwrap(parseAllowRule(text));
const allows = (rules: string[], host: string, port: number) =>
  findAllowRule(rules.map(rule), unwrap(parseHost(host)), port) !== undefined;

describe('parseAllowRule', () => {
  it.each([
    ['example.com', 'example.com'],
    ['  Example.COM.  ', 'example.com'],
    ['*.pypi.org', '*.pypi.org'],
    ['*.PyPI.org.:8443', '*.pypi.org:8443'],
    ['github.com:22', 'github.com:22'],
    ['127.0.0.1:8080', '127.0.0.1:8080'],
    ['[::1]:8080', '[::1]:8080'],
    ['[::ffff:127.0.0.1]:8080', '127.0.0.1:8080'],
    ['[2001:DB8:0:0:0:0:0:1]:443', '[2001:db8::1]:443'],
    ['bücher.de', 'xn--bcher-kva.de'],
    ['xn--bcher-kva.de', 'xn--bcher-kva.de'],
    ['_acme.example.com:443', '_acme.example.com:443'],
    ['169.254.169.254:80', '169.254.169.254:80'],
  ])('%s is %s', (text, formatted) => {
    expect(formatAllowRule(rule(text))).toBe(formatted);
  });

  it.each([
    ['', 'it is empty'],
    ['https://example.com', 'a rule is a host, not a URL'],
    ['example.com/path', 'no path or CIDR block'],
    ['10.0.0.0/8', 'no path or CIDR block'],
    ['a.*.example.com', 'a wildcard may only be a whole first label'],
    ['*example.com', 'a wildcard may only be a whole first label'],
    ['*', 'a wildcard may only be a whole first label'],
    ['*.com', 'covers a whole top-level domain'],
    ['*.*.example.com', 'only letters, digits'],
    ['a..example.com', 'empty label'],
    ['.example.com', 'empty label'],
    ['example.com..', 'empty label'],
    ['exa mple.com', 'only letters, digits'],
    ['user@example.com', 'only letters, digits'],
    ['-a.example.com', 'has a character a host name may not have'],
    ['xn--zz.example.com', 'is not valid punycode'],
    [`${'a'.repeat(64)}.com`, 'over 63 characters'],
    [`${'a.'.repeat(127)}com`, 'at most 253 characters'],
    ['example.com:0', 'not a number from 1 to 65535'],
    ['example.com:65536', 'not a number from 1 to 65535'],
    ['example.com:080', 'not a number from 1 to 65535'],
    ['example.com:', 'not a number from 1 to 65535'],
    ['example.com:http', 'not a number from 1 to 65535'],
    ['127.0.0.1', 'an address rule names its port'],
    ['[::1]', 'an address rule names its port'],
    ['::1', 'put an IPv6 address in brackets'],
    ['::1:8080', 'put an IPv6 address in brackets'],
    ['[example.com]:80', 'not an IPv6 address'],
    ['[fe80::1%eth0]:80', 'not an IPv6 address'],
    ['0.0.0.0:80', 'unspecified address, never a destination'],
    ['[::]:80', 'unspecified address, never a destination'],
    ['224.0.0.1:80', 'multicast address, never a destination'],
    ['255.255.255.255:80', 'broadcast address, never a destination'],
    ['0x7f.1:80', 'read as an IPv4 address'],
    ['2130706433:80', 'read as an IPv4 address'],
    ['1.2.3.4.5:80', 'read as an IPv4 address'],
    ['010.0.0.1:80', 'read as an IPv4 address'],
    ['a:b:c', 'more than one ":"'],
  ])('%j is refused: %s', (text, why) => {
    const parsed = parseAllowRule(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.code).toBe('INVALID_ARGUMENT');
      expect(parsed.message).toContain(why);
      expect(parsed.message).toContain(`invalid network rule ${JSON.stringify(text)}`);
    }
  });

  it('reports the first bad rule of a list, and the schema reports each with its index', () => {
    expect(parseAllowRules(['a.com', 'b..com', '*'])).toMatchObject({
      ok: false,
      message: expect.stringContaining('"b..com"') as string,
    });
    const result = AllowRulesSchema.safeParse(['a.com', 'b..com', 'c.com', '*']);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path)).toEqual([[1], [3]]);
    expect(AllowRulesSchema.parse(['A.com'])).toEqual([{ kind: 'name', name: 'a.com' }]);
  });
});

describe('findAllowRule', () => {
  it.each([
    [['example.com'], 'example.com', 443, true],
    [['example.com'], 'EXAMPLE.com.', 80, true],
    [['example.com'], 'example.com', 22, false],
    [['example.com'], 'www.example.com', 443, false],
    [['example.com:8443'], 'example.com', 8443, true],
    [['example.com:8443'], 'example.com', 443, false],
    [['*.pypi.org'], 'files.pypi.org', 443, true],
    [['*.pypi.org'], 'a.b.pypi.org', 443, true],
    [['*.pypi.org'], 'pypi.org', 443, false],
    [['*.pypi.org'], 'evilpypi.org', 443, false],
    [['*.pypi.org'], 'pypi.org.evil.com', 443, false],
    [['*.pypi.org', 'pypi.org'], 'pypi.org', 443, true],
    [['github.com:22'], 'github.com', 22, true],
    [['github.com:22'], 'github.com', 443, false],
    [['bücher.de'], 'xn--bcher-kva.de', 443, true],
    [['xn--bcher-kva.de'], 'BÜCHER.de', 443, true],
    [['127.0.0.1:8080'], '127.0.0.1', 8080, true],
    [['127.0.0.1:8080'], '[::ffff:127.0.0.1]', 8080, true],
    [['127.0.0.1:8080'], '127.0.0.1', 8081, false],
    [['127.0.0.1:8080'], 'localhost', 8080, false],
    [['[::1]:8080'], '[::1]', 8080, true],
    [['[::1]:8080'], '::1', 8080, true],
    [['example.com'], '93.184.215.14', 443, false],
  ])('%j allows %s:%d: %s', (rules, host, port, expected) => {
    expect(allows(rules, host, port)).toBe(expected);
  });
});
