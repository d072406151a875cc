import path from 'node:path';
import type { CatalogResult } from '@trellis/contracts';
import { describe, expect, it } from 'vitest';
import { checkServiceIfConfigured, exitCodeOf, parseConversionArgs, reportProblems } from '../src/commands/convert';
import { controlCommand, reportCommand, statusCommand } from '../src/commands/manage';
import { UsageError, type PreparedConversion } from '../src/conversion-input';
import { closedPort, rejectionOf } from './helpers';

const usageErrorOf = (run: () => unknown): UsageError => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('expected a UsageError');
};

describe('parseConversionArgs', () => {
  it('reads the catalog, --out and every option', () => {
    const parsed = parseConversionArgs([
      'spring.csv',
      '--out',
      'out',
      '--catalog-id',
      'spring',
      '--presets',
      'fast,quality',
      '--presets-file=presets.json',
      '--pipeline',
      '512',
      '--seed',
      '7',
      '--concurrency',
      '8',
      '--no-wait',
      '--json',
    ]);
    expect(parsed).toEqual({
      flags: {
        catalog: 'spring.csv',
        out: 'out',
        catalogId: 'spring',
        presets: 'fast,quality',
        presetsFile: 'presets.json',
        pipeline: '512',
        seed: '7',
        concurrency: '8',
      },
      wait: false,
      json: true,
    });
  });

  it('waits and prints text by default; options may come before the catalog', () => {
    const parsed = parseConversionArgs(['--out', 'o', 'c.csv']);
    expect(parsed.flags).toMatchObject({ catalog: 'c.csv', out: 'o', presets: undefined, seed: undefined });
    expect(parsed).toMatchObject({ wait: true, json: false });
  });

  it('needs --out, and exactly one catalog; the error shows the usage', () => {
    const noOut = usageErrorOf(() => parseConversionArgs(['c.csv']));
    expect(noOut.message).toMatch(/^--out DIR is required\n\ntrellis convert <catalog> --out DIR/);
    expect(usageErrorOf(() => parseConversionArgs(['--out', 'o'])).message).toMatch(/^give exactly one catalog\n\n/);
    expect(usageErrorOf(() => parseConversionArgs(['a.csv', 'b.csv', '--out', 'o'])).message).toMatch(/^give exactly one catalog/);
  });

  it('refuses unknown options and options without their value', () => {
    expect(() => parseConversionArgs(['c.csv', '--out', 'o', '--colour', 'red'])).toThrow(/Unknown option '--colour'/);
    expect(() => parseConversionArgs(['c.csv', '--out'])).toThrow(/'--out <value>' argument missing/);
  });
});

function prepared(problemCount: number, validRows: number): PreparedConversion {
  return {
    input: { catalogPath: '/data/spring.csv' } as PreparedConversion['input'],
    validRows,
    problems: Array.from({ length: problemCount }, (_, i) => ({ row: i + 1, sku: `S-${i + 1}`, field: 'seed', message: 'bad seed' })),
    rows: [],
  };
}

describe('reportProblems', () => {
  it('says nothing for a clean catalog', () => {
    const said: string[] = [];
    reportProblems(prepared(0, 3), (message) => said.push(message));
    expect(said).toEqual([]);
  });

  it('lists the first 20 problems and counts the rest', () => {
    const said: string[] = [];
    reportProblems(prepared(23, 5), (message) => said.push(message));
    expect(said[0]).toBe('23 row(s) of /data/spring.csv cannot be converted and will be listed in the report as invalid:');
    expect(said[1]).toBe('  row 1 (SKU S-1), field seed: bad seed');
    expect(said).toHaveLength(1 + 20 + 1);
    expect(said.at(-2)).toBe('  row 20 (SKU S-20), field seed: bad seed');
    expect(said.at(-1)).toBe('  ... and 3 more');
  });

  it('refuses to start when no row can be converted, after listing why', () => {
    const said: string[] = [];
    expect(() => reportProblems(prepared(2, 0), (message) => said.push(message))).toThrow(
      new UsageError('/data/spring.csv has no row that can be converted.'),
    );
    expect(said).toHaveLength(3);
  });
});

describe('exitCodeOf', () => {
  const result = (status: CatalogResult['status'], failed: number): CatalogResult => ({
    catalogId: 'spring',
    status,
    counts: { waiting: 0, running: 0, done: 2, reused: 0, failed, cancelled: 0 },
    usage: { gpuSeconds: 0, estimatedCostUsd: 0, costBasis: 'measured' },
    reportJsonPath: path.join('out', 'report.json'),
    reportCsvPath: path.join('out', 'report.csv'),
  });

  it('is 0 only for a completed run with no failures and no invalid rows (or when not waiting)', () => {
    expect(exitCodeOf(undefined, prepared(3, 1))).toBe(0);
    expect(exitCodeOf(result('completed', 0), prepared(0, 2))).toBe(0);
    expect(exitCodeOf(result('completed', 1), prepared(0, 2))).toBe(1);
    expect(exitCodeOf(result('completed', 0), prepared(1, 2))).toBe(1);
    expect(exitCodeOf(result('cancelled', 0), prepared(0, 2))).toBe(1);
  });
});

describe('status, pause, resume, cancel, report: argument checks (before any connection)', () => {
  it('need exactly one valid catalog id', async () => {
    for (const [run, usage] of [
      [() => statusCommand([]), 'trellis status <catalog-id>'],
      [() => statusCommand(['Spring_2026']), 'trellis status <catalog-id>'],
      [() => controlCommand('pause', ['a', 'b']), 'trellis pause <catalog-id>'],
      [() => controlCommand('resume', []), 'trellis resume <catalog-id>'],
      [() => controlCommand('cancel', ['../x']), 'trellis cancel <catalog-id>'],
      [() => reportCommand(['x_y']), 'trellis report <catalog-id>'],
    ] as const) {
      const error = await rejectionOf(run());
      expect(error).toBeInstanceOf(UsageError);
      // One line saying what is wrong, then the command's own help.
      expect(error.message).toMatch(new RegExp(`^give one catalog id\\n\\n${usage.replace(/[[\]]/g, '\\$&')}`));
    }
  });

  it('refuse unknown options (main turns these parse errors into usage errors)', async () => {
    const error = await rejectionOf(statusCommand(['spring', '--verbose']));
    expect(error.message).toMatch(/--verbose/);
    expect((error as NodeJS.ErrnoException).code).toBe('ERR_PARSE_ARGS_UNKNOWN_OPTION');
  });
});

describe('checkServiceIfConfigured', () => {
  it('does nothing when no service URL is configured for the CLI', async () => {
    await expect(checkServiceIfConfigured({})).resolves.toBeUndefined();
  });

  it('an unreachable service is a usage error naming its URL and what to do', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const error = await rejectionOf(
      checkServiceIfConfigured({ TRELLIS2_API_URL: url, TRELLIS2_MODAL_KEY: 'wk-test', TRELLIS2_MODAL_SECRET: 'ws-test' }),
    );
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toMatch(new RegExp(`^The TRELLIS\\.2 service at ${url} does not answer: `));
    expect(error.message).toContain('fix TRELLIS2_API_URL, or unset it here');
  });
});
