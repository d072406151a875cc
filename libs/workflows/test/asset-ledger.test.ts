// The asset's ledger and the catalog window's review slots, alone: no Temporal, no service.
import { builtInPresets, noUsage, resolvePresets, type ConvertAssetInput, type OutputFile, type QualityReport } from '@trellis/contracts';
import { describe, expect, it } from 'vitest';
import { AssetLedger, MAX_REVIEW_REGENERATIONS } from '../src/asset-ledger';
import { CatalogWindow, initialRunState } from '../src/catalog-window';

const file = (name: string): OutputFile => ({ file: name, bytes: 1, sha256: 'a'.repeat(64), reused: false });
const usage = { gpuSeconds: 2, estimatedCostUsd: 0.1, costBasis: 'measured' as const };
const HOUR = 3600_000;
const T0 = Date.parse('2026-12-01T00:00:00.000Z');

function input(review?: ConvertAssetInput['review']): ConvertAssetInput {
  return {
    catalogId: 'spring',
    sku: 'MUG 1',
    row: 3,
    image: 'mug.png',
    catalogPath: '/c/catalog.csv',
    outDir: '/out',
    seed: 42,
    pipelineType: '512',
    // Listed dearest first: the cheapest is found by its settings, not its place.
    presets: resolvePresets(['quality', 'fast', 'balanced']),
    ...(review ? { review } : {}),
  };
}

function verdict(score: number): QualityReport {
  return {
    version: 1,
    score,
    flagged: score < 0.5,
    threshold: 0.5,
    failing: score < 0.5 ? ['texture'] : [],
    checks: {
      silhouette: null,
      texture: null,
      size: null,
      background: { name: 'background', score: 1, maskSource: 'alpha', busyBorderShare: 0 },
      mesh: { name: 'mesh', score: 1, triangles: 1, vertices: 3, components: 1, floaterShare: 0, boundaryEdges: 0, boundaryEdgeShare: 0, boundaryLengthRatio: 0, degenerateTriangles: 0, degenerateShare: 0, extent: [1, 1, 1] },
    },
  };
}

/** A ledger past prepare, generation and the cheapest preset's extraction. */
function generatedLedger(review: ConvertAssetInput['review'] = { mode: 'flagged', deadlineHours: 24, onDeadline: 'reject' }) {
  const ledger = new AssetLedger(input(review));
  ledger.preparedWith({ imageSha256: 'b'.repeat(64), generateHash: 'h', reusableGlbs: {}, inputCopy: 'input.png' });
  ledger.generated({ stateId: 'st_1', stateExpiresAt: null, preview: file('preview.mp4'), usage });
  ledger.extracted({ fast: file('fast.glb') }, usage);
  return ledger;
}

