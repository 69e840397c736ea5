import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, generateSigningKey, importSigningKey, privateKeyPem, toBase64, toHex } from './crypto';
import {
  formatCheckpoint,
  formatVerifierKey,
  MAX_NOTE_BYTES,
  NoteError,
  type NoteErrorReason,
  type NoteVerifier,
  noteKeyHash,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  signNote,
} from './note';

// Vectors from golang.org/x/mod/sumdb/note/note_test.go (TestNewVerifier, TestSign, TestOpen).
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

// Vectors from C2SP signed-note.md (§Verifier keys, Example) and tlog-checkpoint.md.
const FOO_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const FOO_NOTE =
  'This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';
const QUASIMODO_NOTE =
  'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n' +
  '— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n';
const SOFA_BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SOFA_NOTE = `${SOFA_BODY}\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n`;

const peter = parseVerifierKey(PETER_VKEY);
const enoch = parseVerifierKey(ENOCH_VKEY);

/** Go's test slices and splices bytes; this does the same on the UTF-8 encoding. */
function spliceBytes(text: string, at: number, insert: string): string {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([bytes.subarray(0, at), Buffer.from(insert), bytes.subarray(at)]).toString('utf8');
}

async function refusal(note: string | Uint8Array, verifier: NoteVerifier): Promise<NoteErrorReason> {
  const error = await openNote(note, verifier).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof NoteError)) throw new Error(`expected a NoteError, got ${String(error)}`);
  return error.reason;
}

/** Reads Go's `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>` signer key: only the tests need it. */
async function goSigner(skey: string) {
  const [name = '', keyHash = '', ...typedSeed] = skey.slice('PRIVATE+KEY+'.length).split('+');
  const key = await importSigningKey(toBase64(fromBase64(typedSeed.join('+')).subarray(1)));
  return { name, keyHash, key };
}

describe('verifier keys', () => {
  it("reads Go's PeterNeumann verifier key to its key hash and public key, and writes it back identically", () => {
    expect(peter.name).toBe('PeterNeumann');
    expect(toHex(peter.keyHash)).toBe('c74f20a3');
    expect(toBase64(peter.publicKey)).toBe('GlzZBxQ8OExB6DDFvOEqqIF+xWSaqr8sMTiLNbLXRNY=');
    expect(toHex(noteKeyHash(peter.name, peter.publicKey))).toBe('c74f20a3');
    expect(formatVerifierKey(peter.name, peter.publicKey)).toBe(PETER_VKEY);
    expect(formatVerifierKey(enoch.name, enoch.publicKey)).toBe(ENOCH_VKEY);
  });

  it('reads the C2SP example verifier key (key id 530d903a) and writes it back identically', () => {
    const foo = parseVerifierKey(FOO_VKEY);
    expect(foo.name).toBe('example.com/foo');
    expect(toHex(foo.keyHash)).toBe('530d903a');
    expect(formatVerifierKey(foo.name, foo.publicKey)).toBe(FOO_VKEY);
  });

  it("refuses every part of the key and every one-byte mangling, as Go's TestNewVerifier does", () => {
    const bytes = Buffer.from(PETER_VKEY);
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i + 1; j <= bytes.length; j++) {
        if (i !== 0 || j !== bytes.length) expect(() => parseVerifierKey(bytes.toString('latin1', i, j))).toThrow();
      }
    }
    for (let i = 0; i < bytes.length; i++) {
      const mangled = Buffer.from(bytes);
      mangled[i] = (mangled[i] ?? 0) + 1;
      expect(() => parseVerifierKey(mangled.toString('latin1'))).toThrow(NoteError);
    }
    // A key of the wrong length and an unknown algorithm, each with a matching key hash.
    expect(() =>
      parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='),
    ).toThrow(NoteError);
    expect(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')).toThrow(
      NoteError,
    );
  });

  it('refuses key names that are empty or hold a "+" or any Unicode space', () => {
    for (const name of ['', 'a+b', 'a b', 'a\tb', 'a\u00a0b', 'a\u0085b', 'a\u2028b', 'a\u3000b', 'a\x01b', '\ud800']) {
      expect(() => formatVerifierKey(name, peter.publicKey)).toThrow(NoteError);
    }
    expect(() => formatVerifierKey('PeterNeumann', peter.publicKey.subarray(1))).toThrow(/32 bytes/);
  });
});

