// The deliberately bad results of the labelled set, made from good ones the way each defect arises.
import { NodeIO } from '@gltf-transform/core';
import { ALL_EXTENSIONS } from '@gltf-transform/extensions';
import sharp from 'sharp';
import { uvCoverage } from '../../src';

/** Deterministic pseudo-random numbers (mulberry32), so the labelled set is the same every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function rgba(photo: Buffer) {
  const { data, info } = await sharp(photo).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/**
 * A background removal that ate part of the product: the photo's product loses the side `share` of its
 * bounding box (made transparent, or painted with the backdrop colour when the photo has no alpha).
 */
export async function photoWithPartEaten(photo: Buffer, share: number): Promise<Buffer> {
  const { data, width, height } = await rgba(photo);
  const hasAlpha = data.some((_, i) => i % 4 === 3 && data[i]! < 128);
  const backdrop = [data[0]!, data[1]!, data[2]!];
  const isProduct = (i: number) =>
    hasAlpha ? data[i * 4 + 3]! >= 128 : Math.hypot(data[i * 4]! - backdrop[0]!, data[i * 4 + 1]! - backdrop[1]!, data[i * 4 + 2]! - backdrop[2]!) > 48;
  let left = width, right = -1;
  for (let i = 0; i < width * height; i++) {
    if (!isProduct(i)) continue;
    left = Math.min(left, i % width);
    right = Math.max(right, i % width);
  }
  const cut = right - (right - left) * share;
  for (let i = 0; i < width * height; i++) {
    if (i % width < cut) continue;
    if (hasAlpha) data[i * 4 + 3] = 0;
    else data.set(backdrop, i * 4);
  }
  return sharp(data, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

/** The photo made opaque on a busy scene (coloured shapes), as a lifestyle shot whose background stays in. */
export async function photoOnBusyBackground(photo: Buffer, seed: number): Promise<Buffer> {
  const { width, height } = await sharp(photo).metadata();
  const w = width!, h = height!;
  const random = seededRandom(seed);
  const colour = () => `rgb(${Math.floor(random() * 256)},${Math.floor(random() * 256)},${Math.floor(random() * 256)})`;
  let shapes = `<rect width="${w}" height="${h}" fill="${colour()}"/>`;
  for (let i = 0; i < 40; i++) {
    shapes += `<rect x="${random() * w - 40}" y="${random() * h - 40}" width="${30 + random() * 120}" height="${30 + random() * 120}" fill="${colour()}"/>`;
  }
  const scene = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">${shapes}</svg>`);
  // A photo without alpha sits on its own backdrop: keep it whole, but shrink the backdrop to a frame's
  // worth so the busy scene shows around it, as a product placed in a room.
  const meta = await sharp(photo).metadata();
  const product = meta.hasAlpha ? photo : await sharp(photo).resize(Math.round(w * 0.7), Math.round(h * 0.7)).toBuffer();
  return sharp(scene).composite([{ input: product, gravity: 'center' }]).removeAlpha().png().toBuffer();
}

const io = () => new NodeIO().registerExtensions(ALL_EXTENSIONS);

/** Holes in the surface: every triangle whose centroid lies within `radius` of one of `count` surface points. */
export async function glbWithHoles(glb: Uint8Array, count: number, radius: number, seed: number): Promise<Uint8Array> {
  const document = await io().readBinary(glb);
  const random = seededRandom(seed);
  for (const mesh of document.getRoot().listMeshes()) {
    for (const primitive of mesh.listPrimitives()) {
      const position = primitive.getAttribute('POSITION')!;
      const indices = primitive.getIndices()!;
      const array = indices.getArray()!;
      const vertex = [0, 0, 0], centre = [0, 0, 0];
      const centres = Array.from({ length: count }, () => position.getElement(Math.floor(random() * position.getCount()), [0, 0, 0]));
      const kept: number[] = [];
      for (let t = 0; t + 3 <= array.length; t += 3) {
        centre.fill(0);
        for (let k = 0; k < 3; k++) {
          position.getElement(array[t + k]!, vertex);
          for (let c = 0; c < 3; c++) centre[c]! += vertex[c]! / 3;
        }
        const inHole = centres.some((point) => Math.hypot(point[0]! - centre[0]!, point[1]! - centre[1]!, point[2]! - centre[2]!) < radius);
        if (!inHole) kept.push(array[t]!, array[t + 1]!, array[t + 2]!);
      }
      indices.setArray(new Uint32Array(kept));
    }
  }
  return io().writeBinary(document);
}

/** Black spots: `count` black squares of `sideShare` of the texture's side, centred on texels the model shows. */
export async function glbWithBlackPatches(glb: Uint8Array, count: number, sideShare: number, seed: number): Promise<Uint8Array> {
  const document = await io().readBinary(glb);
  const random = seededRandom(seed);
  for (const material of document.getRoot().listMaterials()) {
    const texture = material.getBaseColorTexture();
    if (!texture) continue;
    const { data, info } = await sharp(texture.getImage()!).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const uvs: number[] = [];
    for (const mesh of document.getRoot().listMeshes()) {
      for (const primitive of mesh.listPrimitives()) {
        if (primitive.getMaterial() !== material) continue;
        const uv = primitive.getAttribute('TEXCOORD_0')!;
        const element = [0, 0];
        for (const corner of primitive.getIndices()!.getArray()!) uvs.push(...uv.getElement(corner, element));
      }
    }
    const covered = uvCoverage(new Float32Array(uvs), info.width, info.height);
    const coveredTexels = [...covered.keys()].filter((i) => covered[i]);
    const side = Math.max(1, Math.round(sideShare * Math.max(info.width, info.height)));
    for (let p = 0; p < count; p++) {
      const centre = coveredTexels[Math.floor(random() * coveredTexels.length)]!;
      const cx = centre % info.width, cy = Math.floor(centre / info.width);
      for (let y = Math.max(0, cy - (side >> 1)); y < Math.min(info.height, cy + (side >> 1)); y++) {
        for (let x = Math.max(0, cx - (side >> 1)); x < Math.min(info.width, cx + (side >> 1)); x++) data.fill(0, (y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3);
      }
    }
    texture.setImage(await sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).png().toBuffer());
    texture.setMimeType('image/png');
  }
  return io().writeBinary(document);
}
