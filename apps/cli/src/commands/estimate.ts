// `trellis estimate <catalog>`: rows, GPU seconds and cost before running, done work subtracted.
import { parseArgs } from 'node:util';
import { DEFAULT_OUT_DIR, UsageError, prepareConversion } from '../conversion-input';
import { estimateConversion, formatEstimate } from '../estimate';
import { reportProblems, workFlagsOf, workOptions } from './convert';

export const estimateUsage = `trellis estimate <catalog> [options]

  Prints the rows, GPU seconds and cost (at A100 rates) a \`trellis convert\` with the same options would
  take, with what an earlier run into the same output folder already made subtracted. Needs no server.

  --out DIR            the output root convert writes to (default ${DEFAULT_OUT_DIR}/)
  --catalog-id ID      default: from the catalog's file (or folder) name, as in convert
  --presets LIST       --presets-file FILE   --pipeline TYPE   --seed N   --channels LIST
                       as in \`trellis convert --help\` (a channel's source preset is counted for every row)
  --sheet NAME         --sku-column NAME   --image-column NAME   --image-position N
                       which sheet and columns to read, as in convert
  --json               print the estimate as JSON`;

export const estimateOptions = { ...workOptions, json: { type: 'boolean', default: false } } as const;

export async function estimateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: estimateOptions });
  const [catalog, ...extra] = positionals;
  if (!catalog || extra.length > 0) throw new UsageError(`give exactly one catalog\n\n${estimateUsage}`);
  const prepared = await prepareConversion({
    ...workFlagsOf(values),
    catalog,
    out: values.out ?? DEFAULT_OUT_DIR,
  });
  if (!values.json) reportProblems(prepared, (message) => console.error(message));
  const estimate = await estimateConversion(prepared, { checkOutputs: true });
  console.log(values.json ? JSON.stringify(estimate, null, 2) : formatEstimate(estimate));
  return 0;
}
