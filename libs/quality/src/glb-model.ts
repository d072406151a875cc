// What the checks need from a GLB, read with glTF-Transform: world-space triangles of every mesh, and
// the base-colour textures with the UVs that sample them.
import { Document, NodeIO, type Primitive } from '@gltf-transform/core';
import { ALL_EXTENSIONS } from '@gltf-transform/extensions';

export interface Triangles {
  /** xyz per vertex, world space. */
  positions: Float32Array;
  /** Three vertex indices per triangle (into `positions`). */
  indices: Uint32Array;
}

export interface BaseColourTexture {
  image: Uint8Array;
  mimeType: string;
  /** uv per triangle corner (6 numbers per triangle) of the primitives that use this texture. */
  cornerUvs: Float32Array;
}

export interface GlbModel {
  triangles: Triangles;
  textures: BaseColourTexture[];
}

const TRIANGLES_MODE = 4;

export class GlbReadError extends Error {
  override name = 'GlbReadError';
}

export async function readGlbModel(glb: Uint8Array): Promise<GlbModel> {
  let document: Document;
  try {
    document = await new NodeIO().registerExtensions(ALL_EXTENSIONS).readBinary(glb);
  } catch (error) {
    throw new GlbReadError(`not a readable GLB: ${(error as Error).message}`);
  }
  const positions: number[] = [];
  const indices: number[] = [];
  const uvsByTexture = new Map<object, { image: Uint8Array; mimeType: string; uvs: number[] }>();

  const scene = document.getRoot().getDefaultScene() ?? document.getRoot().listScenes()[0];
  scene?.traverse((node) => {
    const mesh = node.getMesh();
    if (!mesh) return;
    const matrix = node.getWorldMatrix();
    for (const primitive of mesh.listPrimitives()) {
      if (primitive.getMode() !== TRIANGLES_MODE) continue;
      const position = primitive.getAttribute('POSITION');
      if (!position) continue;
      const base = positions.length / 3;
      const vertex: number[] = [0, 0, 0];
      for (let i = 0; i < position.getCount(); i++) {
        position.getElement(i, vertex);
        const [x, y, z] = vertex as [number, number, number];
        positions.push(
          matrix[0] * x + matrix[4] * y + matrix[8] * z + matrix[12],
          matrix[1] * x + matrix[5] * y + matrix[9] * z + matrix[13],
          matrix[2] * x + matrix[6] * y + matrix[10] * z + matrix[14],
        );
      }
      const corners = primitiveCorners(primitive, position.getCount());
      for (const corner of corners) indices.push(base + corner);
      collectTextureUvs(primitive, corners, uvsByTexture);
    }
  });
  return {
    triangles: { positions: new Float32Array(positions), indices: new Uint32Array(indices) },
    textures: [...uvsByTexture.values()].map(({ image, mimeType, uvs }) => ({ image, mimeType, cornerUvs: new Float32Array(uvs) })),
  };
}

function primitiveCorners(primitive: Primitive, vertexCount: number): number[] {
  const indexAccessor = primitive.getIndices();
  if (!indexAccessor) return Array.from({ length: vertexCount - (vertexCount % 3) }, (_, i) => i);
  const array = indexAccessor.getArray();
  if (!array) return [];
  const count = array.length - (array.length % 3);
  return Array.from(array.subarray(0, count), Number);
}

function collectTextureUvs(
  primitive: Primitive,
  corners: number[],
  uvsByTexture: Map<object, { image: Uint8Array; mimeType: string; uvs: number[] }>,
): void {
  const material = primitive.getMaterial();
  const texture = material?.getBaseColorTexture();
  const image = texture?.getImage();
  if (!material || !texture || !image) return;
  const uvSet = material.getBaseColorTextureInfo()?.getTexCoord() ?? 0;
  const uv = primitive.getAttribute(`TEXCOORD_${uvSet}`);
  if (!uv) return;
  let entry = uvsByTexture.get(texture);
  if (!entry) {
    entry = { image, mimeType: texture.getMimeType(), uvs: [] };
    uvsByTexture.set(texture, entry);
  }
  const element: number[] = [0, 0];
  for (const corner of corners) {
    uv.getElement(corner, element);
    entry.uvs.push(element[0]!, element[1]!);
  }
}
