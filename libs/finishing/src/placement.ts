// Real-world scale and placement. TRELLIS.2's GLBs are already glTF-oriented: o_voxel's to_glb swaps
// its Z-up frame to +Y up with the old -Y (the dataset's front) as +Z (o-voxel/o_voxel/postprocess.py,
// "Swap Y and Z axes, invert Y"), so no rotation is needed; the model sits in the unit cube around the
// origin. Each channel file is scaled uniformly so its bounding box matches the catalog's size (never
// stretched: proportions that disagree are reported) and moved so the origin is at its bottom centre.
import type { Document } from '@gltf-transform/core';
import { clearNodeTransform, flatten, getBounds } from '@gltf-transform/functions';
import { METRES_PER_UNIT, type Placement, type ProductSize } from '@trellis/contracts';

type Vec3 = [number, number, number];
const AXES = [
  ['width', 0],
  ['height', 1],
  ['depth', 2],
] as const;

/**
 * The uniform factor that best matches the given dimensions (geometric mean of the per-axis ratios,
 * so a 10 % overshoot on one axis and 10 % under on another cancel), and a note when any given axis at
 * that factor is off by more than `tolerance` (relative).
 */
export function fitToSize(
  modelDimensions: Vec3,
  size: ProductSize | undefined,
  tolerance: number,
): { factor: number; mismatch?: string } {
  if (!size) return { factor: 1 };
  const metres = METRES_PER_UNIT[size.unit];
  const given = AXES.flatMap(([name, axis]) => {
    const value = size[name];
    return value === undefined ? [] : [{ name, axis, metres: value * metres, written: value }];
  });
  const degenerate = given.find((g) => !(modelDimensions[g.axis] > 0));
  if (degenerate) throw new Error(`the model has no extent along its ${degenerate.name} axis`);
  const logMean = given.reduce((sum, g) => sum + Math.log(g.metres / modelDimensions[g.axis]), 0) / given.length;
  const factor = Math.exp(logMean);
  const off = given
    .map((g) => ({ ...g, ratio: (factor * modelDimensions[g.axis]) / g.metres - 1 }))
    .filter((g) => Math.abs(g.ratio) > tolerance);
  if (off.length === 0) return { factor };
  const givenText = given.map((g) => `${g.name} ${g.written} ${size.unit}`).join(', ');
  const modelText = AXES.map(([name, axis]) => `${name} ${round((factor * modelDimensions[axis]) / metres)}`).join(', ');
  const worst = off.map((g) => `${g.name} ${g.ratio > 0 ? '+' : ''}${Math.round(g.ratio * 100)} %`).join(', ');
  return {
    factor,
    mismatch: `the given size (${givenText}) does not match the model's proportions (at that scale: ${modelText} ${size.unit}; ${worst}, tolerance ${Math.round(tolerance * 100)} %)`,
  };
}

/** Bakes scale and bottom-centre placement into the vertices of every mesh; returns what it did. */
export async function placeOnGround(document: Document, size: ProductSize | undefined, tolerance: number): Promise<Placement> {
  const scene = document.getRoot().getDefaultScene() ?? document.getRoot().listScenes()[0];
  if (!scene) throw new Error('the GLB has no scene');
  const before = getBounds(scene);
  const dimensions = before.max.map((max, axis) => max - before.min[axis]!) as Vec3;
  const { factor, mismatch } = fitToSize(dimensions, size, tolerance);
  const centreX = (before.min[0] + before.max[0]) / 2;
  const centreZ = (before.min[2] + before.max[2]) / 2;
  const product = document
    .createNode('product')
    .setScale([factor, factor, factor])
    .setTranslation([-centreX * factor, -before.min[1] * factor, -centreZ * factor]);
  for (const child of scene.listChildren()) {
    scene.removeChild(child);
    product.addChild(child);
  }
  scene.addChild(product);
  // Baked into the vertices, so a channel's checker reading accessor bounds sees metres, and Draco or
  // meshopt quantise the final geometry.
  await document.transform(flatten());
  for (const node of document.getRoot().listNodes()) {
    if (node.getMesh()) clearNodeTransform(node);
  }
  const after = getBounds(scene);
  return {
    scale: size ? 'real-world' : 'unit-size',
    factor,
    dimensions: after.max.map((max, axis) => round(max - after.min[axis]!)) as Vec3,
    ...(mismatch ? { proportionMismatch: mismatch } : {}),
  };
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
