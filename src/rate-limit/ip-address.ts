/**
 * IP addresses for rate-limit keys: parsing, CIDR matching and the client address behind trusted
 * proxies. Pure and runtime-neutral (no `node:net`), so the Workers build uses it too.
 */

export interface IpAddress {
  version: 4 | 6;
  /** The address as an unsigned integer (32 or 128 bits). */
  value: bigint;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

export function parseIp(text: string): IpAddress | undefined {
  const trimmed = text.trim();
  const v4 = parseIpv4(trimmed);
  if (v4 !== undefined) return { version: 4, value: v4 };
  // Bracketed forms and zone ids (`[::1]`, `fe80::1%eth0`) appear in headers; neither changes the address.
  const bare = trimmed.replace(/^\[(.*)\]$/, '$1').replace(/%[\w.-]+$/, '');
  const v6 = parseIpv6(bare);
  if (v6 === undefined) return undefined;
  // An IPv4-mapped address (Node's dual-stack sockets report these) is the IPv4 client it wraps.
  if (v6 >> 32n === 0xffffn) return { version: 4, value: v6 & 0xffffffffn };
  return { version: 6, value: v6 };
}

function parseIpv4(text: string): bigint | undefined {
  const match = IPV4.exec(text);
  if (!match) return undefined;
  let value = 0n;
  for (const part of match.slice(1)) {
    const octet = Number(part);
    if (octet > 255 || (part.length > 1 && part.startsWith('0'))) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  if (!text.includes(':') || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string | undefined): bigint[] | undefined => {
    if (!half) return [];
    const parts = half.split(':');
    const out: bigint[] = [];
    for (const [i, part] of parts.entries()) {
      if (i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIpv4(part);
        if (v4 === undefined) return undefined;
        out.push(v4 >> 16n, v4 & 0xffffn);
      } else if (HEX_GROUP.test(part)) out.push(BigInt(`0x${part}`));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<bigint>(halves.length === 1 ? 0 : missing).fill(0n), ...tail];
  return all.reduce((value, group) => (value << 16n) | group, 0n);
}

export interface Cidr {
  version: 4 | 6;
  network: bigint;
  prefix: number;
}

/** `10.0.0.0/8`, `2001:db8::/32`, or a single address (a full-length prefix). */
export function parseCidr(text: string): Cidr | undefined {
  const [address, bits, extra] = text.trim().split('/');
  if (address === undefined || extra !== undefined) return undefined;
  const ip = parseIp(address);
  if (!ip) return undefined;
  const width = ip.version === 4 ? 32 : 128;
  // A mapped IPv4 CIDR such as ::ffff:10.0.0.0/104 is written in IPv6 bits: convert the prefix.
  const mapped = ip.version === 4 && address.includes(':');
  let prefix = width;
  if (bits !== undefined) {
    if (!/^\d{1,3}$/.test(bits)) return undefined;
    prefix = Number(bits) - (mapped ? 96 : 0);
    if (prefix < 0 || prefix > width) return undefined;
  }
  return { version: ip.version, network: ip.value & mask(width, prefix), prefix };
}

function mask(width: number, prefix: number): bigint {
  const all = (1n << BigInt(width)) - 1n;
  return prefix === 0 ? 0n : (all >> BigInt(width - prefix)) << BigInt(width - prefix);
}

export interface IpMatcher {
  matches(address: IpAddress): boolean;
}

export function createIpMatcher(cidrs: readonly string[]): IpMatcher {
  const parsed = cidrs.map((text) => {
    const cidr = parseCidr(text);
    if (!cidr) throw new Error(`not an IP address or CIDR range: "${text}"`);
    return { ...cidr, mask: mask(cidr.version === 4 ? 32 : 128, cidr.prefix) };
  });
  return {
    matches: (address) => parsed.some((c) => c.version === address.version && (address.value & c.mask) === c.network),
  };
}

/** Proxy chains longer than this are not walked further: the work per request stays bounded. */
const MAX_FORWARDED_HOPS = 16;

/**
 * The client behind the proxies we trust: start at the socket peer and, while the current hop is a
 * trusted proxy, step left through X-Forwarded-For. Entries a client wrote itself sit left of the
 * first untrusted hop and are never reached, so a spoofed header cannot choose the key.
 */
export function resolveClientIp(
  peer: string | undefined,
  forwardedFor: string | undefined,
  trusted: IpMatcher | undefined,
): IpAddress | undefined {
  let client = peer === undefined ? undefined : parseIp(peer);
  if (!client || !trusted || !forwardedFor) return client;
  const hops = forwardedFor.split(',').slice(-MAX_FORWARDED_HOPS);
  for (let i = hops.length - 1; i >= 0 && trusted.matches(client); i--) {
    const hop = parseIp(hops[i] as string);
    if (!hop) break;
    client = hop;
  }
  return client;
}

/** The address in its canonical text form (RFC 5952 for IPv6), so one client has one spelling. */
export function formatIp(address: IpAddress): string {
  if (address.version === 4)
    return [24n, 16n, 8n, 0n].map((shift) => String((address.value >> shift) & 0xffn)).join('.');
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => Number((address.value >> shift) & 0xffffn));
  // The longest run of two or more zero groups becomes `::` (the first, on a tie).
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

/**
 * The rate-limit key of a client: the IPv4 address, or the IPv6 /64 (one subscriber usually holds a
 * whole /64, so per-address keys would let one client rotate through 2^64 fresh buckets).
 */
export function clientKey(address: IpAddress | undefined): string {
  if (!address) return 'unknown';
  if (address.version === 4) return formatIp(address);
  return `${formatIp({ version: 6, value: (address.value >> 64n) << 64n }).replace(/::$/, '')}::/64`;
}
