// report.csv's channel columns: present only when a row has channel files, so a run without channels
// keeps the columns it always had. Per row: the size the catalog gave, how the files were scaled, and a
// flag (proportions that disagree, or a channel that needs a size the row lacks), the poster; per channel: whether
// it was delivered, bytes, triangles, texture size, the validator's verdict, budget, step-downs, reason.
import { builtInChannels, type ChannelFileReport, type ReportRow } from '@trellis/contracts';

const BUILT_IN_ORDER = Object.keys(builtInChannels);
const PER_CHANNEL = ['delivered', 'bytes', 'triangles', 'texture_px', 'validator', 'budget_met', 'step_downs', 'reason'] as const;

/** Built-in channels first in their usual order, then custom ones by name. */
export function channelColumnsOf(rows: readonly ReportRow[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const channel of Object.keys(row.channels ?? {})) seen.add(channel);
  return [...BUILT_IN_ORDER.filter((name) => seen.has(name)), ...[...seen].filter((name) => !BUILT_IN_ORDER.includes(name)).sort()];
}

export function channelHeader(channels: readonly string[]): string[] {
  if (channels.length === 0) return [];
  return ['size', 'scale', 'size_flag', 'poster', ...channels.flatMap((channel) => PER_CHANNEL.map((column) => `${channel}_${column}`))];
}

export function channelCells(row: ReportRow, channels: readonly string[]): (string | number)[] {
  if (channels.length === 0) return [];
  const reports = Object.values(row.channels ?? {});
  const size = row.size
    ? `${['width', 'height', 'depth'].map((axis) => row.size![axis as 'width'] ?? '?').join(' x ')} ${row.size.unit}`
    : '';
  const placement = reports.find((report) => report.placement)?.placement;
  return [size, placement?.scale ?? '', sizeFlag(row, reports), row.poster?.file ?? '', ...channels.flatMap((channel) => cellsOf(row.channels?.[channel]))];
}

function sizeFlag(row: ReportRow, reports: ChannelFileReport[]): string {
  const mismatch = reports.find((report) => report.placement?.proportionMismatch)?.placement?.proportionMismatch;
  if (mismatch) return mismatch;
  if (!row.size && reports.length > 0) {
    const needing = reports.filter((report) => builtInChannels[report.channel as keyof typeof builtInChannels]?.requires_real_world_size).map((report) => report.channel);
    const why = needing.length > 0 ? ` (${needing.join(', ')} require${needing.length === 1 ? 's' : ''} real-world scale: add width/height/depth columns)` : '';
    return `no size columns: the files keep the model's unit size${why}`;
  }
  return '';
}

function cellsOf(report: ChannelFileReport | undefined): (string | number)[] {
  if (!report) return PER_CHANNEL.map(() => '');
  return [
    report.delivered ? 'yes' : 'no',
    report.delivered ? report.bytes : '',
    report.triangles || '',
    report.textureSizes.length > 0 ? Math.max(...report.textureSizes) : '',
    `${report.validator.errors} errors, ${report.validator.warnings} warnings`,
    report.budgetMet ? 'yes' : 'no',
    report.stepDowns.join('; '),
    report.reason ?? '',
  ];
}
