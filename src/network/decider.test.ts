import { describe, expect, it } from 'vitest';
import { unwrap } from '../core/errors.js';
import { parseAllowRules } from '../core/net/allow-rule.js';
import { parseHost } from '../core/net/host-name.js';
import { parseIp } from '../core/net/ip-address.js';
import { checkAddress, localAddresses } from './address-policy.js';
import { allowListDecider, type EgressRequest } from './decider.js';

const rules = unwrap(
  parseAllowRules(['example.com', '*.pypi.org', 'github.com:22', '127.0.0.1:8080']),
);
const ask = (host: string, port: number): EgressRequest => ({
  sandbox: 'sb-1',
  host: unwrap(parseHost(host)),
  port,
  protocol: 'connect',
});
const signal = new AbortController().signal;

describe('allowListDecider', () => {
  it.each([
    ['example.com', 443, 'allow', 'the rule example.com allows example.com:443'],
    ['files.pypi.org', 80, 'allow', 'the rule *.pypi.org allows files.pypi.org:80'],
    ['github.com', 22, 'allow', 'the rule github.com:22 allows github.com:22'],
    ['127.0.0.1', 8080, 'allow', 'the rule 127.0.0.1:8080 allows 127.0.0.1:8080'],
    [
      'pypi.org',
      443,
      'deny',
      'no --allow-net rule allows pypi.org:443; allow it with --allow-net pypi.org',
    ],
    [
      'github.com',
      443,
      'deny',
      'no --allow-net rule allows github.com:443; allow it with --allow-net github.com',
    ],
    ['example.com', 8443, 'deny', 'allow it with --allow-net example.com:8443'],
    [
      '10.0.0.1',
      80,
      'deny',
      'an address is reached only by a rule naming it with its port (10.0.0.1:80)',
    ],
  ])('%s:%d is %s', (host, port, decision, reason) => {
    const answer = allowListDecider(rules).decide(ask(host, port), signal);
    expect(answer).toMatchObject({ decision, reason: expect.stringContaining(reason) as string });
  });

  it('leaves unlisted destinations to a person when asked to, and says when no rules are set', () => {
    expect(
      allowListDecider(rules, { unlisted: 'ask' }).decide(ask('pypi.org', 443), signal),
    ).toEqual({
      decision: 'ask',
      reason: 'pypi.org:443 needs approval: no --allow-net rule allows pypi.org:443',
    });
    expect(allowListDecider([]).decide(ask('pypi.org', 443), signal)).toMatchObject({
      decision: 'deny',
      reason: expect.stringMatching(/^no --allow-net rules are set/) as string,
    });
  });
});

describe('checkAddress', () => {
  const ip = (text: string) => parseIp(text)!;
  const policy = { rules, hostAddresses: () => [ip('203.0.113.9'), ip('8.8.4.4')] };

  it.each([
    ['1.1.1.1', 443, true, ''],
    ['127.0.0.1', 8080, true, ''],
    ['::ffff:127.0.0.1', 8080, true, ''],
    ['127.0.0.1', 8081, false, 'a loopback address; only a rule naming 127.0.0.1:8081 allows it'],
    ['8.8.4.4', 443, false, 'an address of this host'],
    ['192.0.2.1', 443, false, "the in-box DNS stub's placeholder"],
    ['0.0.0.0', 443, false, 'never a destination'],
    ['ff02::1', 443, false, 'never a destination'],
    [
      'fd00:ec2::254',
      80,
      false,
      'the AWS IPv6 metadata service; only a rule naming [fd00:ec2::254]:80',
    ],
  ])('%s:%d allowed: %s', (address, port, ok, why) => {
    const verdict = checkAddress(ip(address), port, 'x.test', policy);
    expect(verdict.ok).toBe(ok);
    if (!verdict.ok)
      expect(verdict.message).toContain(`x.test resolves to ${address.replace('::ffff:', '')}: `);
    if (!verdict.ok) expect(verdict.message).toContain(why);
  });

  it("reads this host's own addresses, loopback among them", () => {
    expect(localAddresses().some((mine) => mine.family === 4 && mine.bytes[0] === 127)).toBe(true);
  });
});
