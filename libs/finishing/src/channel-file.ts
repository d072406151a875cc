// One channel file from a source GLB, with glTF-Transform: weld, dedup, prune, simplify to the triangle
// budget (meshoptimizer), textures resized and re-encoded (sharp), real-world scale and placement,
// Draco or meshopt compression; over the byte budget it steps down (texture size, then triangles) until
// it fits. Then the Khronos validator gate. Pure: bytes in, bytes and a report out.
import { createHash } from 'node:crypto';
import { Document, Primitive } from '@gltf-transform/core';
import { cloneDocument, dedup, draco, meshopt, prune, simplify, textureCompress, weld } from '@gltf-transform/functions';
import {
  DEFAULT_PROPORTION_TOLERANCE,
  MIN_STEP_DOWN_TEXTURE_SIZE,
  MIN_STEP_DOWN_TRIANGLES,
  type ChannelFileReport,
  type ChannelProfile,
  type Placement,
  type ProductSize,
  type ValidatorVerdict,
} from '@trellis/contracts';
import { MeshoptEncoder, MeshoptSimplifier } from 'meshoptimizer';
import sharp from 'sharp';
import { gltfIO, quietLogger } from './gltf-io';
import { placeOnGround } from './placement';
import { validateGlb } from './validator-gate';

export interface ChannelFileOptions {
  /** The product's real-world size from the catalog; without it the model keeps TRELLIS.2's unit size. */
  size?: ProductSize;
  /** Relative disagreement of proportions that flags the SKU (default 15 %). */
  proportionTolerance?: number;
}

export interface ChannelFileResult {
  /** The channel file; present only when it passed the validator and met its budgets. */
  glb?: Uint8Array;
  report: Omit<ChannelFileReport, 'channel' | 'sourcePreset' | 'file' | 'reused'>;
}

/** The first texture step-downs stop here; below it the triangles go first, then textures again. */
const TEXTURE_FLOOR_BEFORE_TRIANGLES = 1024;
/** Each triangle step-down keeps this share of the triangles. */
const TRIANGLE_STEP = 0.7;
/** meshoptimizer may stop short of a ratio (UV seams, borders): simplify again, harder, this many times. */
const SIMPLIFY_PASSES = 4;
const TEXTURE_QUALITY = 85;
/**
 * prune() by default decodes every texture to find single-colour ones (a 4096 px texture costs ~100 MB
 * of pixels, measured: peak RSS 513 MB vs 233 MB for a quality-size GLB); TRELLIS.2's baked textures
 * are never one colour, so that check is skipped.
 */
const PRUNE_OPTIONS = { keepSolidTextures: true };

/** A source GLB read and cleaned once (dedup, weld, prune), for every channel made from it. */
export interface PreparedSource {
  document: Document;
  triangles: number;
  /**
   * Simplified copies by triangle target, shared by the channels made from this source: a smaller
   * target starts from the nearest larger copy (simplifying 300K triangles to 100K costs a third of
   * simplifying 1M), which is what meshoptimizer's greedy collapse would pass through anyway.
   */
  simplified: Map<number, Document>;
}

export async function prepareSource(glb: Uint8Array): Promise<PreparedSource> {
  const document = await (await gltfIO()).readBinary(glb);
  await document.transform(dedup(), weld(), prune(PRUNE_OPTIONS));
  return { document, triangles: countTriangles(document), simplified: new Map() };
}

/** The channel file for one profile; `source` is the GLB, or prepareSource's result shared by several channels. */
export async function makeChannelFile(source: Uint8Array | PreparedSource, profile: ChannelProfile, options: ChannelFileOptions = {}): Promise<ChannelFileResult> {
  const prepared = source instanceof Uint8Array ? await prepareSource(source) : source;
  const { document: base, triangles: sourceTriangles, simplified } = prepared;
  const simplifiedTo = async (triangles: number): Promise<Document> => {
    if (triangles >= sourceTriangles) return base;
    let document = simplified.get(triangles);
    if (!document) {
      const larger = [...simplified.keys()].filter((target) => target > triangles).sort((a, b) => a - b)[0];
      document = cloneDocument(larger === undefined ? base : simplified.get(larger)!).setLogger(quietLogger);
      await simplifyTo(document, triangles);
      simplified.set(triangles, document);
    }
    return document;
  };

  let textureSize: number = profile.texture_size;
  let triangleTarget = Math.min(profile.max_triangles, sourceTriangles);
  const stepDowns: string[] = [];
  for (;;) {
    const document = cloneDocument(await simplifiedTo(triangleTarget)).setLogger(quietLogger);
    const attempt = await finishAttempt(document, profile, textureSize, options);
    const fitsBytes = attempt.glb.byteLength <= profile.max_bytes;
    const fitsTriangles = attempt.triangles <= profile.max_triangles;
    const next = fitsBytes ? undefined : nextStepDown(textureSize, triangleTarget, attempt.triangles);
    if (fitsBytes || !next) {
      const budgetMet = fitsBytes && fitsTriangles;
      const validator = await validateGlb(attempt.glb);
      const reason = deliveryProblem(validator, budgetMet, attempt, profile);
      return {
        ...(reason ? {} : { glb: attempt.glb }),
        report: {
          delivered: !reason,
          ...(reason ? { reason } : {}),
          bytes: attempt.glb.byteLength,
          sha256: createHash('sha256').update(attempt.glb).digest('hex'),
          triangles: attempt.triangles,
          textureSizes: attempt.textureSizes,
          compression: profile.compression,
          maxBytes: profile.max_bytes,
          maxTriangles: profile.max_triangles,
          budgetMet,
          stepDowns,
          validator,
          placement: attempt.placement,
        },
      };
    }
    if (next.textureSize !== textureSize) stepDowns.push(`texture ${textureSize} -> ${next.textureSize} px (${attempt.glb.byteLength} bytes over ${profile.max_bytes})`);
    else stepDowns.push(`triangles ${attempt.triangles} -> ${next.triangleTarget} (${attempt.glb.byteLength} bytes over ${profile.max_bytes})`);
    textureSize = next.textureSize;
    triangleTarget = next.triangleTarget;
  }
}

