// The quality checks' result as it goes into a manifest (libs/quality computes it; the manifest, the report
// and the review queue carry it). Every check scores 0..1 (1 = no sign of the defect) and carries the numbers it was computed from.
import { z } from 'zod';

const unit = z.number().min(0).max(1);
const count = z.number().int().nonnegative();

export const SilhouetteCheck = z.object({
  name: z.literal('silhouette'),
  score: unit,
  /** Intersection over union of the photo's foreground and the model's outline in the best-matching preview frame. */
  iou: unit,
  bestFrame: count,
  framesCompared: count,
  maskSource: z.enum(['alpha', 'plain_border']),
});
export type SilhouetteCheck = z.infer<typeof SilhouetteCheck>;

export const BackgroundCheck = z.object({
  name: z.literal('background'),
  score: unit,
  maskSource: z.enum(['alpha', 'plain_border', 'busy_border']),
  /** Share of the photo's border pixels that differ from its median border colour (0 with an alpha channel). */
  busyBorderShare: unit,
});
export type BackgroundCheck = z.infer<typeof BackgroundCheck>;

export const TextureCheck = z.object({
  name: z.literal('texture'),
  score: unit,
  /** Texels the mesh's UVs cover, as a share of the base-colour texture. */
  coveredShare: unit,
  /** Share of covered texels that are near-black (max channel <= NEAR_BLACK_MAX). */
  nearBlackShare: unit,
  /** Share of covered texture blocks with (almost) no variance, any colour. */
  flatBlockShare: unit,
  /** Share of covered texture blocks that are both near-black and flat: the "black spots". */
  blackSpotShare: unit,
  textureSize: z.tuple([count, count]),
});
export type TextureCheck = z.infer<typeof TextureCheck>;

export const MeshCheck = z.object({
  name: z.literal('mesh'),
  score: unit,
  triangles: count,
  vertices: count,
  components: count,
  /** Triangles outside the largest connected component ("floaters"), as a share of all. */
  floaterShare: unit,
  /** Edges used by one triangle only, as a share of all edges: holes and cracks. */
  boundaryEdges: count,
  boundaryEdgeShare: unit,
  /** Open boundary length over the square root of the surface area (resolution-independent hole size). */
  boundaryLengthRatio: z.number().nonnegative(),
  degenerateTriangles: count,
  degenerateShare: unit,
  /** Bounding box x, y, z in model units (glTF: y up; TRELLIS.2 models fit a unit cube). */
  extent: z.tuple([z.number().nonnegative(), z.number().nonnegative(), z.number().nonnegative()]),
});
export type MeshCheck = z.infer<typeof MeshCheck>;

const positiveTriple = z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]);

export const SizeCheck = z.object({
  name: z.literal('size'),
  score: unit,
  /** Catalog width, height, depth (any unit) and the model's bounding box x, y, z (glTF: y up). */
  given: positiveTriple,
  model: positiveTriple,
  /** Worst per-axis |log| ratio of the two triples' proportions; the model may be turned a quarter about y. */
  worstLogRatio: z.number().nonnegative(),
  depthSwapped: z.boolean(),
});
export type SizeCheck = z.infer<typeof SizeCheck>;

export const CheckName = z.enum(['silhouette', 'background', 'texture', 'mesh', 'size']);
export type CheckName = z.infer<typeof CheckName>;

export const QualityReport = z.object({
  version: z.literal(1),
  /** The worst applicable check's score. */
  score: unit,
  /** score < threshold: a person should look at this model before it is published. */
  flagged: z.boolean(),
  threshold: unit,
  /** Checks scoring below the threshold, worst first. */
  failing: z.array(CheckName),
  checks: z.object({
    silhouette: SilhouetteCheck.nullable(),
    background: BackgroundCheck,
    texture: TextureCheck.nullable(),
    mesh: MeshCheck,
    size: SizeCheck.nullable(),
  }),
});
export type QualityReport = z.infer<typeof QualityReport>;

export const GivenSize = z.object({ width: z.number().positive(), height: z.number().positive(), depth: z.number().positive() });
export type GivenSize = z.infer<typeof GivenSize>;
