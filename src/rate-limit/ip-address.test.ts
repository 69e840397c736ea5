import { describe, expect, it } from 'vitest';
import { clientKey, createIpMatcher, formatIp, parseCidr, parseIp, resolveClientIp } from './ip-address';

const key = (text: string) => clientKey(parseIp(text));

describe('IP addresses', () => {
  it('parses IPv4 and IPv6, and reads an IPv4-mapped address as the IPv4 client', () => {
    expect(key('203.0.113.9')).toBe('203.0.113.9');
    expect(key('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(key('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(key('[2001:db8:1:2::9]')).toBe('2001:db8:1:2::/64');
    expect(key('2001:0db8:0001:0002:ffff::')).toBe(key('2001:db8:1:2::1'));
  });

  it('writes every address in one canonical form (RFC 5952)', () => {
    const canonical = (text: string) => formatIp(parseIp(text) as NonNullable<ReturnType<typeof parseIp>>);
    expect(canonical('2001:0DB8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1');
    expect(canonical('2001:db8:0:0:1:0:0:0')).toBe('2001:db8:0:0:1::');
    expect(canonical('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(canonical('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(canonical('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2:3:4:5:6');
  });

  it('rejects what is not an address', () => {
    for (const bad of ['', 'localhost', '256.1.1.1', '1.2.3', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1']) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
    expect(key('nonsense')).toBe('unknown');
  });

  it('keys IPv6 clients by /64 so one subscriber cannot rotate through fresh buckets', () => {
    expect(key('2001:db8:aa:bb::1')).toBe(key('2001:db8:aa:bb:ffff:ffff:ffff:ffff'));
    expect(key('2001:db8:aa:bb::1')).not.toBe(key('2001:db8:aa:bc::1'));
  });

  it('matches CIDR ranges and single addresses', () => {
    const matcher = createIpMatcher(['10.0.0.0/8', '192.0.2.1', 'fd00::/8']);
    const matches = (text: string) => matcher.matches(parseIp(text) as NonNullable<ReturnType<typeof parseIp>>);
    expect(matches('10.200.3.4')).toBe(true);
    expect(matches('::ffff:10.1.1.1')).toBe(true);
    expect(matches('11.0.0.1')).toBe(false);
    expect(matches('192.0.2.1')).toBe(true);
    expect(matches('192.0.2.2')).toBe(false);
    expect(matches('fd12::1')).toBe(true);
    expect(matches('fe80::1')).toBe(false);
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('10.0.0.0/8/8')).toBeUndefined();
    expect(() => createIpMatcher(['nope'])).toThrow(/nope/);
  });
});

describe('client address behind proxies', () => {
  const trusted = createIpMatcher(['10.0.0.0/8']);
  const resolve = (peer: string, xff: string | undefined, matcher = trusted) =>
    clientKey(resolveClientIp(peer, xff, matcher));

  it('ignores X-Forwarded-For when no proxy is trusted', () => {
    expect(clientKey(resolveClientIp('203.0.113.9', '198.51.100.1', undefined))).toBe('203.0.113.9');
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    expect(resolve('203.0.113.9', '198.51.100.1')).toBe('203.0.113.9');
  });

  it('takes the rightmost untrusted hop, so entries a client prepends are never reached', () => {
    expect(resolve('10.0.0.2', '198.51.100.1')).toBe('198.51.100.1');
    expect(resolve('10.0.0.2', 'spoofed, 1.1.1.1, 198.51.100.1, 10.0.0.5')).toBe('198.51.100.1');
  });

  it('stops at a malformed hop and keeps the last address a trusted proxy vouched for', () => {
    expect(resolve('10.0.0.2', '198.51.100.1, garbage')).toBe('10.0.0.2');
  });

  it('answers unknown without a peer', () => {
    expect(clientKey(resolveClientIp(undefined, '198.51.100.1', trusted))).toBe('unknown');
  });
});
