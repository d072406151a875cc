// Channel profiles: what a sales channel's viewers read and how big a product model may be there
// (/work/shared/reference/CHANNELS-AND-PEERS.md has the sources), the product's real-world size, and
// what the finishing step reports per channel file. Everything here lands in manifests, reports and
// Temporal history: small, no model bytes.
import { z } from 'zod';
import { PresetName } from './preset-name';

/** A channel name doubles as the channel file's name (`channels/<channel>.glb`): file-name safe. */
export const ChannelName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'a channel name is 1-32 lowercase letters, digits, "-" or "_"');
export type ChannelName = z.infer<typeof ChannelName>;

export const channelTextureSizes = [256, 512, 1024, 2048, 4096] as const;
/** Smallest texture and triangle count the byte-budget step-down goes to before giving up. */
export const MIN_STEP_DOWN_TEXTURE_SIZE = 256;
export const MIN_STEP_DOWN_TRIANGLES = 5_000;

export const ChannelProfile = z
  .object({
    /** The preset whose GLB this channel file is made from. */
    source_preset: PresetName,
    /** At most this many triangles (the source is simplified with meshoptimizer down to it). */
    max_triangles: z.number().int().min(MIN_STEP_DOWN_TRIANGLES).max(16_777_216),
    /** Longest texture side in pixels (textures are only ever made smaller). */
    texture_size: z.union(channelTextureSizes.map((size) => z.literal(size)) as [z.ZodLiteral<256>, ...z.ZodLiteral<number>[]]),
    /** WebP needs EXT_texture_webp in the viewer; JPEG is read everywhere (textures with alpha stay PNG). */
    texture_format: z.enum(['webp', 'jpeg', 'png']),
    /** Draco (KHR_draco_mesh_compression), meshopt (EXT_meshopt_compression), or none where viewers lack decoders. */
    compression: z.enum(['draco', 'meshopt', 'none']),
    /** The whole file, in bytes; over it the file steps down (texture size, then triangles) until it fits. */
    max_bytes: z.number().int().min(10_000),
    /** The channel demands real-world scale: without size columns the report flags the SKU. */
    requires_real_world_size: z.boolean().default(false),
  })
  .strict();
export type ChannelProfile = z.infer<typeof ChannelProfile>;
export type ChannelProfileInput = z.input<typeof ChannelProfile>;

const MB = 1_000_000;
/**
 * Built-ins, from the reference table:
 * - web: Khronos 3D Commerce guidelines (< 5 MB, <= 100K triangles, 2K textures); model-viewer and three.js
 *   decode meshopt and WebP.
 * - shopify: over 15 MB Shopify re-optimises the file itself; JPEG textures as its checklist asks; no
 *   geometry compression, because Shopify converts the GLB to USDZ for Apple Quick Look.
 * - google: 10 MB advised (15 MB max), textures up to 2K; Scene Viewer decodes Draco but not KTX2.
 * - amazon: < 150K triangles, real-world scale required; no byte limit published, 15 MB kept as a bound.
 */
export const builtInChannels: Record<'web' | 'shopify' | 'google' | 'amazon', ChannelProfile> = {
  web: ChannelProfile.parse({
    source_preset: 'balanced', max_triangles: 100_000, texture_size: 2048, texture_format: 'webp',
    compression: 'meshopt', max_bytes: 5 * MB,
  }),
  shopify: ChannelProfile.parse({
    source_preset: 'balanced', max_triangles: 150_000, texture_size: 2048, texture_format: 'jpeg',
    compression: 'none', max_bytes: 15 * MB,
  }),
  google: ChannelProfile.parse({
    source_preset: 'balanced', max_triangles: 300_000, texture_size: 2048, texture_format: 'jpeg',
    compression: 'draco', max_bytes: 10 * MB,
  }),
  amazon: ChannelProfile.parse({
    source_preset: 'balanced', max_triangles: 149_000, texture_size: 2048, texture_format: 'jpeg',
    compression: 'none', max_bytes: 15 * MB, requires_real_world_size: true,
  }),
};

