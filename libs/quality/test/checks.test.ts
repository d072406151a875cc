// The checks' pure functions on inputs small enough to know the answer by hand.
import { describe, expect, it } from 'vitest';
import {
  assessModel,
  GlbReadError,
  intersectionOverUnion,
  meshDefects,
  overallVerdict,
  photoForeground,
  PhotoDecodeError,
  PreviewDecodeError,
  rampScore,
  readGlbModel,
  readPreviewFrames,
  sizeMismatch,
  uvCoverage,
  type Pixels,
  type Triangles,
} from '../src';

/** A unit cube whose six faces have their own four vertices each, as a GLB with per-face normals has. */
function splitVertexCube(offset = 0): { positions: number[]; indices: number[] } {
  const faces = [
    [[0, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0]],
    [[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],
    [[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1]],
    [[0, 1, 0], [0, 1, 1], [1, 1, 1], [1, 1, 0]],
    [[0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0]],
    [[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 0, 1]],
  ];
  const positions: number[] = [];
  const indices: number[] = [];
  for (const face of faces) {
    const base = positions.length / 3;
    for (const corner of face) positions.push(corner[0]! + offset, corner[1]!, corner[2]!);
    indices.push(base, base + 1, base + 2, base, base + 2, base + 3);
  }
  return { positions, indices };
}

const triangles = (positions: number[], indices: number[]): Triangles => ({ positions: new Float32Array(positions), indices: new Uint32Array(indices) });

describe('meshDefects', () => {
  it('a closed cube with split vertices: one component, no holes, nothing degenerate', () => {
    const cube = splitVertexCube();
    expect(meshDefects(triangles(cube.positions, cube.indices))).toMatchObject({
      triangles: 12, vertices: 8, components: 1, boundaryEdges: 0, degenerateTriangles: 0, floaterShare: 0, extent: [1, 1, 1],
    });
  });

  it('a missing triangle opens three boundary edges; their length is measured against the surface', () => {
    const cube = splitVertexCube();
    const defects = meshDefects(triangles(cube.positions, cube.indices.slice(3)));
    expect(defects.boundaryEdges).toBe(3);
    expect(defects.boundaryLengthRatio).toBeCloseTo((2 + Math.SQRT2) / Math.sqrt(5.5), 5);
  });

  it('a loose second piece is a floater; a zero-area triangle is degenerate', () => {
    const cube = splitVertexCube();
    const far = splitVertexCube(5);
    const base = cube.positions.length / 3;
    const positions = [...cube.positions, ...far.positions, 0, 0, 0, 0.5, 0.5, 0.5, 1, 1, 1];
    const indices = [...cube.indices, ...far.indices.slice(0, 6).map((index) => index + base), base + 24, base + 25, base + 26];
    const defects = meshDefects(triangles(positions, indices));
    expect(defects.components).toBe(2); // the cube (with the collinear triangle on its corner) and the far face
    expect(defects.degenerateTriangles).toBe(1);
    expect(defects.floaterShare).toBeCloseTo(2 / 15, 9);
  });
});

describe('sizeMismatch', () => {
  it('only proportions count, and a quarter turn about the vertical is allowed', () => {
    expect(sizeMismatch([30, 60, 10], [0.3, 0.6, 0.1]).worstLogRatio).toBeCloseTo(0, 9);
    expect(sizeMismatch([30, 60, 10], [0.1, 0.6, 0.3])).toMatchObject({ depthSwapped: true });
    expect(sizeMismatch([30, 60, 10], [0.1, 0.6, 0.3]).worstLogRatio).toBeCloseTo(0, 9);
  });

  it('a model twice as tall as the catalog says is off by 2/3 ln 2', () => {
    expect(sizeMismatch([1, 1, 1], [1, 2, 1]).worstLogRatio).toBeCloseTo((2 / 3) * Math.LN2, 9);
  });
});

describe('outline IoU', () => {
  const size = 8;
  const column = (x: number) => Uint8Array.from({ length: size * size }, (_, i) => (i % size === x ? 1 : 0));

  it('a thin part one cell off: no overlap exactly, full overlap with a one-cell tolerance', () => {
    expect(intersectionOverUnion(column(3), column(4), size)).toBe(0);
    expect(intersectionOverUnion(column(3), column(4), size, 1)).toBe(1);
    expect(intersectionOverUnion(column(1), column(6), size, 1)).toBe(0);
  });

  it('plain IoU of half-overlapping masks', () => {
    const a = Uint8Array.from({ length: 4 }, (_, i) => (i < 2 ? 1 : 0));
    const b = Uint8Array.from({ length: 4 }, (_, i) => (i >= 1 && i < 3 ? 1 : 0));
    expect(intersectionOverUnion(a, b, 2)).toBeCloseTo(1 / 3, 9);
  });
});

describe('photoForeground', () => {
  const photo = (pixelAt: (x: number, y: number) => [number, number, number, number]): Pixels => {
    const data = new Uint8Array(20 * 20 * 4);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) data.set(pixelAt(x, y), (y * 20 + x) * 4);
    return { width: 20, height: 20, channels: 4, data };
  };
  const square = (x: number, y: number) => x >= 5 && x < 15 && y >= 5 && y < 15;
  const count = (mask: Uint8Array) => mask.reduce((sum, value) => sum + value, 0);

  it('trusts an alpha channel that marks something transparent', () => {
    const result = photoForeground(photo((x, y) => (square(x, y) ? [250, 250, 250, 255] : [250, 250, 250, 0])), 0.2);
    expect(result.source).toBe('alpha');
    expect(count(result.mask.data)).toBe(100);
  });

  it('otherwise takes the border colour as the background', () => {
    const result = photoForeground(photo((x, y) => (square(x, y) ? [200, 30, 30, 255] : [255, 255, 255, 255])), 0.2);
    expect(result).toMatchObject({ source: 'plain_border', busyBorderShare: 0 });
    expect(count(result.mask.data)).toBe(100);
  });

  it('says so when the border is busy (a background left in)', () => {
    const result = photoForeground(photo((x, y) => ((x + y) % 2 ? [0, 0, 0, 255] : [255, 255, 0, 255])), 0.2);
    expect(result.source).toBe('busy_border');
    expect(result.busyBorderShare).toBeGreaterThan(0.4);
  });
});

