// A live one-line progress bar for `trellis convert` and `trellis status`: redrawn in place on a
// terminal, printed as plain lines (only when something changed) when piped into a log.
import type { CatalogProgress } from '@trellis/contracts';

const BAR_WIDTH = 28;

export function formatProgress(progress: CatalogProgress): string {
  const { counts } = progress;
  const total = progress.totalRows ?? 0;
  const done = counts.succeeded + counts.skipped + counts.failed + counts.cancelled;
  // Clamped: a catalog edited mid-run can report fewer rows than are already done ('.'.repeat(-n) throws).
  const filled = total > 0 ? Math.min(BAR_WIDTH, Math.round((done / total) * BAR_WIDTH)) : 0;
  const bar = `${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}`;
  const running = progress.running
    .slice(0, 3)
    .map(({ sku, stage }) => `${sku} ${stage}`)
    .join(', ');
  const more = progress.running.length > 3 ? ` +${progress.running.length - 3}` : '';
  return (
    `[${bar}] ${done}/${progress.totalRows ?? '?'} ${progress.status}` +
    ` | ok ${counts.succeeded} reused ${counts.skipped} failed ${counts.failed}` +
    (counts.cancelled ? ` cancelled ${counts.cancelled}` : '') +
    ` | GPU ${progress.usage.gpuSeconds.toFixed(1)}s ~$${progress.usage.estimatedCostUsd.toFixed(3)}` +
    (running ? ` | ${running}${more}` : '')
  );
}

export class ProgressLine {
  private last = '';

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  update(text: string): void {
    if (text === this.last) return;
    this.last = text;
    if (this.stream.isTTY) {
      const width = this.stream.columns ?? 120;
      this.stream.write(`\r\x1b[K${text.slice(0, width - 1)}`);
    } else {
      this.stream.write(`${text}\n`);
    }
  }

  /** Leaves the last line on screen and moves below it. */
  finish(): void {
    if (this.stream.isTTY && this.last) this.stream.write('\n');
    this.last = '';
  }
}