/** Texture size first (down to 1024), then triangles, then textures again; undefined when nothing is left. */
export function nextStepDown(textureSize: number, triangleTarget: number, triangles: number): { textureSize: number; triangleTarget: number } | undefined {
  if (textureSize > TEXTURE_FLOOR_BEFORE_TRIANGLES) return { textureSize: textureSize / 2, triangleTarget };
  const fewer = Math.floor(Math.min(triangleTarget, triangles) * TRIANGLE_STEP);
  if (fewer >= MIN_STEP_DOWN_TRIANGLES) return { textureSize, triangleTarget: fewer };
  if (textureSize > MIN_STEP_DOWN_TEXTURE_SIZE) return { textureSize: textureSize / 2, triangleTarget };
  return undefined;
}

function deliveryProblem(validator: ValidatorVerdict, budgetMet: boolean, attempt: Attempt, profile: ChannelProfile): string | undefined {
  if (validator.errors > 0) return `the Khronos glTF validator found ${validator.errors} error(s): ${validator.messages.filter((m) => m.startsWith('error')).slice(0, 3).join('; ')}`;
  if (budgetMet) return undefined;
  if (attempt.triangles > profile.max_triangles) return `${attempt.triangles} triangles after simplification, over the channel's ${profile.max_triangles}`;
  return `${attempt.glb.byteLength} bytes at the smallest step-down (${MIN_STEP_DOWN_TEXTURE_SIZE} px, ${attempt.triangles} triangles), over the channel's ${profile.max_bytes}`;
}

interface Attempt {
  glb: Uint8Array;
  triangles: number;
  textureSizes: number[];
  placement: Placement;
}

async function finishAttempt(document: Document, profile: ChannelProfile, textureSize: number, options: ChannelFileOptions): Promise<Attempt> {
  await encodeTextures(document, profile.texture_format, textureSize);
  const placement = await placeOnGround(document, options.size, options.proportionTolerance ?? DEFAULT_PROPORTION_TOLERANCE);
  const triangles = countTriangles(document);
  const textureSizes = await Promise.all(
    document.getRoot().listTextures().map(async (texture) => {
      const image = texture.getImage();
      if (!image) return 0;
      const { width = 0, height = 0 } = await sharp(image).metadata();
      return Math.max(width, height);
    }),
  );
  if (profile.compression === 'draco') await document.transform(draco({ method: 'edgebreaker' }));
  if (profile.compression === 'meshopt') await document.transform(meshopt({ encoder: MeshoptEncoder, level: 'medium' }));
  await document.transform(prune(PRUNE_OPTIONS));
  const glb = await (await gltfIO()).writeBinary(document);
  return { glb, triangles, textureSizes, placement };
}

/**
 * Resizes and re-encodes every texture. JPEG has no alpha: a base colour texture of a material that
 * blends or masks keeps its alpha as PNG (resized all the same).
 */
async function encodeTextures(document: Document, format: ChannelProfile['texture_format'], size: number): Promise<void> {
  const resize: [number, number] = [size, size];
  const common = { encoder: sharp, resize, quality: TEXTURE_QUALITY };
  const hasAlpha = document.getRoot().listMaterials().some((material) => material.getAlphaMode() !== 'OPAQUE');
  if (format === 'jpeg' && hasAlpha) {
    await document.transform(
      textureCompress({ ...common, targetFormat: 'jpeg', slots: /^(?!baseColorTexture$)/ }),
      textureCompress({ ...common, targetFormat: 'png', slots: /^baseColorTexture$/ }),
    );
    return;
  }
  await document.transform(textureCompress({ ...common, targetFormat: format }));
}

async function simplifyTo(document: Document, triangles: number): Promise<void> {
  for (let pass = 0; pass < SIMPLIFY_PASSES; pass++) {
    const current = countTriangles(document);
    if (current <= triangles) return;
    // Ratio governs; the error bound is left wide open because the channel's budget is the limit that matters.
    const ratio = (triangles / current) * (pass === 0 ? 1 : 0.95);
    await document.transform(simplify({ simplifier: MeshoptSimplifier, ratio, error: pass === 0 ? 0.01 : 0.1 * pass }));
  }
}

/** Triangles drawn by the scene: every triangle primitive of every mesh a node instantiates. */
export function countTriangles(document: Document): number {
  let triangles = 0;
  for (const node of document.getRoot().listNodes()) {
    for (const primitive of node.getMesh()?.listPrimitives() ?? []) {
      if (primitive.getMode() !== Primitive.Mode.TRIANGLES) continue;
      const indices = primitive.getIndices();
      const count = indices ? indices.getCount() : (primitive.getAttribute('POSITION')?.getCount() ?? 0);
      triangles += Math.floor(count / 3);
    }
  }
  return triangles;
}
