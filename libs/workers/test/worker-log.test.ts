import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { oneLineFor, trellisLogFunction } from '../src/worker-log';

const entry = (message: string, meta: Record<string, unknown>) => ({ level: 'WARN' as const, message, meta, timestampNanos: 1_700_000_000_000_000_000n });

describe('worker log', () => {
  it('an asset that failed for a classified reason is one line: SKU, code, message; no stack', () => {
    const failure = ApplicationFailure.create({ message: 'SKU "chair, oak" (row 3) failed: image_not_found: image chair.png does not exist', type: 'image_not_found', nonRetryable: true });
    const lines: string[] = [];
    const log = trellisLogFunction((line) => lines.push(line));
    log(entry('Activity failed', { error: ApplicationFailure.nonRetryable('image chair.png does not exist', 'image_not_found'), activityType: 'prepareAsset' }));
    log(entry('Workflow failed', { error: failure, workflowId: 'asset/c/chair-oak-0123456789ab', workflowType: 'convertAsset' }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\S+ \[WARN\] SKU "chair, oak" \(row 3\) failed: image_not_found: image chair\.png does not exist\n$/);
  });

  it('a transient failure that will be retried is one line with its attempt', () => {
    const line = oneLineFor(entry('Activity failed', { error: ApplicationFailure.retryable('HTTP 503', 'service_unavailable'), activityType: 'generate', workflowId: 'asset/c/X', attempt: 2 }));
    expect(line).toBe('activity generate of asset/c/X failed (attempt 2, will retry): service_unavailable: HTTP 503');
  });

  it('a workflow failure seen through the sandbox (a plain object, not an instance) is still recognised', () => {
    const plain = { name: 'ApplicationFailure', message: 'SKU "A" (row 1) failed: x: y', type: 'x', nonRetryable: true };
    expect(oneLineFor(entry('Workflow failed', { error: plain }))).toBe('SKU "A" (row 1) failed: x: y');
    // What arrives from the workflow thread: a structured clone, name "Error", the stack kept.
    const cloned = structuredClone(ApplicationFailure.create({ message: 'SKU "B" (row 2) failed: x: y', type: 'x', nonRetryable: true }));
    expect(oneLineFor(entry('Workflow failed', { error: cloned }))).toBe('SKU "B" (row 2) failed: x: y');
  });

  it('unexpected errors keep their stack', () => {
    const lines: string[] = [];
    trellisLogFunction((line) => lines.push(line))(entry('Activity failed', { error: new TypeError('cannot read properties of undefined') }));
    expect(lines[0]).toMatch(/TypeError: cannot read properties of undefined\n\s+at /);
  });
  it('the finishing worker being activities-only is not a warning worth printing', () => {
    expect(oneLineFor(entry('No workflows registered, not polling for workflow tasks', { sdkComponent: 'worker', taskQueue: 'trellis-finish' }))).toBeNull();
  });
});