export interface NamedChannel {
  name: ChannelName;
  profile: ChannelProfile;
}

/** Resolves channel names against the built-ins and the presets file's `channels`; unknown names are an error. */
export function resolveChannels(names: readonly string[], custom: Record<string, ChannelProfile> = {}): NamedChannel[] {
  const known: Record<string, ChannelProfile> = { ...builtInChannels, ...custom };
  const unknown = names.filter((name) => !Object.hasOwn(known, name));
  if (unknown.length > 0) {
    throw new Error(`unknown channel ${unknown.map((n) => `"${n}"`).join(', ')}; known: ${Object.keys(known).join(', ')}`);
  }
  return [...new Set(names)].map((name) => ({ name: ChannelName.parse(name), profile: known[name]! }));
}

export const Channel = z.object({ name: ChannelName, profile: ChannelProfile });
export type Channel = z.infer<typeof Channel>;

export const lengthUnits = ['mm', 'cm', 'm', 'in'] as const;
export const LengthUnit = z.enum(lengthUnits);
export type LengthUnit = z.infer<typeof LengthUnit>;
export const METRES_PER_UNIT: Record<LengthUnit, number> = { mm: 0.001, cm: 0.01, m: 1, in: 0.0254 };

/**
 * A product's real-world size as the catalog gives it: any of width (x), height (y, up) and depth (z,
 * front to back), in one unit. At least one dimension.
 */
export const ProductSize = z
  .object({
    width: z.number().positive().optional(),
    height: z.number().positive().optional(),
    depth: z.number().positive().optional(),
    unit: LengthUnit,
  })
  .strict()
  .refine((size) => size.width !== undefined || size.height !== undefined || size.depth !== undefined, {
    message: 'give at least one of width, height, depth',
  });
export type ProductSize = z.infer<typeof ProductSize>;

/** Relative disagreement between the given size's proportions and the model's above which a SKU is flagged. */
export const DEFAULT_PROPORTION_TOLERANCE = 0.15;

/** The Khronos validator's verdict on one file. */
export const ValidatorVerdict = z.object({
  errors: z.number().int().min(0),
  warnings: z.number().int().min(0),
  /** The first few messages (code, pointer, text), for the report. */
  messages: z.array(z.string()).max(10),
});
export type ValidatorVerdict = z.infer<typeof ValidatorVerdict>;

/** How the model was scaled and placed. */
export const Placement = z.object({
  /** `real-world`: scaled to the given size (metres); `unit-size`: no size given, TRELLIS.2's unit cube kept. */
  scale: z.enum(['real-world', 'unit-size']),
  factor: z.number().positive(),
  /** Bounding box of the delivered file in metres (glTF units): x, y (up), z (front). */
  dimensions: z.tuple([z.number(), z.number(), z.number()]),
  /** Set when the given size's proportions differ from the model's by more than the tolerance. */
  proportionMismatch: z.string().optional(),
});
export type Placement = z.infer<typeof Placement>;

/** One channel file (or why there is none), as the manifest and report.csv carry it. */
export const ChannelFileReport = z.object({
  channel: ChannelName,
  sourcePreset: PresetName,
  delivered: z.boolean(),
  /** Why the file was not delivered (validator errors, budget not met, no source GLB). */
  reason: z.string().optional(),
  /** `channels/<channel>.glb`, relative to the asset folder, when delivered. */
  file: z.string().optional(),
  bytes: z.number().int().min(0),
  sha256: z.string().optional(),
  triangles: z.number().int().min(0),
  /** Longest side of each texture in the file. */
  textureSizes: z.array(z.number().int().min(0)),
  compression: z.enum(['draco', 'meshopt', 'none']),
  maxBytes: z.number().int(),
  maxTriangles: z.number().int(),
  budgetMet: z.boolean(),
  /** What the byte-budget step-down did, in order ("texture 2048 -> 1024", "triangles 100000 -> 70000"). */
  stepDowns: z.array(z.string()),
  validator: ValidatorVerdict,
  placement: Placement.optional(),
  reused: z.boolean(),
});
export type ChannelFileReport = z.infer<typeof ChannelFileReport>;
