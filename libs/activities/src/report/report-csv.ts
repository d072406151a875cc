// The report flattened for spreadsheets: one line per catalog row, one size/sha256 column pair per preset;
// with channel files, then the size and scale columns and a group of columns per channel.
import { DEFAULT_PRESET_NAMES, type ReportRow } from '@trellis/contracts';
import { channelCells, channelColumnsOf, channelHeader } from './channel-columns';

export function reportCsv(rows: readonly ReportRow[]): string {
  const presets = presetColumnsOf(rows);
  const header = [
    'row',
    'sku',
    'status',
    'error',
    ...presets.flatMap((preset) => [`${preset}_bytes`, `${preset}_sha256`]),
    'preview_bytes',
    'gpu_seconds',
    'estimated_cost_usd',
  ];
  // Present when some row has them: the quality checks' verdict, and who decided what in review mode.
  const withQuality = rows.some((row) => row.quality);
  const withReview = rows.some((row) => row.reviewDecisions?.length);
  if (withQuality) header.push('quality_score', 'quality_flagged', 'quality_failing');
  if (withReview) header.push('review');
  const channels = channelColumnsOf(rows);
  header.push(...channelHeader(channels));
  const lines = [header.map(csvCell).join(',')];
  for (const row of rows) {
    const cells = [
      row.row,
      row.sku,
      row.status,
      row.error ?? '',
      ...presets.flatMap((preset) => [row.glbs[preset]?.bytes ?? '', row.glbs[preset]?.sha256 ?? '']),
      row.preview?.bytes ?? '',
      // For people, like every other surface: tenths of a second, cents (report.json keeps full precision).
      row.usage.gpuSeconds.toFixed(1),
      row.usage.estimatedCostUsd.toFixed(2),
      ...(withQuality ? [row.quality?.score.toFixed(2) ?? '', row.quality ? String(row.quality.flagged) : '', row.quality?.failing.join(' ') ?? ''] : []),
      ...(withReview ? [reviewCell(row)] : []),
      ...channelCells(row, channels),
    ];
    lines.push(cells.map(csvCell).join(','));
  }
  // RFC 4180: CRLF after every record.
  return `${lines.join('\r\n')}\r\n`;
}

/** Who decided what, oldest first: `regenerate by ana; approve by deadline`; a reject adds its reason. */
function reviewCell(row: ReportRow): string {
  return (row.reviewDecisions ?? [])
    .map(({ decision, reviewer, reason }) => `${decision} by ${reviewer}${reason ? ` (${reason})` : ''}`)
    .join('; ');
}

/** Built-in presets first in their usual order (fast, balanced, quality), then custom ones by name. */
function presetColumnsOf(rows: readonly ReportRow[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const preset of Object.keys(row.glbs)) seen.add(preset);
  const builtIn = DEFAULT_PRESET_NAMES.filter((name) => seen.has(name));
  const custom = [...seen].filter((name) => !builtIn.includes(name)).sort();
  return [...builtIn, ...custom];
}

function csvCell(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;
}
