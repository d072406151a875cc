// First step of an asset: read and check the image (before any GPU is involved), hash the inputs, and
// find outputs a previous run already made from exactly these inputs.
import { cancellationSignal } from '@temporalio/activity';
import { SamplerSettings, type ConvertAssetInput, type OutputFile, type Preset } from '@trellis/contracts';
import type { TrellisClient } from '@trellis/trellis-client';
import { joinKey } from '@trellis/output-store';
import { assetPlace, catalogDirOf, findReusableOutput, inputHashOf, loadImage, readOutputRecord, type AssetPlace, type ImageMediaType } from '../files';
import { readImageHeader } from '../images/image-header';
import { serviceBackend } from './service-identity';

export type PrepareAssetInput = Pick<
  ConvertAssetInput,
  'catalogId' | 'sku' | 'image' | 'catalogPath' | 'outDir' | 'seed' | 'pipelineType' | 'sampler' | 'presets'
> & {
  /** Review mode: keep the photo as uploaded in the asset folder, so the reviewer sees exactly what went in. */
  keepInputCopy?: boolean;
};

export interface ReusableState {
  stateId: string;
  expiresAt: string | null;
}

export interface PrepareAssetResult {
  imageSha256: string;
  /** Hash of everything generation depends on; GLB hashes add their preset settings (presetHashOf). */
  generateHash: string;
  reusableGlbs: Record<string, OutputFile>;
  reusablePreview?: OutputFile;
  /** A state a previous run left on the service, still within its expiry. */
  reusableState?: ReusableState;
  /** The photo as uploaded, in the asset folder (`input.png`...), when asked to keep it. */
  inputCopy?: string;
}

/** The preview's reuse record also remembers the state generation left on the service. */
export const PREVIEW_RECORD = 'preview';

export async function prepareAsset(client: TrellisClient, input: PrepareAssetInput): Promise<PrepareAssetResult> {
  const signal = cancellationSignal();
  const image = await loadImage(input.image, catalogDirOf(input.catalogPath), { signal });
  const backend = await serviceBackend(client, signal);
  const generateHash = inputHashOf({
    imageSha256: image.sha256,
    // How the photo was fitted to the service (downscale, orientation, colour): a change redoes the work.
    preprocessing: image.preprocessHash,
    seed: input.seed,
    pipelineType: input.pipelineType,
    sampler: SamplerSettings.parse(input.sampler ?? {}),
    backend,
  });
  const dir = assetPlace(input.outDir, input.catalogId, input.sku);
  const reusableGlbs: Record<string, OutputFile> = {};
  for (const preset of input.presets) {
    const reusable = await findReusableOutput(dir, preset.name, presetHashOf(generateHash, preset));
    if (reusable) reusableGlbs[preset.name] = reusable;
  }
  const reusable = await reusableGeneration(client, dir, generateHash, signal);
  const inputCopy = input.keepInputCopy ? await keepInputCopy(dir, image.bytes) : undefined;
  return {
    imageSha256: image.sha256,
    generateHash,
    reusableGlbs,
    reusablePreview: reusable?.preview ?? (await findReusableOutput(dir, PREVIEW_RECORD, generateHash)),
    reusableState: reusable?.state,
    ...(inputCopy ? { inputCopy } : {}),
  };
}

const EXTENSIONS: Record<ImageMediaType, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };

/** Writes the uploaded bytes as `input.<ext>` in the asset folder; returns the file name. */
async function keepInputCopy(dir: AssetPlace, bytes: Buffer): Promise<string> {
  const header = readImageHeader(bytes);
  const file = `input.${header.ok ? EXTENSIONS[header.mediaType] : 'img'}`;
  await dir.store.putBytes(joinKey(dir.key, file), bytes);
  return file;
}

export interface ReusableGeneration {
  preview: OutputFile;
  state: ReusableState;
}

/**
 * A generation made earlier from exactly these inputs (a previous run, or a previous attempt of `generate`
 * that died after recording it) whose state the service still keeps: reusing it saves a generation.
 * The service is asked (not just the recorded expiry), since a restarted local service or another
 * deployment no longer has the state; then the generation is redone.
 */
export async function reusableGeneration(
  client: TrellisClient,
  dir: AssetPlace,
  generateHash: string,
  signal?: AbortSignal,
): Promise<ReusableGeneration | undefined> {
  const preview = await findReusableOutput(dir, PREVIEW_RECORD, generateHash);
  if (!preview) return undefined;
  const state = await recordedState(dir);
  if (!state || !(await client.stateExists(state.stateId, { signal }))) return undefined;
  return { preview, state };
}

/** Input hash of one GLB: the generation's inputs plus the preset's settings. */
export function presetHashOf(generateHash: string, preset: Preset): string {
  return inputHashOf({ generateHash, preset: preset.settings });
}

/** The state recorded with the preview, unless it expires within a minute (slack for the calls that use it). */
async function recordedState(dir: AssetPlace): Promise<ReusableState | undefined> {
  const extra = (await readOutputRecord(dir, PREVIEW_RECORD))?.extra ?? {};
  const stateId = typeof extra.stateId === 'string' ? extra.stateId : undefined;
  const expiresAt = typeof extra.stateExpiresAt === 'string' ? extra.stateExpiresAt : null;
  if (!stateId || (expiresAt !== null && Date.parse(expiresAt) < Date.now() + 60_000)) return undefined;
  return { stateId, expiresAt };
}
