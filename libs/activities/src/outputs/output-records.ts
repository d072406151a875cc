// Reuse records: beside each output, `<asset>/.trellis/<name>.json` says which inputs made it. A rerun (or a
// retried activity, on this machine or another) with the same input hash keeps the output instead of
// paying for GPU work again — but only when the store vouches for the output's bytes (a local file is
// re-hashed; an object's sha256 was checked on upload and kept with it), so a damaged or partial output is
// never passed off as finished.
import type { OutputFile } from '@trellis/contracts';
import { checkedKey, joinKey } from '@trellis/output-store';
import { z } from 'zod';
import { OutputPathError, type AssetPlace } from './output-layout';

export const OutputRecord = z.object({
  inputHash: z.string().min(1),
  /** The output, relative to the asset folder (e.g. "fast.glb"). */
  file: z.string().min(1),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  writtenAt: z.string(),
  /** Whatever else the writer wants back on reuse (e.g. the generation's state id). */
  extra: z.record(z.string(), z.unknown()).optional(),
});
export type OutputRecord = z.infer<typeof OutputRecord>;

const RECORD_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function outputRecordKey(asset: AssetPlace, name: string): string {
  if (!RECORD_NAME.test(name)) {
    throw new OutputPathError(`reuse record name ${JSON.stringify(name)} must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  return joinKey(asset.key, '.trellis', `${name}.json`);
}

/** The record, or undefined when there is none or it cannot be trusted (then the work is simply redone). */
export async function readOutputRecord(asset: AssetPlace, name: string): Promise<OutputRecord | undefined> {
  const bytes = await asset.store.getBytes(outputRecordKey(asset, name));
  if (bytes === undefined) return undefined;
  try {
    const parsed = OutputRecord.safeParse(JSON.parse(bytes.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export async function writeOutputRecord(asset: AssetPlace, name: string, record: OutputRecord): Promise<void> {
  const checked = OutputRecord.parse(record);
  outputKeyIn(asset, checked.file);
  await asset.store.putBytes(outputRecordKey(asset, name), `${JSON.stringify(checked, null, 2)}\n`, { contentType: 'application/json' });
}

/** The output as recorded, when it was made from `inputHash` and the store still holds exactly it. */
export async function findReusableOutput(asset: AssetPlace, name: string, inputHash: string): Promise<OutputFile | undefined> {
  const record = await readOutputRecord(asset, name);
  if (record === undefined || record.inputHash !== inputHash) return undefined;
  let key: string;
  try {
    key = outputKeyIn(asset, record.file);
  } catch {
    return undefined; // a record pointing outside its folder was not written by us
  }
  const stored = await asset.store.head(key);
  if (stored === undefined || stored.bytes !== record.bytes || stored.sha256 !== record.sha256) return undefined;
  return { file: record.file, bytes: stored.bytes, sha256: record.sha256, reused: true };
}

/** A recorded output is a file in the asset folder (`fast.glb`, `channels/web.glb`), never a path elsewhere. */
function outputKeyIn(asset: AssetPlace, file: string): string {
  try {
    return joinKey(asset.key, checkedKey(file));
  } catch {
    throw new OutputPathError(`reuse record file ${JSON.stringify(file)} must be inside the asset folder ${asset.store.describe(asset.key)}`);
  }
}