describe('uvCoverage', () => {
  it('the lower-left half of UV space covers half the texels', () => {
    const covered = uvCoverage(new Float32Array([0, 0, 0, 1, 1, 1]), 64, 64);
    const share = covered.reduce((sum, value) => sum + value, 0) / covered.length;
    expect(share).toBeGreaterThan(0.5);
    expect(share).toBeLessThan(0.56); // the diagonal's texels count for both sides
  });
});

describe('scores and the overall rule', () => {
  it('ramps run either way and clamp', () => {
    expect(rampScore(0.95, { fine: 0.9, defect: 0.7 })).toBe(1);
    expect(rampScore(0.8, { fine: 0.9, defect: 0.7 })).toBeCloseTo(0.5, 9);
    expect(rampScore(0.5, { fine: 0.05, defect: 0.35 })).toBe(0);
    expect(rampScore(Number.NaN, { fine: 0, defect: 1 })).toBe(0);
  });

  it('the worst applicable check decides; failing ones are listed worst first', () => {
    expect(overallVerdict({ silhouette: 0.9, texture: 0.2, mesh: 0.4, size: undefined })).toEqual({
      score: 0.2, flagged: true, threshold: 0.5, failing: ['texture', 'mesh'],
    });
    expect(overallVerdict({ mesh: 0.5 })).toMatchObject({ flagged: false, failing: [] });
  });
});

describe('bad bytes', () => {
  it('a preview that is not a video, a GLB that is not a GLB, a photo that is not an image: each its own error', async () => {
    await expect(readPreviewFrames(Buffer.from('not a video'))).rejects.toBeInstanceOf(PreviewDecodeError);
    await expect(readGlbModel(Buffer.from('not a glb'))).rejects.toBeInstanceOf(GlbReadError);
    await expect(assessModel({ photo: Buffer.from('not a photo'), previewMp4: Buffer.alloc(0), glb: Buffer.alloc(0) })).rejects.toBeInstanceOf(PhotoDecodeError);
  });
});
