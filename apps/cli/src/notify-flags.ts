// `--notify URL` / `--notify-assets`: completion webhooks for a catalog run (signed by the workers with
// TRELLIS_WEBHOOK_SECRET; the secret is never passed here).
import { NotifySettings, WEBHOOK_SECRET_ENV } from '@trellis/contracts';
import { UsageError, type PreparedConversion } from './conversion-input';

export const notifyUsage = `  --notify URL         POST a signed JSON event (Standard Webhooks) to URL when the catalog finishes;
                       the workers sign it with ${WEBHOOK_SECRET_ENV} (whsec_<base64>) from their environment
  --notify-assets      with --notify: also one POST per finished asset
  --notify-urls SECONDS  with --notify-assets and --out s3://...: asset events also carry presigned GET
                       URLs of the SKU's files, valid SECONDS (60 to 604800), made when each is sent`;

export const notifyOptions = {
  notify: { type: 'string' },
  'notify-assets': { type: 'boolean', default: false },
  'notify-urls': { type: 'string' },
} as const;

export function notifyFromFlags(values: { notify?: string; 'notify-assets'?: boolean; 'notify-urls'?: string }): NotifySettings | undefined {
  if (values.notify === undefined) {
    if (values['notify-assets']) throw new UsageError('--notify-assets needs --notify URL');
    if (values['notify-urls'] !== undefined) throw new UsageError('--notify-urls needs --notify URL --notify-assets');
    return undefined;
  }
  const presignSeconds = values['notify-urls'] === undefined ? undefined : Number(values['notify-urls']);
  if (presignSeconds !== undefined && !(Number.isInteger(presignSeconds) && presignSeconds >= 60 && presignSeconds <= 604800)) {
    throw new UsageError(`--notify-urls must be whole seconds from 60 to 604800 (got "${values['notify-urls']}")`);
  }
  const parsed = NotifySettings.safeParse({ url: values.notify, assets: values['notify-assets'] ?? false, ...(presignSeconds === undefined ? {} : { presignSeconds }) });
  if (!parsed.success) throw new UsageError(`--notify "${values.notify}": ${parsed.error.issues[0]?.message ?? 'not a valid URL'}`);
  return parsed.data;
}

export function withNotify(prepared: PreparedConversion, notify: NotifySettings | undefined): PreparedConversion {
  if (!notify) return prepared;
  return { ...prepared, input: { ...prepared.input, notify: NotifySettings.parse(notify) } };
}
