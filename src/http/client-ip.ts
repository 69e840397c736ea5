import type { Context } from 'hono';
import { createIpMatcher, formatIp, resolveClientIp } from '../rate-limit/ip-address';
import type { AppEnv } from './context';

export interface ClientIpOptions {
  /** The socket peer's address, from the runtime adapter (Node: getConnInfo; Workers: CF-Connecting-IP). */
  peer: (c: Context<AppEnv>) => string | undefined;
  /** LEXECON_TRUSTED_PROXIES: addresses and CIDR ranges whose X-Forwarded-For is believed. */
  trustedProxies?: readonly string[];
}

/**
 * Builds `settings.clientIp`: the client's address, canonical. It is the socket peer, and
 * X-Forwarded-For counts only while the hop that wrote it is a trusted proxy, so a client cannot pick
 * its own address by sending the header. An unknown peer gives `unknown`, one shared rate-limit key,
 * which can only limit more, never less.
 */
export function createClientIpResolver(options: ClientIpOptions): (c: Context<AppEnv>) => string {
  const trusted = options.trustedProxies?.length ? createIpMatcher(options.trustedProxies) : undefined;
  return function clientIp(c) {
    const address = resolveClientIp(options.peer(c), c.req.header('x-forwarded-for'), trusted);
    return address ? formatIp(address) : 'unknown';
  };
}
