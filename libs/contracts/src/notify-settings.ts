// Kept apart from webhook.ts so the catalog input (workflow.ts) can use it without an import cycle.
import { z } from 'zod';

/** Where the delivering activity finds the Standard Webhooks secret (`whsec_<base64>`), in the worker's environment. */
export const WEBHOOK_SECRET_ENV = 'TRELLIS_WEBHOOK_SECRET';

/** `--notify URL [--notify-assets]` on a catalog run. */
export const NotifySettings = z.object({
  url: z.url({ protocol: /^https?$/, error: 'the webhook URL must be an http(s) URL' }),
  /** Also one call per finished asset, not only one per catalog. */
  assets: z.boolean().default(false),
  /**
   * With an s3:// out location: asset events also carry presigned GET URLs of the SKU's files, valid this
   * many seconds, made by the worker at delivery time (each attempt fresh; never stored in history).
   */
  presignSeconds: z.number().int().min(60).max(7 * 24 * 3600).optional(),
});
export type NotifySettings = z.input<typeof NotifySettings>;
