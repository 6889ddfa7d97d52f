import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../errors.js';
import { formatAllowRule, parseAllowRule, ruleAllows, type AllowRule } from './allow-rule.js';
import { parseHost, type Host } from './host-name.js';

/** Fixed seed: a failure reproduces on every run and machine. */
const SEED = 0xa11ce;

const labelArb = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$|^[a-z]$/);
const nameArb = fc
  .array(labelArb, { minLength: 2, maxLength: 5 })
  .map((labels) => labels.join('.'));
const portArb = fc.oneof(fc.constant(undefined), fc.constantFrom(22, 80, 443, 8080));
const requestPortArb = fc.constantFrom(22, 80, 443, 8080, 9999);

/** The same name as a client may write it: any letters upper case, maybe a trailing dot. */
function respelled(name: string): fc.Arbitrary<string> {
  return fc
    .tuple(fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }), fc.boolean())
    .map(([upper, dot]) => {
      const cased = [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('');
      return dot ? `${cased}.` : cased;
    });
}

const host = (text: string): Host => unwrap(parseHost(text));
const webOr = (port: number | undefined, asked: number) =>
  port === undefined ? asked === 80 || asked === 443 : asked === port;

describe('the allow-list matcher (seeded properties)', () => {
  it('a name rule allows exactly its name, however it is spelled, on its ports', () => {
    fc.assert(
      fc.property(
        nameArb.chain((n) => fc.tuple(fc.constant(n), respelled(n))),
        nameArb,
        portArb,
        requestPortArb,
        ([name, spelled], other, port, asked) => {
          const rule = unwrap(parseAllowRule(port ? `${name}:${port}` : name));
          expect(ruleAllows(rule, host(spelled), asked)).toBe(webOr(port, asked));
          expect(ruleAllows(rule, host(other), asked)).toBe(other === name && webOr(port, asked));
          expect(ruleAllows(rule, host(`x.${name}`), asked)).toBe(false);
        },
      ),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('a wildcard allows every subdomain and never its apex or a look-alike', () => {
    fc.assert(
      fc.property(
        nameArb,
        fc.array(labelArb, { minLength: 1, maxLength: 3 }),
        labelArb,
        requestPortArb,
        (suffix, sub, glued, asked) => {
          const rule = unwrap(parseAllowRule(`*.${suffix}`));
          const below = `${sub.join('.')}.${suffix}`;
          expect(ruleAllows(rule, host(below), asked)).toBe(webOr(undefined, asked));
          expect(ruleAllows(rule, host(below.toUpperCase()), asked)).toBe(webOr(undefined, asked));
          expect(ruleAllows(rule, host(suffix), asked)).toBe(false);
          expect(ruleAllows(rule, host(`${glued}${suffix}`), asked)).toBe(false);
          expect(ruleAllows(rule, host(`${suffix}.${glued}`), asked)).toBe(false);
        },
      ),
      { seed: SEED + 1, numRuns: 1000 },
    );
  });

  it('name rules never allow an IP literal, address rules never a name', () => {
    const v4Arb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
    fc.assert(
      fc.property(nameArb, v4Arb, fc.constantFrom(80, 443, 8080), (name, quad, port) => {
        const ip = quad.join('.');
        const nameRule = unwrap(parseAllowRule(name));
        expect(ruleAllows(nameRule, host(ip), port)).toBe(false);
        const addressRule = parseAllowRule(`${ip}:${port}`);
        if (!addressRule.ok) return; // unspecified, multicast and broadcast are refused
        expect(ruleAllows(addressRule.value, host(ip), port)).toBe(true);
        expect(ruleAllows(addressRule.value, host(`[::ffff:${ip}]`), port)).toBe(true);
        expect(ruleAllows(addressRule.value, host(name), port)).toBe(false);
      }),
      { seed: SEED + 2, numRuns: 1000 },
    );
  });

  it('a formatted rule parses back to itself', () => {
    const ruleArb: fc.Arbitrary<string> = fc.oneof(
      fc.tuple(nameArb, portArb).map(([n, p]) => (p ? `${n}:${p}` : n)),
      fc.tuple(nameArb, portArb).map(([n, p]) => (p ? `*.${n}:${p}` : `*.${n}`)),
      fc
        .tuple(fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 65535 }))
        .map(([a, b, p]) => `10.${a}.${b}.1:${p}`),
    );
    fc.assert(
      fc.property(ruleArb, (text) => {
        const rule: AllowRule = unwrap(parseAllowRule(text));
        expect(formatAllowRule(rule)).toBe(text);
        expect(unwrap(parseAllowRule(formatAllowRule(rule)))).toEqual(rule);
      }),
      { seed: SEED + 3, numRuns: 1000 },
    );
  });
});
