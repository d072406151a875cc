// TRELLIS.2-shaped test GLBs made here, not downloaded: one mesh in the unit cube around the origin
// (+Y up), normals, UVs, a base colour texture and a metallic-roughness texture, like o_voxel's to_glb.
// The surface is a bumpy ellipsoid so simplification has real work; the texture is smooth (compresses
// like a real bake) or noise (incompressible: drives the byte-budget step-down).
import { Document, NodeIO } from '@gltf-transform/core';
import sharp from 'sharp';

export interface SyntheticGlbOptions {
  /** About this many triangles (rounded to the grid). */
  triangles: number;
  textureSize: number;
  /** Extent along x, y, z, each at most 1 (TRELLIS.2's unit cube). */
  dimensions?: [number, number, number];
  noiseTexture?: boolean;
  alpha?: boolean;
}

export async function syntheticGlb(options: SyntheticGlbOptions): Promise<Uint8Array> {
  const [sx, sy, sz] = options.dimensions ?? [0.5, 0.9, 0.4];
  const rows = Math.max(4, Math.round(Math.sqrt(options.triangles / 4)));
  const columns = 2 * rows;
  const vertexCount = (rows + 1) * (columns + 1);
  const positions = new Float32Array(vertexCount * 3);
  const normals = new Float32Array(vertexCount * 3);
  const uvs = new Float32Array(vertexCount * 2);
  for (let r = 0; r <= rows; r++) {
    const v = r / rows;
    const theta = v * Math.PI;
    for (let c = 0; c <= columns; c++) {
      const u = c / columns;
      const phi = u * 2 * Math.PI;
      const bump = 1 + 0.04 * Math.sin(9 * phi) * Math.sin(7 * theta);
      const nx = Math.sin(theta) * Math.cos(phi);
      const ny = Math.cos(theta);
      const nz = Math.sin(theta) * Math.sin(phi);
      const i = r * (columns + 1) + c;
      positions.set([(nx * bump * sx) / 2, (ny * bump * sy) / 2, (nz * bump * sz) / 2], i * 3);
      normals.set(normalise([nx / sx, ny / sy, nz / sz]), i * 3);
      uvs.set([u, v], i * 2);
    }
  }
  const indices = new Uint32Array(rows * columns * 6);
  let k = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      const a = r * (columns + 1) + c;
      const b = a + columns + 1;
      indices.set([a, b, a + 1, a + 1, b, b + 1], k);
      k += 6;
    }
  }

  const document = new Document();
  const buffer = document.createBuffer();
  const primitive = document
    .createPrimitive()
    .setAttribute('POSITION', document.createAccessor().setType('VEC3').setArray(positions).setBuffer(buffer))
    .setAttribute('NORMAL', document.createAccessor().setType('VEC3').setArray(normals).setBuffer(buffer))
    .setAttribute('TEXCOORD_0', document.createAccessor().setType('VEC2').setArray(uvs).setBuffer(buffer))
    .setIndices(document.createAccessor().setType('SCALAR').setArray(indices).setBuffer(buffer));
  const baseColor = document.createTexture('base_color').setMimeType('image/png').setImage(await texture(options.textureSize, options, 'colour'));
  const metalRough = document.createTexture('metallic_roughness').setMimeType('image/png').setImage(await texture(options.textureSize, options, 'orm'));
  const material = document
    .createMaterial('material')
    .setBaseColorTexture(baseColor)
    .setMetallicRoughnessTexture(metalRough)
    .setAlphaMode(options.alpha ? 'BLEND' : 'OPAQUE');
  primitive.setMaterial(material);
  const mesh = document.createMesh('geometry').addPrimitive(primitive);
  document.createScene('scene').addChild(document.createNode('geometry').setMesh(mesh));
  return new NodeIO().writeBinary(document);
}

async function texture(size: number, options: SyntheticGlbOptions, kind: 'colour' | 'orm'): Promise<Uint8Array> {
  const channels = options.alpha && kind === 'colour' ? 4 : 3;
  const pixels = Buffer.alloc(size * size * channels);
  let seed = kind === 'colour' ? 12345 : 777;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * channels;
      if (options.noiseTexture) {
        for (let ch = 0; ch < channels; ch++) {
          seed = (seed * 1103515245 + 12345) >>> 0;
          pixels[i + ch] = seed >>> 24;
        }
      } else {
        const stripes = 0.5 + 0.5 * Math.sin((x / size) * 40) * Math.cos((y / size) * 25);
        pixels[i] = kind === 'colour' ? 60 + 150 * stripes : 255;
        pixels[i + 1] = kind === 'colour' ? 40 + 120 * (y / size) : 120 + 80 * stripes;
        pixels[i + 2] = kind === 'colour' ? 200 - 150 * stripes : 30;
      }
      if (channels === 4) pixels[i + 3] = 128 + 127 * ((x >> 4) & 1);
    }
  }
  return new Uint8Array(await sharp(pixels, { raw: { width: size, height: size, channels } }).png({ compressionLevel: 6 }).toBuffer());
}

function normalise([x, y, z]: [number, number, number]): [number, number, number] {
  const length = Math.hypot(x, y, z) || 1;
  return [x / length, y / length, z / length];
}