describe('AssetLedger', () => {
  it('makes the cheapest preset first: fewest faces, then the smallest texture', () => {
    expect(new AssetLedger(input()).cheapest.name).toBe('fast');
    const sameFaces = { ...input(), presets: [{ name: 'big', settings: { ...builtInPresets.fast, texture_size: 2048 as const } }, { name: 'small', settings: builtInPresets.fast }] };
    expect(new AssetLedger(sameFaces).cheapest.name).toBe('small');
  });

  it('adds up what each generation and extraction cost, and knows which presets are missing', () => {
    const ledger = generatedLedger();
    expect(ledger.usage).toEqual({ gpuSeconds: 4, estimatedCostUsd: 0.2, costBasis: 'measured' });
    expect([ledger.generateCalls, ledger.extractCalls]).toEqual([1, 1]);
    expect(ledger.missing().map((preset) => preset.name)).toEqual(['quality', 'balanced']);
    expect(ledger.everythingReused()).toBe(false);
  });

  it('regenerates a lost state once per attempt, and once more after a review wait (it may outlive the state)', () => {
    const ledger = generatedLedger();
    expect(ledger.stateLost()).toBe(true);
    expect(ledger.stateId).toBeUndefined();
    expect(ledger.stateLost()).toBe(false);
    ledger.startWaiting(T0);
    ledger.decide({ decision: 'approve', reviewer: 'ana' }, T0);
    ledger.takeDecision();
    expect(ledger.stateLost()).toBe(true);
    expect(ledger.stateLost()).toBe(false);
    ledger.nextAttempt(7);
    expect(ledger.stateLost()).toBe(true);
  });

  it('sends flagged models to review in flagged mode, every model in all mode, none when off', () => {
    const flagged = generatedLedger();
    flagged.checked(verdict(0.9));
    expect(flagged.needsReview()).toBe(false);
    flagged.checked(verdict(0.2));
    expect(flagged.needsReview()).toBe(true);
    // Checks that could not run leave the model to a person.
    flagged.checked(undefined);
    expect(flagged.needsReview()).toBe(true);
    const all = generatedLedger({ mode: 'all', deadlineHours: 1, onDeadline: 'approve' });
    all.checked(verdict(0.9));
    expect(all.needsReview()).toBe(true);
    const off = new AssetLedger(input());
    off.checked(verdict(0.1));
    expect(off.needsReview()).toBe(false);
  });

  it('accepts decisions only while waiting, and shows the queue entry with paths under the catalog folder', () => {
    const ledger = generatedLedger();
    ledger.checked(verdict(0.2));
    expect(ledger.refusal({ decision: 'approve', reviewer: 'ana' })).toMatch(/not waiting/);
    expect(ledger.reviewItem()).toBeUndefined();
    ledger.startWaiting(T0);
    expect(ledger.refusal({ decision: 'approve', reviewer: 'ana' })).toBeUndefined();
    expect(ledger.reviewItem()).toEqual({
      catalogId: 'spring',
      sku: 'MUG 1',
      row: 3,
      attempt: 0,
      seed: 42,
      score: 0.2,
      flagged: true,
      failing: ['texture'],
      preset: 'fast',
      files: { glb: expect.stringMatching(/^MUG-1-[0-9a-f]+\/fast\.glb$/), preview: expect.stringMatching(/\/preview\.mp4$/), image: expect.stringMatching(/\/input\.png$/) },
      waitingSince: '2026-12-01T00:00:00.000Z',
      deadline: '2026-12-02T00:00:00.000Z',
      onDeadline: 'reject',
      history: [],
    });
    const recorded = ledger.decide({ decision: 'approve', reviewer: 'ana' }, T0 + HOUR);
    expect(recorded).toEqual({ decision: 'approve', reviewer: 'ana', decidedAt: '2026-12-01T01:00:00.000Z', attempt: 0, seed: 42 });
    // A second decision on the same wait is refused: the first one stands.
    expect(ledger.refusal({ decision: 'reject', reviewer: 'bo', reason: 'no' })).toMatch(/not waiting/);
    expect(ledger.takeDecision()).toBe(recorded);
    expect(ledger.reviewItem()).toBeUndefined();
  });

  it('a regenerate starts a new attempt with the given or a derived seed; the rejected attempt\'s cost stays', () => {
    const ledger = generatedLedger();
    ledger.startWaiting(T0);
    expect(ledger.decide({ decision: 'regenerate', reviewer: 'ana', seed: 7 }, T0).nextSeed).toBe(7);
    ledger.nextAttempt(ledger.takeDecision().nextSeed!);
    expect([ledger.attempt, ledger.seed, ledger.glbs, ledger.preview, ledger.stateId]).toEqual([1, 7, {}, undefined, undefined]);
    expect(ledger.usage.gpuSeconds).toBe(4);
    expect(ledger.generationInput().seed).toBe(7);
    ledger.startWaiting(T0);
    const derived = ledger.decide({ decision: 'regenerate', reviewer: 'ana' }, T0).nextSeed!;
    expect(derived).not.toBe(7);
    // Deterministic: the same history derives the same seed (a replay must).
    const again = generatedLedger();
    again.startWaiting(T0);
    again.decide({ decision: 'regenerate', reviewer: 'ana', seed: 7 }, T0);
    again.nextAttempt(again.takeDecision().nextSeed!);
    again.startWaiting(T0);
    expect(again.decide({ decision: 'regenerate', reviewer: 'ana' }, T0).nextSeed).toBe(derived);
    expect(ledger.manifest(ledger.summary('done', undefined, 'run'), 'now').reviewDecisions?.map((d) => d.decision)).toEqual(['regenerate', 'regenerate']);
  });

  it(`refuses a regenerate after ${MAX_REVIEW_REGENERATIONS}: approve or reject`, () => {
    const ledger = generatedLedger();
    for (let attempt = 0; attempt < MAX_REVIEW_REGENERATIONS; attempt += 1) {
      ledger.startWaiting(T0);
      ledger.decide({ decision: 'regenerate', reviewer: 'ana' }, T0);
      ledger.nextAttempt(ledger.takeDecision().nextSeed!);
    }
    ledger.startWaiting(T0);
    expect(ledger.refusal({ decision: 'regenerate', reviewer: 'ana' })).toMatch(/limit/);
    expect(ledger.refusal({ decision: 'approve', reviewer: 'ana' })).toBeUndefined();
  });

  it('applies the catalog\'s policy at the deadline, as reviewer `deadline`', () => {
    const rejecting = generatedLedger({ mode: 'flagged', deadlineHours: 2, onDeadline: 'reject' });
    rejecting.startWaiting(T0);
    expect(rejecting.untilDeadline(T0 + HOUR)).toBe(HOUR);
    expect(rejecting.untilDeadline(T0 + 3 * HOUR)).toBe(0);
    expect(rejecting.decideByDeadline(T0 + 2 * HOUR)).toMatchObject({ decision: 'reject', reviewer: 'deadline', reason: expect.stringMatching(/2 h/) });
    const approving = generatedLedger({ mode: 'all', deadlineHours: 2, onDeadline: 'approve' });
    approving.startWaiting(T0);
    expect(approving.decideByDeadline(T0 + 2 * HOUR)).toMatchObject({ decision: 'approve', reviewer: 'deadline' });
  });

  it('writes the final seed, the quality report and the decisions into the manifest', () => {
    const ledger = generatedLedger();
    ledger.checked(verdict(0.8));
    const manifest = ledger.manifest(ledger.summary('done', undefined, 'run-1'), '2026-12-01T00:00:00.000Z');
    expect(manifest).toMatchObject({ sku: 'MUG 1', status: 'done', seed: 42, quality: { score: 0.8 }, glbs: { fast: file('fast.glb') }, extractCalls: 1, runId: 'run-1' });
    expect(manifest.reviewDecisions).toBeUndefined();
  });
});

