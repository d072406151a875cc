// `trellis estimate <catalog>`: rows, GPU seconds and cost before running, done work subtracted.
import { parseArgs } from 'node:util';
import { UsageError, prepareConversion } from '../conversion-input';
import { estimateConversion, formatEstimate } from '../estimate';
import { reportProblems, workFlagsOf, workOptions } from './convert';

export const estimateUsage = `trellis estimate <catalog> [options]

  Prints the rows, GPU seconds and cost a \`trellis convert\` with the same options would take, with
  what an earlier run into the same --out already made subtracted. Takes the convert options that
  change the work: --out DIR, --catalog-id, --presets, --presets-file, --pipeline, --seed, --sheet,
  --sku-column, --image-column, --image-position; and --json.`;

export async function estimateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...workOptions, json: { type: 'boolean', default: false } },
  });
  const [catalog, ...extra] = positionals;
  if (!catalog || extra.length > 0) throw new UsageError(`give exactly one catalog\n\n${estimateUsage}`);
  const prepared = await prepareConversion({
    ...workFlagsOf(values),
    catalog,
    // Without --out nothing is subtracted; the path only has to be valid.
    out: values.out ?? '.',
  });
  if (!values.json) reportProblems(prepared, (message) => console.error(message));
  const estimate = await estimateConversion(prepared, { checkOutputs: values.out !== undefined });
  console.log(values.json ? JSON.stringify(estimate, null, 2) : formatEstimate(estimate));
  return 0;
}
