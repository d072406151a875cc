// Mesh defects: loose parts, holes and degenerate triangles. Vertices are welded by position first: a
// GLB splits vertices along UV seams and hard edges, which are not holes.
import type { Triangles } from './glb-model';

/** Vertices closer than this share of the bounding-box diagonal are one vertex. */
export const WELD_SHARE = 1e-5;
/** A triangle whose area is below this share of the squared diagonal has no area. */
export const DEGENERATE_AREA_SHARE = 1e-10;

export interface MeshDefects {
  triangles: number;
  vertices: number;
  components: number;
  floaterShare: number;
  boundaryEdges: number;
  boundaryEdgeShare: number;
  /** Total length of the open boundary edges over the square root of the surface area: holes measured
   * against the model's size, the same whatever the triangle count (a round hole of radius r in a
   * surface of area A adds 2 pi r / sqrt(A)). */
  boundaryLengthRatio: number;
  degenerateTriangles: number;
  degenerateShare: number;
  /** Bounding box extent x, y, z (glTF: y up). */
  extent: [number, number, number];
}

export function meshDefects({ positions, indices }: Triangles): MeshDefects {
  const vertexCount = positions.length / 3;
  const triangleCount = Math.floor(indices.length / 3);
  const low = [Infinity, Infinity, Infinity], high = [-Infinity, -Infinity, -Infinity];
  for (const index of indices) {
    for (let c = 0; c < 3; c++) {
      const value = positions[index * 3 + c]!;
      if (value < low[c]!) low[c] = value;
      if (value > high[c]!) high[c] = value;
    }
  }
  const extent = triangleCount ? ([0, 1, 2].map((c) => high[c]! - low[c]!) as [number, number, number]) : ([0, 0, 0] as [number, number, number]);
  const diagonal = Math.hypot(...extent) || 1;

  // Weld: quantise positions onto a grid of WELD_SHARE * diagonal, relative to the box's low corner, so
  // each axis has at most 1 / WELD_SHARE + 1 cells and the three fit in one exact integer key (< 2^53).
  const step = WELD_SHARE * diagonal;
  const cells = Math.ceil(1 / WELD_SHARE) + 2;
  const welded = new Uint32Array(vertexCount);
  const weldedFirst: number[] = []; // a source vertex of each welded one, for its position
  const ids = new Map<number, number>();
  for (let v = 0; v < vertexCount; v++) {
    const q = (c: number) => Math.min(cells - 1, Math.max(0, Math.round((positions[v * 3 + c]! - (Number.isFinite(low[c]!) ? low[c]! : 0)) / step)));
    const key = (q(0) * cells + q(1)) * cells + q(2);
    let id = ids.get(key);
    if (id === undefined) {
      ids.set(key, (id = ids.size));
      weldedFirst.push(v);
    }
    welded[v] = id;
  }
  const weldedCount = ids.size;

  const parent = new Uint32Array(weldedCount).map((_, i) => i);
  const find = (v: number): number => {
    while (parent[v] !== v) v = parent[v] = parent[parent[v]!]!;
    return v;
  };
  const edgeUses = new Map<number, number>();
  const edgeLength = new Map<number, number>();
  const minArea = DEGENERATE_AREA_SHARE * diagonal * diagonal;
  let degenerate = 0;
  let surfaceArea = 0;
  for (let t = 0; t < triangleCount; t++) {
    const [ia, ib, ic] = [indices[t * 3]!, indices[t * 3 + 1]!, indices[t * 3 + 2]!];
    const a = welded[ia]!, b = welded[ib]!, c = welded[ic]!;
    const area = triangleArea(positions, ia, ib, ic);
    if (a === b || b === c || a === c || area < minArea) {
      degenerate++;
      continue;
    }
    surfaceArea += area;
    for (const [p, q] of [[a, b], [b, c], [c, a]] as const) {
      const key = Math.min(p, q) * weldedCount + Math.max(p, q);
      const uses = (edgeUses.get(key) ?? 0) + 1;
      edgeUses.set(key, uses);
      if (uses === 1) edgeLength.set(key, distance(positions, weldedFirst[p]!, weldedFirst[q]!));
      const rootP = find(p), rootQ = find(q);
      if (rootP !== rootQ) parent[Math.max(rootP, rootQ)] = Math.min(rootP, rootQ);
    }
  }
  let boundaryEdges = 0, boundaryLength = 0;
  for (const [key, uses] of edgeUses) {
    if (uses !== 1) continue;
    boundaryEdges++;
    boundaryLength += edgeLength.get(key)!;
  }

  const trianglesPerComponent = new Map<number, number>();
  for (let t = 0; t < triangleCount; t++) {
    const root = find(welded[indices[t * 3]!]!);
    trianglesPerComponent.set(root, (trianglesPerComponent.get(root) ?? 0) + 1);
  }
  const largest = Math.max(0, ...trianglesPerComponent.values());
  return {
    triangles: triangleCount,
    vertices: weldedCount,
    components: trianglesPerComponent.size,
    floaterShare: triangleCount ? (triangleCount - largest) / triangleCount : 0,
    boundaryEdges,
    boundaryEdgeShare: edgeUses.size ? boundaryEdges / edgeUses.size : 0,
    boundaryLengthRatio: surfaceArea > 0 ? boundaryLength / Math.sqrt(surfaceArea) : 0,
    degenerateTriangles: degenerate,
    degenerateShare: triangleCount ? degenerate / triangleCount : 0,
    extent,
  };
}

function distance(positions: Float32Array, a: number, b: number): number {
  return Math.hypot(positions[a * 3]! - positions[b * 3]!, positions[a * 3 + 1]! - positions[b * 3 + 1]!, positions[a * 3 + 2]! - positions[b * 3 + 2]!);
}

function triangleArea(positions: Float32Array, a: number, b: number, c: number): number {
  const ux = positions[b * 3]! - positions[a * 3]!, uy = positions[b * 3 + 1]! - positions[a * 3 + 1]!, uz = positions[b * 3 + 2]! - positions[a * 3 + 2]!;
  const vx = positions[c * 3]! - positions[a * 3]!, vy = positions[c * 3 + 1]! - positions[a * 3 + 1]!, vz = positions[c * 3 + 2]! - positions[a * 3 + 2]!;
  return 0.5 * Math.hypot(uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx);
}