describe('signing notes', () => {
  it("signs Go's TestSign text with the PeterNeumann key to exactly Go's note", async () => {
    const { name, keyHash, key } = await goSigner(PETER_SKEY);
    expect(name).toBe('PeterNeumann');
    expect(toBase64(key.raw)).toBe(toBase64(peter.publicKey));
    expect(toHex(noteKeyHash(name, key.raw))).toBe(keyHash);
    const note = await signNote(TEXT, { name, publicKey: key.raw, sign: key.signBytes });
    expect(note).toBe(`${TEXT}\n${PETER_SIG}`);
  });

  it('accepts a synchronous node:crypto signer and gives the same bytes', async () => {
    const { name, key } = await goSigner(PETER_SKEY);
    const privateKey = createPrivateKey(privateKeyPem(await key.exportPkcs8()));
    const sign = (message: Uint8Array) => new Uint8Array(nodeSign(null, message, privateKey));
    expect(await signNote(TEXT, { name, publicKey: key.raw, sign })).toBe(`${TEXT}\n${PETER_SIG}`);
  });

  it('refuses a body without its final newline, with a control character, or a signer that is not Ed25519', async () => {
    const { name, key } = await goSigner(PETER_SKEY);
    const signer = { name, publicKey: key.raw, sign: key.signBytes };
    await expect(signNote('abc', signer)).rejects.toThrow(/newline/);
    await expect(signNote('a\rb\n', signer)).rejects.toThrow(/control character/);
    await expect(signNote(TEXT, { ...signer, name: 'bad name' })).rejects.toThrow(NoteError);
    await expect(signNote(TEXT, { ...signer, sign: () => new Uint8Array(63) })).rejects.toThrow(/64-byte/);
  });
});

describe('opening notes', () => {
  it("opens Go's note signed by two keys with either key, ignoring the other signature", async () => {
    const note = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    expect(await openNote(note, peter)).toEqual({ body: TEXT });
    expect(await openNote(note, enoch)).toEqual({ body: TEXT });
    expect(await openNote(new TextEncoder().encode(note), peter)).toEqual({ body: TEXT });
  });

  it('opens the C2SP example note with the C2SP example key', async () => {
    expect(await openNote(FOO_NOTE, parseVerifierKey(FOO_VKEY))).toEqual({ body: 'This is an example message.\n' });
  });

  it('splits the C2SP examples at their last blank line, keeping blank lines and non-ASCII in the body', async () => {
    // Their verifier keys are not published: a key of the same name is unknown, which proves the note parsed.
    const stranger = await generateSigningKey();
    for (const note of [QUASIMODO_NOTE, SOFA_NOTE]) {
      const name = note.slice(note.lastIndexOf('— ') + 2).split(' ')[0] ?? '';
      expect(await refusal(note, parseVerifierKey(formatVerifierKey(name, stranger.raw)))).toBe('unknown_key');
    }
  });

  it('refuses a tampered body', async () => {
    const tampered = `${TEXT.replace('problem', 'problems')}\n${PETER_SIG}`;
    expect(await refusal(tampered, peter)).toBe('bad_signature');
  });

  it("refuses a signature that does not verify under the verifier's key (Go's spliced signature)", async () => {
    expect(await refusal(`${TEXT}\n${spliceBytes(PETER_SIG, 60, 'ABCD')}`, peter)).toBe('bad_signature');
  });

  it('refuses the right name and key hash with the wrong public key', async () => {
    expect(await refusal(`${TEXT}\n${PETER_SIG}`, { ...peter, publicKey: enoch.publicKey })).toBe('bad_signature');
  });

  it('treats a signature by another key hash or another name as unknown, and refuses a note with no known one', async () => {
    expect(await refusal(`${TEXT}\n${PETER_SIG}`, enoch)).toBe('unknown_key');
    expect(await refusal(`${TEXT}\n${PETER_SIG.replace('x08g', 'xxxx')}`, peter)).toBe('unknown_key');
    expect(await refusal(`${TEXT}\n${PETER_SIG.replace('PeterNeumann', 'CarmenSandiego')}`, peter)).toBe('unknown_key');
  });

  it('refuses a truncated signature', async () => {
    // 88 characters of base64: still canonical, but 62 bytes of signature.
    expect(await refusal(`${TEXT}\n${PETER_SIG.replace('nAM=\n', '\n')}`, peter)).toBe('bad_signature');
    expect(await refusal(`${TEXT}\n${PETER_SIG.replace('JnAM=\n', '\n')}`, peter)).toBe('malformed');
  });

  it('opens a note among signatures from unknown keys, before and after its own', async () => {
    const stranger =
      '— example.com/stranger AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n';
    const note = `${TEXT}\n${ENOCH_SIG}${stranger}${PETER_SIG}${stranger}${PETER_SIG}`;
    expect(await openNote(note, peter)).toEqual({ body: TEXT });
  });

  it('verifies every signature line of the known key, so a second bad one is refused', async () => {
    const bad = spliceBytes(PETER_SIG, 60, 'ABCD');
    expect(await refusal(`${TEXT}\n${PETER_SIG}${bad}`, peter)).toBe('bad_signature');
  });

  it("refuses Go's malformed notes: no blank line, no signature, unterminated, control bytes, bad names, stray lines", async () => {
    const malformed = [
      TEXT,
      `${TEXT}\n`,
      `${TEXT}${PETER_SIG}`,
      `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
      `\x01${TEXT}\n${PETER_SIG}`,
      `${TEXT}\n${PETER_SIG.replace('PeterNeumann', 'Bad Name')}`,
      `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
      `${TEXT}\n${PETER_SIG.replace('— ', '- ')}`,
      `${TEXT}\n${PETER_SIG.replace('=\n', '\n')}`,
      `${TEXT}\n${PETER_SIG.replace(/\//g, '_')}`,
      `${TEXT}\n${PETER_SIG.replace('\n', '\r\n')}`,
      `${TEXT}\n— PeterNeumann\n`,
      `\ud800${TEXT}\n${PETER_SIG}`,
    ];
    for (const note of malformed) expect(await refusal(note, peter)).toBe('malformed');
    const invalidUtf8 = Buffer.concat([Buffer.from([0xff]), Buffer.from(`${TEXT}\n${PETER_SIG}`)]);
    expect(await refusal(new Uint8Array(invalidUtf8), peter)).toBe('malformed');
  });

  it('accepts 100 signatures and refuses 101, as Go does', async () => {
    expect(await openNote(`${TEXT}\n${PETER_SIG.repeat(100)}`, peter)).toEqual({ body: TEXT });
    expect(await refusal(`${TEXT}\n${PETER_SIG.repeat(101)}`, peter)).toBe('malformed');
  });

  it('refuses a note over 1 MiB', async () => {
    const body = `${'a'.repeat(MAX_NOTE_BYTES)}\n`;
    expect(await refusal(`${body}\n${PETER_SIG}`, peter)).toBe('malformed');
    const multiByte = `${'é'.repeat(MAX_NOTE_BYTES / 2)}\n`;
    expect(await refusal(`${multiByte}\n${PETER_SIG}`, peter)).toBe('malformed');
  });
});

