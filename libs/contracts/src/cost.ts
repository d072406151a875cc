// GPU-time and cost estimates. Prices: Modal's published per-second GPU rates; timings: the seed's A100
// table (UPSTREAM-FACTS). Measured seconds are used when the work ran on a real GPU; on the local CPU
// backend the seed's table says what the same work would cost on an A100-80GB.
import { z } from 'zod';
import type { PipelineType } from './pipeline';

export const GPU_PRICE_USD_PER_SECOND: Record<string, number> = {
  'A100-80GB': 0.000694,
  'A100-40GB': 0.000583,
  H100: 0.001097,
  H200: 0.001261,
};
const REFERENCE_GPU = 'A100-80GB';

/** Warm A100-80GB seconds per generation (midpoints of the seed's ranges). */
export const A100_GENERATE_SECONDS: Record<PipelineType, number> = {
  '512': 10,
  '1024': 25,
  '1024_cascade': 30,
  '1536_cascade': 90,
};
/** Warm A100-80GB seconds per GLB extraction, by texture size (fast ~15 s ... quality ~45 s). */
export const A100_EXTRACT_SECONDS: Record<number, number> = { 512: 12, 1024: 15, 2048: 30, 4096: 45 };
export const A100_COLD_START_SECONDS = 135;

/** Service compute seconds and what they cost (or would cost on an A100-80GB, for the local backend). */
export const Usage = z.object({
  gpuSeconds: z.number().min(0),
  estimatedCostUsd: z.number().min(0),
  costBasis: z.enum(['measured', 'seed-table']),
});
export type Usage = z.infer<typeof Usage>;

function priceOf(device: string): number | undefined {
  const name = Object.keys(GPU_PRICE_USD_PER_SECOND).find((gpu) => device.startsWith(gpu));
  return name === undefined ? undefined : GPU_PRICE_USD_PER_SECOND[name];
}

/**
 * Usage of one service call. `device` comes from the service's server_timing ("A100-80GB", "cpu",
 * "A100-80GB (simulated)"); `tableSeconds` is the seed's A100 time for the same work.
 */
export function usageOf(computeSeconds: number, device: string, tableSeconds: number): Usage {
  const price = device.includes('simulated') ? undefined : priceOf(device);
  if (price !== undefined) {
    return { gpuSeconds: computeSeconds, estimatedCostUsd: computeSeconds * price, costBasis: 'measured' };
  }
  return {
    gpuSeconds: computeSeconds,
    estimatedCostUsd: tableSeconds * GPU_PRICE_USD_PER_SECOND[REFERENCE_GPU]!,
    costBasis: 'seed-table',
  };
}

/** The fields of a service call's server_timing that usage depends on. */
export interface TimingForUsage {
  compute_seconds: number;
  device: string;
  cold_start: boolean;
  load_seconds?: number | null;
}

/**
 * Usage of one service call from its server_timing. On a priced GPU the measured seconds are the call's
 * compute plus, when this very call loaded the model (`cold_start`), the load: the container was paid for
 * both. Elsewhere (CPU, simulated) the seed table, as in `usageOf`.
 */
export function usageOfTiming(timing: TimingForUsage, tableSeconds: number): Usage {
  const load = timing.cold_start ? (timing.load_seconds ?? 0) : 0;
  const onGpu = usageOf(timing.compute_seconds + load, timing.device, tableSeconds);
  return onGpu.costBasis === 'measured' ? onGpu : usageOf(timing.compute_seconds, timing.device, tableSeconds);
}

export function addUsage(a: Usage, b: Usage): Usage {
  return {
    gpuSeconds: a.gpuSeconds + b.gpuSeconds,
    estimatedCostUsd: a.estimatedCostUsd + b.estimatedCostUsd,
    costBasis: a.costBasis === 'measured' && b.costBasis === 'measured' ? 'measured' : 'seed-table',
  };
}

export const noUsage: Usage = { gpuSeconds: 0, estimatedCostUsd: 0, costBasis: 'measured' };

/**
 * What converting one asset should cost, from the seed's A100 table: one generation plus one extraction
 * per preset missing (texture size decides the time). Used by `trellis estimate` and `--max-cost`.
 */
export function estimatedAssetUsage(pipelineType: PipelineType, textureSizes: readonly number[], generate = true): Usage {
  const seconds =
    (generate ? A100_GENERATE_SECONDS[pipelineType] : 0) +
    textureSizes.reduce((sum, size) => sum + (A100_EXTRACT_SECONDS[size] ?? A100_EXTRACT_SECONDS[4096]!), 0);
  return { gpuSeconds: seconds, estimatedCostUsd: seconds * GPU_PRICE_USD_PER_SECOND[REFERENCE_GPU]!, costBasis: 'seed-table' };
}

/** One cold start (model load) as the seed table prices it. */
export const coldStartUsage: Usage = {
  gpuSeconds: A100_COLD_START_SECONDS,
  estimatedCostUsd: A100_COLD_START_SECONDS * GPU_PRICE_USD_PER_SECOND[REFERENCE_GPU]!,
  costBasis: 'seed-table',
};
