import { describe, expect, it } from 'vitest';
import { generateSigningKey } from '../ledger/crypto';
import { nativeSigner } from './signing-key';

describe('the native signer', () => {
  it('signs bytes synchronously with the same Ed25519 signature WebCrypto gives', async () => {
    const key = await generateSigningKey();
    const message = new TextEncoder().encode('lexecon/example\n3\nAAAA\n');
    const signature = (await nativeSigner(key))(message);
    expect(signature).toBeInstanceOf(Uint8Array);
    // Ed25519 is deterministic: the two implementations must agree byte for byte.
    expect(Buffer.from(signature)).toEqual(Buffer.from(await key.signBytes(message)));
  });
});
