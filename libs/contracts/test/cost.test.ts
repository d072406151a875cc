import { describe, expect, it } from 'vitest';
import {
  A100_EXTRACT_SECONDS,
  A100_GENERATE_SECONDS,
  addUsage,
  describeUsage,
  formatSeconds,
  formatUsd,
  builtInPresets,
  GPU_PRICE_USD_PER_SECOND,
  noUsage,
  usageOf,
  usageOfTiming,
  type Usage,
} from '../src';

const A100_80 = GPU_PRICE_USD_PER_SECOND['A100-80GB']!;

describe('usageOf', () => {
  it('prices measured seconds on a real GPU at that GPU’s rate', () => {
    expect(usageOf(20, 'A100-80GB', 999)).toEqual({ gpuSeconds: 20, estimatedCostUsd: 20 * A100_80, costBasis: 'measured' });
    const h100 = usageOf(10, 'H100', 30);
    expect(h100.costBasis).toBe('measured');
    expect(h100.estimatedCostUsd).toBeCloseTo(10 * GPU_PRICE_USD_PER_SECOND.H100!, 12);
    // A100-40GB is cheaper than A100-80GB: the two prefixes must not be confused.
    expect(usageOf(10, 'A100-40GB', 30).estimatedCostUsd).toBeCloseTo(10 * GPU_PRICE_USD_PER_SECOND['A100-40GB']!, 12);
    expect(usageOf(10, 'A100-40GB', 30).estimatedCostUsd).toBeLessThan(usageOf(10, 'A100-80GB', 30).estimatedCostUsd);
  });

  it('uses the seed table (priced on an A100-80GB) for the CPU backend and for simulated GPUs: GPU seconds and dollars from the same A100 figures, the real seconds kept apart', () => {
    for (const device of ['cpu', 'A100-80GB (simulated)']) {
      const usage = usageOf(3.2, device, 30);
      expect(usage, device).toEqual({ gpuSeconds: 30, estimatedCostUsd: 0.02082, costBasis: 'seed-table', backendSeconds: 3.2, backend: device });
      expect(usage.estimatedCostUsd).toBeCloseTo(usage.gpuSeconds * A100_80, 9);
    }
  });

  it('a GPU without a known price falls back to the seed table', () => {
    expect(usageOf(5, 'T4', 12).costBasis).toBe('seed-table');
    expect(usageOf(5, 'T4', 12).estimatedCostUsd).toBeCloseTo(12 * A100_80, 12);
  });

  it('gives the seed’s numbers: a 1024_cascade generation is about $0.02, a Quality GLB $0.02-0.04', () => {
    const generate = usageOf(1, 'cpu', A100_GENERATE_SECONDS['1024_cascade']);
    expect(generate.estimatedCostUsd).toBeGreaterThan(0.015);
    expect(generate.estimatedCostUsd).toBeLessThan(0.025);
    const quality = usageOf(1, 'cpu', A100_EXTRACT_SECONDS[builtInPresets.quality.texture_size]!);
    expect(quality.estimatedCostUsd).toBeGreaterThan(0.02);
    expect(quality.estimatedCostUsd).toBeLessThan(0.04);
  });

  it('the seed table orders work by size: bigger pipelines and textures take longer', () => {
    const g = A100_GENERATE_SECONDS;
    expect(g['512']).toBeLessThan(g['1024']);
    expect(g['1024']).toBeLessThanOrEqual(g['1024_cascade']);
    expect(g['1024_cascade']).toBeLessThan(g['1536_cascade']);
    const [fast, balanced, quality] = (['fast', 'balanced', 'quality'] as const).map(
      (name) => A100_EXTRACT_SECONDS[builtInPresets[name].texture_size],
    );
    expect(fast).toBeDefined();
    expect(fast!).toBeLessThan(balanced!);
    expect(balanced!).toBeLessThan(quality!);
  });
});

