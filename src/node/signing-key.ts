import { createPrivateKey, sign } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config';
import { generateSigningKey, importSigningKey, privateKeyPem, type SigningKey } from '../ledger/crypto';
import { StartupError } from '../startup';
import type { Logger } from '../telemetry/logger';

/**
 * LEXECON_SIGNING_KEY wins; otherwise a key file in the data dir, created (mode 0600) on first
 * start. Several instances on one Postgres must share LEXECON_SIGNING_KEY: a per-instance file
 * would sign with different keys, which startup refuses.
 */
export async function loadSigningKey(config: Config, logger: Logger): Promise<SigningKey> {
  if (config.signing.privateKey) {
    try {
      return await importSigningKey(config.signing.privateKey);
    } catch (err) {
      throw new StartupError(`LEXECON_SIGNING_KEY: ${(err as Error).message}`);
    }
  }
  const dir = resolve(config.dataDir);
  const file = join(dir, 'signing-key.pem');
  if (existsSync(file)) {
    try {
      return await importSigningKey(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new StartupError(`${file}: ${(err as Error).message}`);
    }
  }
  mkdirSync(dir, { recursive: true });
  const key = await generateSigningKey();
  writeFileSync(file, privateKeyPem(await key.exportPkcs8()), { mode: 0o600, flag: 'wx' });
  logger.warn('generated a new ledger signing key; back it up, or set LEXECON_SIGNING_KEY', {
    file,
    key_id: key.keyId,
  });
  return key;
}

/**
 * The key's Ed25519 signature through node:crypto: synchronous, with no thread-pool hop, for the one
 * checkpoint each group commit signs (WebCrypto's costs a hop and about twice the CPU).
 */
export async function nativeSigner(key: SigningKey): Promise<(message: Uint8Array) => Uint8Array> {
  const privateKey = createPrivateKey({ key: Buffer.from(await key.exportPkcs8()), format: 'der', type: 'pkcs8' });
  return (message) => sign(null, message, privateKey);
}
