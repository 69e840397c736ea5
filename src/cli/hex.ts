/** Bytes from the lower-case hex of entry hashes and API proofs (the service writes them with toHex in ledger/crypto.ts). */
export const fromHex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'));