describe('usageOfTiming', () => {
  it('on a GPU, counts the model load of a cold call as measured GPU seconds too', () => {
    const cold = usageOfTiming({ compute_seconds: 30, device: 'A100-80GB', cold_start: true, load_seconds: 120 }, 30);
    expect(cold).toEqual({ gpuSeconds: 150, estimatedCostUsd: 150 * A100_80, costBasis: 'measured' });
    const warm = usageOfTiming({ compute_seconds: 30, device: 'A100-80GB', cold_start: false, load_seconds: null }, 30);
    expect(warm.gpuSeconds).toBe(30);
  });

  it('on the CPU backend, keeps the seed table and the measured compute only', () => {
    const local = usageOfTiming({ compute_seconds: 2, device: 'cpu', cold_start: true, load_seconds: 0.25 }, 30);
    expect(local).toEqual(usageOf(2, 'cpu', 30));
  });
});

describe('addUsage', () => {
  const measured: Usage = { gpuSeconds: 10, estimatedCostUsd: 0.01, costBasis: 'measured' };
  const table: Usage = { gpuSeconds: 2, estimatedCostUsd: 0.02, costBasis: 'seed-table' };

  it('adds seconds and cost', () => {
    const sum = addUsage(measured, table);
    expect(sum.gpuSeconds).toBe(12);
    expect(sum.estimatedCostUsd).toBeCloseTo(0.03, 12);
  });

  it('stays "measured" only when both parts were measured', () => {
    expect(addUsage(measured, measured).costBasis).toBe('measured');
    expect(addUsage(measured, table).costBasis).toBe('seed-table');
    expect(addUsage(table, measured).costBasis).toBe('seed-table');
    expect(addUsage(table, table).costBasis).toBe('seed-table');
  });

  it('noUsage is the starting point of a sum and does not taint its basis', () => {
    expect(addUsage(noUsage, measured)).toEqual(measured);
    expect(addUsage(noUsage, table)).toEqual(table);
    const total = [measured, measured, table].reduce(addUsage, noUsage);
    expect(total).toEqual({ gpuSeconds: 22, estimatedCostUsd: expect.closeTo(0.04, 12), costBasis: 'seed-table' });
  });
});

describe('one way to say GPU work and its cost', () => {
  it('names the backend that ran apart from the A100 figures the price comes from', () => {
    const ran = [usageOf(3.1, 'cpu', 300), usageOf(4.3, 'cpu', 385)].reduce(addUsage, noUsage);
    expect(ran).toMatchObject({ gpuSeconds: 685, backendSeconds: 7.4, backend: 'cpu', costBasis: 'seed-table' });
    expect(describeUsage(ran)).toBe('GPU work on an A100 ≈ 685 s ≈ $0.48 (ran on the local CPU backend in 7.4 s)');
  });

  it('says a run with no GPU work cost $0.00 and why', () => {
    expect(describeUsage(noUsage, 'every output was reused from an earlier run')).toBe('no GPU work: $0.00 (every output was reused from an earlier run)');
    // A warm-up that found the model loaded adds nothing, not even its basis.
    expect(addUsage(noUsage, usageOf(0, 'cpu', 0))).toEqual(noUsage);
  });

  it('measured GPU time is said as measured', () => {
    expect(describeUsage(usageOf(612.34, 'A100-80GB', 0))).toBe('GPU work 612 s ≈ $0.42 (measured)');
  });

  it('rounds for people (cents, tenths of a second), never to a misleading zero; keeps sums free of float noise', () => {
    expect(formatUsd(0.4754)).toBe('$0.48');
    expect(formatUsd(0.003)).toBe('< $0.01');
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatSeconds(7.44)).toBe('7.4 s');
    expect(formatSeconds(684.6)).toBe('685 s');
    const sum = [0.1, 0.2, 1.2764].map((seconds) => usageOf(seconds, 'A100-80GB', 0)).reduce(addUsage, noUsage);
    expect(sum.gpuSeconds).toBe(1.5764);
    expect(String(sum.gpuSeconds)).toBe('1.5764');
  });
});