describe('checkpoints', () => {
  it('reads the C2SP tlog-checkpoint example body and writes it back identically', () => {
    const checkpoint = parseCheckpoint(SOFA_BODY);
    expect(checkpoint.origin).toBe('example.com/behind-the-sofa');
    expect(checkpoint.size).toBe(20852163);
    expect(toBase64(checkpoint.rootHash)).toBe('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=');
    expect(formatCheckpoint(checkpoint)).toBe(SOFA_BODY);
  });

  it('round-trips any checkpoint through a note signed with a generated key', async () => {
    const key = await generateSigningKey();
    const origin = `lexecon/${key.keyId}`;
    const verifier = parseVerifierKey(formatVerifierKey(origin, key.raw));
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        async (size, rootHash) => {
          const note = await signNote(formatCheckpoint({ origin, size, rootHash }), {
            name: origin,
            publicKey: key.raw,
            sign: key.signBytes,
          });
          const { body } = await openNote(note, verifier);
          const parsed = parseCheckpoint(body);
          expect(parsed.origin).toBe(origin);
          expect(parsed.size).toBe(size);
          expect(toHex(parsed.rootHash)).toBe(toHex(rootHash));
        },
      ),
      { numRuns: 50 },
    );
  });

  it('writes the empty tree as size 0', () => {
    const body = formatCheckpoint({ origin: 'example.com/log', size: 0, rootHash: new Uint8Array(32) });
    expect(body).toBe('example.com/log\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n');
    expect(parseCheckpoint(body).size).toBe(0);
  });

  it('refuses malformed checkpoint bodies, extension lines included', () => {
    const root = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';
    const malformed = [
      `o\n1\n${root}`,
      `o\n1\n`,
      `o\n${root}\n`,
      `o\n1\n${root}\nextension\n`,
      `o\n1\n${root}\n\n`,
      `\n1\n${root}\n`,
      `o\n01\n${root}\n`,
      `o\n-1\n${root}\n`,
      `o\n+1\n${root}\n`,
      `o\n 1\n${root}\n`,
      `o\n1.0\n${root}\n`,
      `o\n9007199254740992\n${root}\n`,
      `o\n1\n${root.slice(0, -4)}\n`,
      `o\n1\n${root.replace('=', '')}\n`,
      `o\n1\n${root.replace('I=', 'J=')}\n`,
      `o\n1\n${root.replace('/', '_')}\n`,
      `o\x01\n1\n${root}\n`,
    ];
    for (const body of malformed) expect(() => parseCheckpoint(body), JSON.stringify(body)).toThrow(NoteError);
  });

  it('refuses to write a checkpoint it could not read back', () => {
    const rootHash = new Uint8Array(32);
    expect(() => formatCheckpoint({ origin: '', size: 1, rootHash })).toThrow(NoteError);
    expect(() => formatCheckpoint({ origin: 'a\nb', size: 1, rootHash })).toThrow(NoteError);
    expect(() => formatCheckpoint({ origin: 'o', size: -1, rootHash })).toThrow(NoteError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1.5, rootHash })).toThrow(NoteError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: new Uint8Array(31) })).toThrow(NoteError);
  });
});
