// Reuse records: beside each output, `<assetDir>/.trellis/<name>.json` says which inputs made it. A rerun
// (or a retried activity) with the same input hash keeps the file instead of paying for GPU work again —
// but only after re-hashing the file, so a damaged or partial file is never passed off as finished.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { OutputFile } from '@trellis/contracts';
import { z } from 'zod';
import { sha256File, writeFileAtomic } from './atomic-write';
import { OutputPathError } from './output-layout';

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

export function outputRecordPath(assetDirPath: string, name: string): string {
  if (!RECORD_NAME.test(name)) {
    throw new OutputPathError(`reuse record name ${JSON.stringify(name)} must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  return path.join(assetDirPath, '.trellis', `${name}.json`);
}

/** The record, or undefined when there is none or it cannot be trusted (then the work is simply redone). */
export async function readOutputRecord(assetDirPath: string, name: string): Promise<OutputRecord | undefined> {
  let text: string;
  try {
    text = await readFile(outputRecordPath(assetDirPath, name), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const parsed = OutputRecord.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export async function writeOutputRecord(assetDirPath: string, name: string, record: OutputRecord): Promise<void> {
  const checked = OutputRecord.parse(record);
  outputFileIn(assetDirPath, checked.file);
  await writeFileAtomic(outputRecordPath(assetDirPath, name), `${JSON.stringify(checked, null, 2)}\n`);
}

/** The output as recorded, when it was made from `inputHash` and the file on disk is still exactly it. */
export async function findReusableOutput(assetDirPath: string, name: string, inputHash: string): Promise<OutputFile | undefined> {
  const record = await readOutputRecord(assetDirPath, name);
  if (record === undefined || record.inputHash !== inputHash) return undefined;
  let filePath: string;
  try {
    filePath = outputFileIn(assetDirPath, record.file);
  } catch {
    return undefined; // a record pointing outside its folder was not written by us
  }
  const onDisk = await sha256File(filePath);
  if (onDisk === undefined || onDisk.bytes !== record.bytes || onDisk.sha256 !== record.sha256) return undefined;
  return { file: record.file, bytes: onDisk.bytes, sha256: onDisk.sha256, reused: true };
}

function outputFileIn(assetDirPath: string, file: string): string {
  const filePath = path.resolve(assetDirPath, file);
  const relative = path.relative(path.resolve(assetDirPath), filePath);
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw new OutputPathError(`reuse record file ${JSON.stringify(file)} must be inside the asset folder ${assetDirPath}`);
  }
  return filePath;
}
