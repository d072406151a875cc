// A live one-line progress bar for `trellis convert` and `trellis status`: redrawn in place on a
// terminal; piped into a log (CI), plain lines, at most one per interval, and the last one on finish.
import { describeUsage, runPhaseOf, type CatalogProgress } from '@trellis/contracts';

const BAR_WIDTH = 28;

export function formatProgress(progress: CatalogProgress): string {
  const { counts } = progress;
  const total = progress.totalRows ?? 0;
  const finished = counts.done + counts.reused + counts.failed + counts.cancelled;
  // Clamped so the bar can never overflow ('.'.repeat(-n) throws), whatever the counts say.
  const filled = total > 0 ? Math.min(BAR_WIDTH, Math.round((finished / total) * BAR_WIDTH)) : 0;
  const bar = `${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}`;
  const running = progress.running
    .slice(0, 3)
    .map(({ sku, stage }) => `${shortSku(sku)} ${stage}`)
    .join(', ');
  const more = progress.running.length > 3 ? ` +${progress.running.length - 3}` : '';
  return (
    `[${bar}] ${finished}/${progress.totalRows ?? '?'} ${runPhaseOf(progress.status, finished, progress.totalRows)}` +
    ` | done ${counts.done} reused ${counts.reused} failed ${counts.failed}` +
    (counts.cancelled ? ` cancelled ${counts.cancelled}` : '') +
    (progress.inReview ? ` in review ${progress.inReview} (\`trellis review ${progress.catalogId}\`)` : '') +
    ` | ${describeUsage(progress.usage, 'none yet')}` +
    (running ? ` | ${running}${more}` : '') +
    (progress.pauseReason ? `\n${progress.pauseReason}` : '')
  );
}

/** SKUs are any text up to 256 characters: a running list shows at most 24 of them, on one line. */
function shortSku(sku: string): string {
  const flat = sku.replace(/\s+/g, ' ');
  const chars = [...flat];
  return chars.length > 24 ? `${chars.slice(0, 23).join('')}…` : flat;
}

export class ProgressLine {
  private last = '';
  private lastWrittenAt = -Infinity;
  /** A change not yet printed to a log because the interval had not passed. */
  private pending: string | undefined;
  /** The pause reason last printed above the bar on a terminal. */
  private shownReason: string | undefined;

  /** `logIntervalMs`: in a log (not a terminal), at most one line per this interval (default 10 s). */
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly logIntervalMs = 10_000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  update(text: string): void {
    if (text === this.last) return;
    this.last = text;
    if (this.stream.isTTY) {
      // The bar is redrawn in place on one screen line; a pause reason (the text's second line) is too long
      // for it, so it is printed once, whole, above the bar.
      const [bar = '', reason] = text.split('\n', 2);
      if (reason && reason !== this.shownReason) this.stream.write(`\r\x1b[K${reason}\n`);
      this.shownReason = reason;
      const width = this.stream.columns ?? 120;
      this.stream.write(`\r\x1b[K${bar.slice(0, width - 1)}`);
      return;
    }
    if (this.now() - this.lastWrittenAt < this.logIntervalMs) {
      this.pending = text;
      return;
    }
    this.writeLogLine(text);
  }

  private writeLogLine(text: string): void {
    this.stream.write(`${text}\n`);
    this.lastWrittenAt = this.now();
    this.pending = undefined;
  }

  /** Leaves the last line on screen and moves below it (in a log: prints the last state if held back). */
  finish(): void {
    if (this.stream.isTTY && this.last) this.stream.write('\n');
    if (!this.stream.isTTY && this.pending !== undefined) this.writeLogLine(this.pending);
    this.last = '';
  }
}
