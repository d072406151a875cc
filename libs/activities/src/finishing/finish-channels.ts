// The finish activity: each SKU's channel files from its GLBs, on the finish task queue (CPU and memory
// heavy: a 1M-face GLB is read, welded and simplified here, so the worker orchestrating GPU jobs never
// holds one). Idempotent like every output: a channel file made from the same source bytes, profile and
// size is found by its input hash and kept. A file that fails the validator or its budget is not
// delivered (an earlier one is removed) and the report says why.
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import {
  ChannelFileReport,
  ChannelName,
  DEFAULT_PROPORTION_TOLERANCE,
  type Channel,
  type OutputFile,
  type ProductSize,
} from '@trellis/contracts';
import type { PreparedSource } from '@trellis/finishing';
import { assetPlace, findReusableOutput, glbKey, outputRecordKey, previewKey, readOutputRecord, writeOutputRecord, type AssetPlace } from '../files';
import { joinKey } from '@trellis/output-store';
import { inputHashOf } from '../outputs/input-hash';

/** Bump when the finishing pipeline changes what it makes from the same inputs: channel files are then remade. */
export const FINISHING_VERSION = 1;

export interface FinishChannelsInput {
  catalogId: string;
  sku: string;
  outDir: string;
  channels: Channel[];
  /** The SKU's GLBs by preset, as its workflow holds them. */
  glbs: Record<string, OutputFile>;
  size?: ProductSize;
  proportionTolerance?: number;
  /** The SKU's preview.mp4, whose frame becomes poster.webp. */
  preview?: OutputFile;
}

export interface FinishChannelsResult {
  channels: Record<string, ChannelFileReport>;
  /** `poster.webp`; absent without a preview, or when its frame could not be decoded (logged). */
  poster?: OutputFile;
}

const POSTER_FILE = 'poster.webp';

export const channelFilePath = (name: string) => `channels/${ChannelName.parse(name)}.glb`;
const recordNameOf = (name: string) => `channel-${ChannelName.parse(name)}`;

/**
 * glTF-Transform, the codecs, sharp and the validator (megabytes of JavaScript) load on first use, so
 * the orchestrating worker, which imports this module but never runs it, stays within its 96 MB heap.
 */
const loadFinishing = () => import('@trellis/finishing');

