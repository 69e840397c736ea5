import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fromBase64,
  generateSigningKey,
  importPublicKey,
  importSigningKey,
  portableSha256Hex,
  privateKeyPem,
  publicKeyPem,
  sha256Hex,
  toBase64,
} from './crypto';

describe('ledger crypto', () => {
  it('hashes exactly like the platform SHA-256, for any text including non-ASCII', async () => {
    const native = (text: string) => createHash('sha256').update(text).digest('hex');
    expect(portableSha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 300 }), async (text) => {
        expect(portableSha256Hex(text)).toBe(native(text));
        expect(await sha256Hex(text)).toBe(native(text));
      }),
    );
  });

  it('round-trips a generated key through PKCS#8 PEM and keeps its id and signatures', async () => {
    const key = await generateSigningKey();
    const again = await importSigningKey(privateKeyPem(await key.exportPkcs8()));
    expect(again.keyId).toBe(key.keyId);
    const signature = await again.sign('a'.repeat(64));
    expect(await key.verify('a'.repeat(64), signature)).toBe(true);
    expect(await key.verify('b'.repeat(64), signature)).toBe(false);
  });

  it('accepts a 32-byte seed in base64 and derives the same key every time', async () => {
    const seed = toBase64(new Uint8Array(32).fill(7));
    const [a, b] = await Promise.all([importSigningKey(seed), importSigningKey(seed)]);
    expect(a.keyId).toBe(b.keyId);
    const publicKey = await importPublicKey(publicKeyPem(a.raw));
    expect(await publicKey.verify('x', await a.sign('x'))).toBe(true);
    expect(publicKey.keyId).toBe(a.keyId);
  });

  it('refuses text that is not an Ed25519 key, without echoing it', async () => {
    await expect(importSigningKey('not-a-key-at-all')).rejects.toThrow(/not an Ed25519 private key|base64/);
    await expect(importSigningKey(toBase64(new Uint8Array(12)))).rejects.toThrow(/not an Ed25519 private key/);
    await expect(importPublicKey(toBase64(new Uint8Array(5)))).rejects.toThrow(/not an Ed25519 public key/);
  });

  it('rejects malformed signatures instead of throwing', async () => {
    const key = await generateSigningKey();
    expect(await key.verify('x', '!!!')).toBe(false);
    expect(await key.verify('x', toBase64(new Uint8Array(10)))).toBe(false);
    expect(fromBase64('AQID')).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('signs bytes to the same raw signature that sign() gives in base64', async () => {
    const key = await generateSigningKey();
    const message = 'entrée\n';
    const raw = await key.signBytes(new TextEncoder().encode(message));
    expect(raw).toHaveLength(64);
    expect(toBase64(raw)).toBe(await key.sign(message));
    expect(await key.verify(message, toBase64(raw))).toBe(true);
  });
});
