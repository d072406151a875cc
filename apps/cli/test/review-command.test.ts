// `--review` on convert and the `trellis review` command's arguments: each mistake is one clear error.
import { describe, expect, it } from 'vitest';
import { reviewSettingsOf, UsageError } from '../src/conversion-input';
import { formatReviewQueue, parseReviewArgs } from '../src/commands/review';

describe('--review on convert', () => {
  it('is off by default and needs no settings then', () => {
    expect(reviewSettingsOf({})).toBeUndefined();
    expect(reviewSettingsOf({ review: 'off' })).toBeUndefined();
  });

  it('takes a mode, a deadline in hours and the deadline policy, with the contract defaults', () => {
    expect(reviewSettingsOf({ review: 'flagged' })).toEqual({ mode: 'flagged', deadlineHours: 168, onDeadline: 'reject' });
    expect(reviewSettingsOf({ review: 'all', reviewDeadline: '48', reviewOnDeadline: 'approve' })).toEqual({ mode: 'all', deadlineHours: 48, onDeadline: 'approve' });
  });

  it('names the flag and the choices when a value is wrong', () => {
    expect(() => reviewSettingsOf({ review: 'some' })).toThrow(/--review "some" is not one of off, flagged, all/);
    expect(() => reviewSettingsOf({ review: 'flagged', reviewDeadline: '0' })).toThrow(/--review-deadline must be a number of hours above 0/);
    expect(() => reviewSettingsOf({ review: 'flagged', reviewOnDeadline: 'maybe' })).toThrow(/--review-on-deadline "maybe"/);
    expect(() => reviewSettingsOf({ reviewDeadline: '24' })).toThrow(UsageError);
  });
});

describe('trellis review arguments', () => {
  it('lists by default, and reads one decision with its reviewer', () => {
    expect(parseReviewArgs(['spring', '--reviewer', 'ana'])).toMatchObject({ catalogId: 'spring', action: { kind: 'list' } });
    expect(parseReviewArgs(['spring', '--approve', 'MUG 1', '--reviewer', 'ana']).action).toEqual({ kind: 'decide', sku: 'MUG 1', decision: { decision: 'approve', reviewer: 'ana' } });
    expect(parseReviewArgs(['spring', '--regenerate', 'MUG-1', '--seed', '7', '--reviewer', 'ana']).action).toEqual({
      kind: 'decide', sku: 'MUG-1', decision: { decision: 'regenerate', reviewer: 'ana', seed: 7 },
    });
    expect(parseReviewArgs(['spring', '--reject', 'MUG-1', '--reason', 'handle missing', '--reviewer', 'bo']).action).toMatchObject({ decision: { decision: 'reject', reason: 'handle missing' } });
    expect(parseReviewArgs(['spring', '--approve-above', '0.7', '--reviewer', 'ana']).action).toEqual({ kind: 'approve-above', minScore: 0.7, reviewer: 'ana' });
  });

  it('refuses ambiguous or incomplete decisions, saying what is missing', () => {
    expect(() => parseReviewArgs(['spring', '--approve', 'A', '--reject', 'B', '--reason', 'x'])).toThrow(/one of --approve, --reject at a time/);
    expect(() => parseReviewArgs(['spring', '--reject', 'A'])).toThrow(/needs --reason/);
    expect(() => parseReviewArgs(['spring', '--seed', '3'])).toThrow(/--seed goes with --regenerate/);
    expect(() => parseReviewArgs(['spring', '--approve-above', '2'])).toThrow(/score from 0 to 1/);
    expect(() => parseReviewArgs([])).toThrow(/give one catalog id/);
  });

  it('shows the queue lowest score first, with what failed and where the model is', () => {
    const item = {
      catalogId: 'spring', sku: 'MUG-1', row: 2, attempt: 1, seed: 7, score: 0.21, flagged: true, failing: ['background'], preset: 'fast',
      files: { glb: 'MUG-1/fast.glb' }, waitingSince: '2026-12-01T00:00:00.000Z', deadline: '2026-12-08T00:00:00.000Z', onDeadline: 'reject' as const, history: [],
    };
    const text = formatReviewQueue('spring', [item]);
    expect(text).toMatch(/1 model\(s\) wait for review/);
    expect(text).toMatch(/0\.21\s+MUG-1 \(row 2\)\s+attempt 1 seed 7\s+background\s+MUG-1\/fast\.glb/);
    expect(formatReviewQueue('spring', [])).toBe('spring: no model waits for review.');
  });
});