describe('CatalogWindow review slots', () => {
  it('an asset waiting for review gives its slot to the next row and takes one back when decided', () => {
    const window = new CatalogWindow('spring', initialRunState(), 2);
    window.admit('A', 1, 0);
    window.admit('B', 2, 0);
    expect(window.hasRoom()).toBe(false);
    window.reviewWait({ sku: 'A', waiting: true });
    expect(window.hasRoom()).toBe(true);
    expect(window.progress()).toMatchObject({ inReview: 1, counts: { running: 2 }, running: [{ sku: 'A', stage: 'in_review' }, { sku: 'B', stage: 'queued' }] });
    window.admit('C', 3, 0);
    expect(window.hasRoom()).toBe(false);
    // Decided: back in the window at once, ahead of rows not started (the window is over its size until one ends).
    window.reviewWait({ sku: 'A', waiting: false });
    expect([window.hasRoom(), window.progress().inReview]).toEqual([false, 0]);
    window.finish({ sku: 'B', row: 2, status: 'done', usage: noUsage, generateCalls: 1 });
    expect(window.hasRoom()).toBe(false);
    window.finish({ sku: 'A', row: 1, status: 'done', usage: noUsage, generateCalls: 1 });
    expect(window.hasRoom()).toBe(true);
  });

  it('ignores a review report from another execution of the same asset id', () => {
    const window = new CatalogWindow('spring', initialRunState(), 1);
    window.admit('A', 1, 0);
    window.bindRun('A', 'run-2');
    window.reviewWait({ sku: 'A', runId: 'run-1', waiting: true });
    expect(window.progress().inReview).toBe(0);
  });
});
