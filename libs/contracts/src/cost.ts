// GPU-time and cost: one basis for every number a person reads (see Usage), and one way to say it
// (describeUsage). GPU-time and cost estimates. Prices: Modal's published per-second GPU rates; timings: the seed's A100
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

/**
 * GPU work and what it costs, on one basis: `gpuSeconds` are the seconds the price is computed from.
 * On a priced GPU they are measured (`measured`); for work that ran on a backend without a GPU price (the
 * local CPU backend, a simulated GPU) they are what the same work takes on an A100-80GB by the seed's
 * timing table (`seed-table`), and the time it really took there is kept apart in `backendSeconds`.
 */
export const Usage = z.object({
  gpuSeconds: z.number().min(0),
  estimatedCostUsd: z.number().min(0),
  costBasis: z.enum(['measured', 'seed-table']),
  /** Seconds the work took on the backend that ran it, when that is not the priced GPU (e.g. "cpu"). */
  backendSeconds: z.number().min(0).optional(),
  /** That backend's device, as the service names it ("cpu", "A100-80GB (simulated)"). */
  backend: z.string().max(100).optional(),
});
export type Usage = z.infer<typeof Usage>;

/** The GPU the seed table (and so every estimate) prices work at. */
export const REFERENCE_GPU_NAME = 'A100';

/** Sums and products of binary floats leave noise (1.5763999999999998); micro-units keep every real digit. */
const clean = (value: number) => Math.round(value * 1e6) / 1e6;

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
    return { gpuSeconds: clean(computeSeconds), estimatedCostUsd: clean(computeSeconds * price), costBasis: 'measured' };
  }
  return {
    gpuSeconds: tableSeconds,
    estimatedCostUsd: clean(tableSeconds * GPU_PRICE_USD_PER_SECOND[REFERENCE_GPU]!),
    costBasis: 'seed-table',
    backendSeconds: clean(computeSeconds),
    backend: device.slice(0, 100),
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

/** A usage that did no work adds nothing, not even its basis: $0 of nothing is neither measured nor a table's. */
const didWork = (usage: Usage) => usage.gpuSeconds > 0 || usage.estimatedCostUsd > 0 || (usage.backendSeconds ?? 0) > 0;

export function addUsage(a: Usage, b: Usage): Usage {
  if (!didWork(b)) return a;
  if (!didWork(a)) return b;
  const backendSeconds = a.backendSeconds === undefined && b.backendSeconds === undefined ? undefined : clean((a.backendSeconds ?? 0) + (b.backendSeconds ?? 0));
  const backend = a.backend === undefined ? b.backend : b.backend === undefined || b.backend === a.backend ? a.backend : 'several backends';
  return {
    gpuSeconds: clean(a.gpuSeconds + b.gpuSeconds),
    estimatedCostUsd: clean(a.estimatedCostUsd + b.estimatedCostUsd),
    costBasis: a.costBasis === 'measured' && b.costBasis === 'measured' ? 'measured' : 'seed-table',
    ...(backendSeconds === undefined ? {} : { backendSeconds }),
    ...(backend === undefined ? {} : { backend }),
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
  return { gpuSeconds: seconds, estimatedCostUsd: clean(seconds * GPU_PRICE_USD_PER_SECOND[REFERENCE_GPU]!), costBasis: 'seed-table' };
}

/** One cold start (model load) as the seed table prices it. */
export const coldStartUsage: Usage = {
  gpuSeconds: A100_COLD_START_SECONDS,
  estimatedCostUsd: clean(A100_COLD_START_SECONDS * GPU_PRICE_USD_PER_SECOND[REFERENCE_GPU]!),
  costBasis: 'seed-table',
};

/** Dollars for people: cents ("$0.48"); a non-zero amount under a cent is "< $0.01", never "$0.00". */
export function formatUsd(usd: number): string {
  if (usd > 0 && usd < 0.005) return '< $0.01';
  return `$${usd.toFixed(2)}`;
}

/** Seconds for people: tenths ("7.4 s"), whole seconds from 100 s ("685 s"). */
export function formatSeconds(seconds: number): string {
  return seconds >= 100 ? `${Math.round(seconds)} s` : `${(Math.round(seconds * 10) / 10).toFixed(1)} s`;
}

const backendName = (device: string) => (device === 'cpu' ? 'the local CPU backend' : device);

/**
 * The one sentence every surface (CLI, report, estimate, dashboard) uses for GPU work and its cost, e.g.
 * "GPU work on an A100 ≈ 685 s ≈ $0.48 (ran on the local CPU backend in 7.4 s)", "GPU work 612 s ≈ $0.42
 * (measured)" or "no GPU work: $0.00 (every output was reused from an earlier run)".
 * `whyNone` says why a run did no GPU work ("every output was reused").
 */
export function describeUsage(usage: Usage, whyNone = 'nothing needed the GPU'): string {
  if (!didWork(usage)) return `no GPU work: $0.00 (${whyNone})`;
  if (usage.costBasis === 'measured') return `GPU work ${formatSeconds(usage.gpuSeconds)} ≈ ${formatUsd(usage.estimatedCostUsd)} (measured)`;
  const ran = usage.backendSeconds === undefined ? '' : ` (ran on ${backendName(usage.backend ?? 'another backend')} in ${formatSeconds(usage.backendSeconds)})`;
  return `GPU work on an ${REFERENCE_GPU_NAME} ≈ ${formatSeconds(usage.gpuSeconds)} ≈ ${formatUsd(usage.estimatedCostUsd)}${ran}`;
}