export async function finishChannels(input: FinishChannelsInput): Promise<FinishChannelsResult> {
  const { makeChannelFile, prepareSource } = await loadFinishing();
  const dir = assetPlace(input.outDir, input.catalogId, input.sku);
  const tolerance = input.proportionTolerance ?? DEFAULT_PROPORTION_TOLERANCE;
  // Each source GLB is read once per SKU; it is parsed (and welded) only if some channel must be made.
  const sources = new Map<string, { bytes: Uint8Array; sha256: string; prepared?: PreparedSource }>();
  const reports = new Map<string, ChannelFileReport>();
  // Most triangles first, so each simplification starts from the previous, larger one (prepareSource).
  const byTriangles = [...input.channels].sort((a, b) => b.profile.max_triangles - a.profile.max_triangles);
  for (const { name, profile } of byTriangles) {
    heartbeat(name);
    const preset = profile.source_preset;
    if (!input.glbs[preset]) {
      reports.set(name, await notDelivered(dir, name, preset, profile, `no ${preset} GLB for this SKU to make it from`));
      continue;
    }
    let source = sources.get(preset);
    if (!source) {
      const stored = await dir.store.getBytes(glbKey(input.catalogId, input.sku, preset));
      if (stored === undefined) throw new Error(`the ${preset} GLB of SKU "${input.sku}" is missing from ${dir.store.describe(dir.key)}`);
      const bytes = new Uint8Array(stored);
      source = { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
      sources.set(preset, source);
    }
    const inputHash = inputHashOf({ output: 'channel', finishing: FINISHING_VERSION, source: source.sha256, profile, size: input.size ?? null, tolerance });
    const recordName = recordNameOf(name);
    const reusable = await findReusableOutput(dir, recordName, inputHash);
    const recorded = reusable ? ChannelFileReport.safeParse((await readOutputRecord(dir, recordName))?.extra?.report) : undefined;
    if (reusable && recorded?.success) {
      reports.set(name, { ...recorded.data, reused: true });
      continue;
    }
    source.prepared ??= await prepareSource(source.bytes);
    const made = await makeChannelFile(source.prepared, profile, { ...(input.size ? { size: input.size } : {}), proportionTolerance: tolerance });
    if (!made.glb) {
      reports.set(name, await notDelivered(dir, name, preset, profile, made.report.reason ?? 'not delivered', made.report));
      continue;
    }
    const file = channelFilePath(name);
    await dir.store.putBytes(joinKey(dir.key, file), made.glb, { contentType: 'model/gltf-binary' });
    const report: ChannelFileReport = ChannelFileReport.parse({ ...made.report, channel: name, sourcePreset: preset, file, reused: false });
    await writeOutputRecord(dir, recordName, {
      inputHash,
      file,
      bytes: made.glb.byteLength,
      sha256: report.sha256!,
      writtenAt: new Date().toISOString(),
      extra: { report },
    });
    reports.set(name, report);
  }
  const channels = Object.fromEntries(input.channels.map(({ name }) => [name, reports.get(name)!]));
  heartbeat('poster');
  const poster = input.preview ? await makePoster(input, dir) : undefined;
  return { channels, ...(poster ? { poster } : {}) };
}

/** poster.webp from a frame of preview.mp4, reused while the preview is the same. */
async function makePoster(input: FinishChannelsInput, dir: AssetPlace): Promise<OutputFile | undefined> {
  const inputHash = inputHashOf({ output: 'poster', finishing: FINISHING_VERSION, preview: input.preview!.sha256 });
  const reusable = await findReusableOutput(dir, 'poster', inputHash);
  if (reusable) return reusable;
  let webp: Uint8Array;
  // ffmpeg reads files: the preview itself in a local out folder, a private temp copy from object storage.
  const preview = await dir.store.localCopy(previewKey(input.catalogId, input.sku)).catch(() => undefined);
  try {
    if (!preview) throw new Error('its preview.mp4 is not in the store');
    webp = await (await loadFinishing()).posterFromPreview(preview.path);
  } catch (error) {
    // A poster is a convenience: the SKU's models stand without it.
    console.warn(`SKU "${input.sku}": no poster: ${(error as Error).message}`);
    return undefined;
  } finally {
    await preview?.release();
  }
  await dir.store.putBytes(joinKey(dir.key, POSTER_FILE), webp, { contentType: 'image/webp' });
  const file: OutputFile = { file: POSTER_FILE, bytes: webp.byteLength, sha256: createHash('sha256').update(webp).digest('hex'), reused: false };
  await writeOutputRecord(dir, 'poster', { inputHash, file: file.file, bytes: file.bytes, sha256: file.sha256, writtenAt: new Date().toISOString() });
  return file;
}

/** The report of a channel without a file; a file an earlier run delivered for it is removed. */
async function notDelivered(
  dir: AssetPlace,
  name: string,
  preset: string,
  profile: Channel['profile'],
  reason: string,
  made?: Omit<ChannelFileReport, 'channel' | 'sourcePreset' | 'file' | 'reused'>,
): Promise<ChannelFileReport> {
  await dir.store.delete(joinKey(dir.key, channelFilePath(name)));
  await dir.store.delete(outputRecordKey(dir, recordNameOf(name)));
  const { sha256: _notDelivered, ...rest } = made ?? {
    bytes: 0,
    triangles: 0,
    textureSizes: [],
    compression: profile.compression,
    maxBytes: profile.max_bytes,
    maxTriangles: profile.max_triangles,
    budgetMet: false,
    stepDowns: [],
    validator: { errors: 0, warnings: 0, messages: [] },
    delivered: false,
  };
  return ChannelFileReport.parse({ ...rest, channel: name, sourcePreset: preset, delivered: false, reason, reused: false });
}

/** Tells Temporal the activity is alive between channels (a no-op when called outside an activity). */
function heartbeat(channel: string): void {
  try {
    Context.current().heartbeat({ channel });
  } catch {
    // not running as an activity (unit tests)
  }
}
