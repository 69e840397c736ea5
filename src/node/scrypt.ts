import { scrypt } from 'node:crypto';
import type { Scrypt } from '../auth/password';

/**
 * Node's scrypt runs on the libuv thread pool: hashing a password does not block the event loop. The
 * pool also signs every decision (WebCrypto), which is why the hashing capacity bounds it.
 */
export const nodeScrypt: Scrypt = (password, salt, { ln, r, p }, length) =>
  new Promise((resolve, reject) => {
    const N = 2 ** ln;
    scrypt(password, salt, length, { N, r, p, maxmem: 2 * 128 * N * r }, (err, key) =>
      err ? reject(err) : resolve(new Uint8Array(key)),
    );
  });
