import type { CatalogProgress } from '@trellis/contracts';
import { describe, expect, it } from 'vitest';
import { formatProgress, ProgressLine } from '../src/progress-view';

function progress(overrides: Partial<CatalogProgress> = {}, counts: Partial<CatalogProgress['counts']> = {}): CatalogProgress {
  return {
    catalogId: 'spring',
    status: 'running',
    totalRows: 10,
    invalidRows: 0,
    counts: { waiting: 0, running: 0, done: 0, reused: 0, failed: 0, cancelled: 0, ...counts },
    running: [],
    usage: { gpuSeconds: 0, estimatedCostUsd: 0, costBasis: 'seed-table' },
    runNumber: 1,
    ...overrides,
  };
}

const barOf = (line: string) => /^\[([#.]+)\]/.exec(line)![1]!;

describe('formatProgress', () => {
  it('draws done/total with counts, GPU time and cost', () => {
    const line = formatProgress(
      progress(
        { usage: { gpuSeconds: 123.456, estimatedCostUsd: 0.08567, costBasis: 'measured' } },
        { done: 3, reused: 1, failed: 1, running: 2, waiting: 3 },
      ),
    );
    expect(line).toBe(`[${'#'.repeat(14)}${'.'.repeat(14)}] 5/10 running | done 3 reused 1 failed 1 | GPU work 123 s ≈ $0.09 (measured)`);
  });

  it('says the local backend apart from the A100 figures the cost is priced by', () => {
    const usage = { gpuSeconds: 685, estimatedCostUsd: 0.47539, costBasis: 'seed-table' as const, backendSeconds: 7.4, backend: 'cpu' };
    expect(formatProgress(progress({ usage }, { done: 2 }))).toContain('| GPU work on an A100 ≈ 685 s ≈ $0.48 (ran on the local CPU backend in 7.4 s)');
  });

  it('once every row has finished, the catalog is finishing (writing its report), not running', () => {
    expect(formatProgress(progress({ totalRows: 6 }, { done: 5, failed: 1 }))).toMatch(/\] 6\/6 finishing \|/);
  });

  it('the bar is empty at the start, full at the end, and rounds in between', () => {
    expect(barOf(formatProgress(progress()))).toBe('.'.repeat(28));
    expect(barOf(formatProgress(progress({ status: 'completed' }, { done: 10 })))).toBe('#'.repeat(28));
    expect(barOf(formatProgress(progress({ totalRows: 3 }, { done: 1 })))).toBe(`${'#'.repeat(9)}${'.'.repeat(19)}`);
  });

  it('shows "?" and an empty bar before the total is known', () => {
    const line = formatProgress(progress({ totalRows: null }, { done: 2 }));
    expect(line).toMatch(/^\[\.{28}\] 2\/\? running \|/);
  });

  it('never overflows the bar when more rows are done than the (re-read) total', () => {
    const line = formatProgress(progress({ totalRows: 4 }, { done: 6 }));
    expect(barOf(line)).toBe('#'.repeat(28));
    expect(line).toContain(' 6/4 ');
  });

  it('mentions cancelled assets only when there are some', () => {
    expect(formatProgress(progress())).not.toContain('cancelled');
    expect(formatProgress(progress({ status: 'cancelling' }, { cancelled: 2, done: 1 }))).toContain(
      '3/10 cancelling | done 1 reused 0 failed 0 cancelled 2 |',
    );
  });

  it('lists up to three running assets with their stage, then "+N"', () => {
    const running = (count: number) =>
      Array.from({ length: count }, (_, i) => ({ sku: `SKU-${i + 1}`, stage: i % 2 ? ('extracting' as const) : ('generating' as const) }));
    expect(formatProgress(progress({ running: running(2) }))).toMatch(/ \| SKU-1 generating, SKU-2 extracting$/);
    expect(formatProgress(progress({ running: running(3) }))).toMatch(/ \| SKU-1 generating, SKU-2 extracting, SKU-3 generating$/);
    expect(formatProgress(progress({ running: running(5) }))).toMatch(/ \| SKU-1 generating, SKU-2 extracting, SKU-3 generating \+2$/);
    expect(formatProgress(progress({ running: [] }))).toMatch(/no GPU work: \$0\.00 \(none yet\)$/);
  });
});

class FakeStream {
  readonly writes: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns?: number,
  ) {}
  write(chunk: string): boolean {
    this.writes.push(chunk);
    return true;
  }
}
const lineOn = (stream: FakeStream) => new ProgressLine(stream as unknown as NodeJS.WriteStream, 0);

describe('ProgressLine', () => {
  it('piped into a log: plain lines, and only when the text changed', () => {
    const stream = new FakeStream(false);
    const line = lineOn(stream);
    line.update('a');
    line.update('a');
    line.update('b');
    line.update('b');
    line.update('a');
    line.finish();
    expect(stream.writes).toEqual(['a\n', 'b\n', 'a\n']);
  });

  it('on a terminal: redraws in place, cut to the terminal width', () => {
    const stream = new FakeStream(true, 10);
    const line = lineOn(stream);
    line.update('short');
    line.update('short');
    line.update('a much longer line');
    expect(stream.writes).toEqual(['\r\x1b[Kshort', '\r\x1b[Ka much lo']);
  });

  it('on a terminal: finish() moves below the line once; a later update draws again', () => {
    const stream = new FakeStream(true, 80);
    const line = lineOn(stream);
    line.finish();
    expect(stream.writes).toEqual([]); // nothing drawn, nothing to leave
    line.update('done');
    line.finish();
    line.finish();
    expect(stream.writes).toEqual(['\r\x1b[Kdone', '\n']);
    line.update('done');
    expect(stream.writes.at(-1)).toBe('\r\x1b[Kdone');
  });

  it('on a terminal: a pause reason is printed once, whole, above the bar', () => {
    const stream = new FakeStream(true, 20);
    const line = lineOn(stream);
    const reason = 'the service refused the credentials: fix TRELLIS2_MODAL_KEY';
    line.update(`[##..] 1/2\n${reason}`);
    line.update(`[###.] 1/2\n${reason}`);
    expect(stream.writes).toEqual([`\r\x1b[K${reason}\n`, '\r\x1b[K[##..] 1/2', '\r\x1b[K[###.] 1/2']);
  });

  it('assumes 120 columns when the terminal does not say', () => {
    const stream = new FakeStream(true);
    lineOn(stream).update('x'.repeat(200));
    expect(stream.writes).toEqual([`\r\x1b[K${'x'.repeat(119)}`]);
  });
});

describe('ProgressLine in a CI log', () => {
  it('prints at most one line per interval, and the last state on finish', () => {
    const stream = new FakeStream(false);
    let now = 0;
    const line = new ProgressLine(stream as unknown as NodeJS.WriteStream, 10_000, () => now);
    line.update('1/9');
    now = 2_000;
    line.update('2/9');
    now = 4_000;
    line.update('3/9');
    expect(stream.writes).toEqual(['1/9\n']);
    now = 11_000;
    line.update('4/9');
    line.finish();
    expect(stream.writes).toEqual(['1/9\n', '4/9\n']);
    now = 12_000;
    line.update('5/9');
    line.finish();
    expect(stream.writes).toEqual(['1/9\n', '4/9\n', '5/9\n']);
  });

  it('long or multi-script SKUs are cut to 24 characters; a pause reason follows the bar', () => {
    const text = formatProgress({
      catalogId: 'c',
      status: 'paused',
      totalRows: 2,
      invalidRows: 0,
      counts: { waiting: 1, running: 1, done: 0, reused: 0, failed: 0, cancelled: 0 },
      running: [{ sku: '椅子-オーク-ナチュラル-2024年モデル-特別版-XL', stage: 'generating' }],
      usage: { gpuSeconds: 0, estimatedCostUsd: 0, costBasis: 'seed-table' },
      runNumber: 1,
      pauseReason: 'paused by --max-cost: ...',
    });
    expect(text).toMatch(/\| 椅子-オーク-ナチュラル-2024年モデル-特…/);
    expect(text.split('\n')[1]).toBe('paused by --max-cost: ...');
  });
});
