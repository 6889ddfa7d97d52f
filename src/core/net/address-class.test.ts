import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyAddress } from './address-class.js';
import { formatIp, parseIp, parseIpv4, parseIpv6, type IpAddress } from './ip-address.js';

const classOf = (text: string) => classifyAddress(parseIp(text)!)?.kind;

describe('IP literals', () => {
  it.each([
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['::ffff:1.2.3.4', '::ffff:102:304'],
    ['64:ff9b::10.0.0.1', '64:ff9b::a00:1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ])('IPv6 %s is %s', (text, formatted) => {
    expect(formatIp(parseIpv6(text)!)).toBe(formatted);
  });

  it.each([
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    '12345::',
    '::1.2.3',
    '1:2:3:4:5:6:7:1.2.3.4',
    'fe80::1%eth0',
    '::g',
    ':',
  ])('IPv6 %s is refused', (text) => {
    expect(parseIpv6(text)).toBeUndefined();
  });

  it.each(['1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '0x7f.0.0.1', '1.2.3.4 ', ''])(
    'IPv4 %j is refused',
    (text) => {
      expect(parseIpv4(text)).toBeUndefined();
    },
  );
});

describe('classifyAddress', () => {
  it.each([
    ['169.254.169.254', 'cloud-metadata'],
    ['fd00:ec2::254', 'cloud-metadata'],
    ['100.100.100.200', 'cloud-metadata'],
    ['::ffff:169.254.169.254', 'cloud-metadata'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['2002:7f00:1::', 'loopback'],
    ['::127.0.0.1', 'loopback'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::192.168.0.1', 'private'],
    ['100.64.0.1', 'shared'],
    ['192.0.2.1', 'documentation'],
    ['2001:db8::1', 'documentation'],
    ['240.0.0.1', 'reserved'],
    ['2001::1', 'tunnel'],
  ])('%s is %s', (text, kind) => {
    expect(classOf(text)).toBe(kind);
  });

  it.each(['1.1.1.1', '172.32.0.1', '172.15.255.255', '93.184.215.14', '2606:4700::1111'])(
    '%s is public',
    (text) => {
      expect(classOf(text)).toBeUndefined();
    },
  );

  it('names the embedded address in its reason', () => {
    expect(classifyAddress(parseIp('64:ff9b::a9fe:a9fe')!)?.reason).toBe(
      '64:ff9b::a9fe:a9fe is the NAT64 form of 169.254.169.254 is the cloud metadata service (AWS, GCP, Azure, OpenStack, Oracle)',
    );
  });

  const v4Arb = fc
    .uint8Array({ minLength: 4, maxLength: 4 })
    .map((bytes): IpAddress => ({ family: 4, bytes }));

  it('classifies an IPv4 address and its mapped and NAT64 forms alike (seeded)', () => {
    fc.assert(
      fc.property(v4Arb, (v4) => {
        const want = classifyAddress(v4)?.kind;
        for (const prefix of [
          [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff],
          [0, 0x64, 0xff, 0x9b],
        ]) {
          const bytes = new Uint8Array(16);
          bytes.set(prefix);
          bytes.set(v4.bytes, 12);
          expect(classifyAddress({ family: 6, bytes })?.kind).toBe(want);
        }
      }),
      { seed: 0x1e7, numRuns: 2000 },
    );
  });

  it('formats and parses back every address unchanged (seeded)', () => {
    const v6Arb = fc
      .array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
        minLength: 8,
        maxLength: 8,
      })
      .map((groups): IpAddress => {
        const bytes = new Uint8Array(16);
        groups.forEach((g, i) => bytes.set([g >> 8, g & 0xff], i * 2));
        return { family: 6, bytes };
      });
    fc.assert(
      fc.property(fc.oneof(v4Arb, v6Arb), (ip) => {
        expect(parseIp(formatIp(ip))).toEqual(ip);
      }),
      { seed: 0x1e8, numRuns: 2000 },
    );
  });
});
