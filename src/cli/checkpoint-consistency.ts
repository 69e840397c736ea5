import { readFileSync } from 'node:fs';
import { toHex } from '../ledger/crypto';
import { verifyConsistency } from '../ledger/merkle';
import { type Command, FORMAT_HELP, FORMAT_OPTION, outputFormat, UsageError } from './command';
import { fromHex } from './hex';
import { isVerdict, KEY_HELP, KEY_OPTION, keysGiven, type SignedCheckpoint, verifiedCheckpoint } from './keys';
import { SERVICE_OPTIONS, type ServiceClient, serviceClient } from './service';
import { failed, printVerdict, type Verdict } from './verdict';

interface ConsistencyProof {
  from: number;
  to: number;
  hashes: string[];
}

export const checkpointConsistency: Command = {
  words: ['checkpoint', 'consistency'],
  summary: 'Prove that a newer checkpoint extends an older one (the log kept every entry it had signed)',
  usage: 'checkpoint consistency OLD NEW --url URL [--key KEY] [--token TOKEN] [--format text|json]',
  help: [
    'OLD and NEW are files holding signed checkpoints (GET /api/ledger/checkpoint, or a receipt’s checkpoint).',
    'Checks both signatures, then fetches GET /api/ledger/proof/consistency?from=&to= and verifies it',
    '(RFC 9162 §2.1.4.2). Two checkpoints of one size must have one root: two roots are a fork.',
    '',
    '--url      the service, e.g. http://localhost:3000',
    ...KEY_HELP,
    '           (without one, the key the service names in GET /api/ledger/public-key, which proves less)',
    '--token    a Bearer token with ledger:read (default: $LEXECON_TOKEN)',
    FORMAT_HELP,
  ].join('\n'),
  positionals: ['OLD', 'NEW'],
  options: { ...KEY_OPTION, ...SERVICE_OPTIONS, ...FORMAT_OPTION },
  async run({ positionals, options }, io) {
    const format = outputFormat(options);
    const service = serviceClient(options, io);
    const keys = await keysGiven(options, options.key ? [] : [await serviceKey(service, io)]);
    type Opened = SignedCheckpoint | Verdict;
    const [older, newer] = (await Promise.all(
      positionals.map((file, i) => verifiedCheckpoint(readText(file), keys, i === 0 ? 'OLD' : 'NEW')),
    )) as [Opened, Opened];
    if (isVerdict(older)) return printVerdict(io, format, older);
    if (isVerdict(newer)) return printVerdict(io, format, newer);
    return printVerdict(io, format, await proveConsistent(older, newer, service));
  },
};

export async function proveConsistent(
  older: SignedCheckpoint,
  newer: SignedCheckpoint,
  service: ServiceClient,
): Promise<Verdict> {
  if (older.origin !== newer.origin)
    return failed('origin_mismatch', `${older.origin} and ${newer.origin} are two logs`);
  if (older.size > newer.size)
    return failed('not_newer', `OLD (size ${older.size}) is larger than NEW (${newer.size})`);
  const summary = `the tree of size ${newer.size} extends the tree of size ${older.size} (${newer.origin})`;
  if (older.size === newer.size || older.size === 0) {
    const consistent = older.size === 0 || toHex(older.rootHash) === toHex(newer.rootHash);
    return consistent
      ? { valid: true, summary }
      : failed('inconsistent', `two roots for tree size ${older.size}: a fork`);
  }
  const proof = await service.json<ConsistencyProof>(
    `/api/ledger/proof/consistency?from=${older.size}&to=${newer.size}`,
  );
  const hashes = proof.hashes.map(fromHex);
  const proved =
    proof.from === older.size &&
    proof.to === newer.size &&
    verifyConsistency(older.size, newer.size, older.rootHash, newer.rootHash, hashes);
  return proved
    ? { valid: true, summary }
    : failed('inconsistent', `the service's proof does not lead from size ${older.size} to size ${newer.size}`);
}

async function serviceKey(service: ServiceClient, io: { stderr: NodeJS.WritableStream }): Promise<string> {
  const { note_verifier_key } = await service.json<{ note_verifier_key: string }>('/api/ledger/public-key');
  io.stderr.write('lexecon: no --key given; using the key the service names, which proves less than a pinned key\n');
  return note_verifier_key;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
}
