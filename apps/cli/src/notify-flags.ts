// `--notify URL` / `--notify-assets`: completion webhooks for a catalog run (signed by the workers with
// TRELLIS_WEBHOOK_SECRET; the secret is never passed here).
import { NotifySettings, WEBHOOK_SECRET_ENV } from '@trellis/contracts';
import { UsageError, type PreparedConversion } from './conversion-input';

export const notifyUsage = `  --notify URL         POST a signed JSON event (Standard Webhooks) to URL when the catalog finishes;
                       the workers sign it with ${WEBHOOK_SECRET_ENV} (whsec_<base64>) from their environment
  --notify-assets      with --notify: also one POST per finished asset`;

export const notifyOptions = {
  notify: { type: 'string' },
  'notify-assets': { type: 'boolean', default: false },
} as const;

export function notifyFromFlags(values: { notify?: string; 'notify-assets'?: boolean }): NotifySettings | undefined {
  if (values.notify === undefined) {
    if (values['notify-assets']) throw new UsageError('--notify-assets needs --notify URL');
    return undefined;
  }
  const parsed = NotifySettings.safeParse({ url: values.notify, assets: values['notify-assets'] ?? false });
  if (!parsed.success) throw new UsageError(`--notify "${values.notify}": ${parsed.error.issues[0]?.message ?? 'not a valid URL'}`);
  return parsed.data;
}

export function withNotify(prepared: PreparedConversion, notify: NotifySettings | undefined): PreparedConversion {
  if (!notify) return prepared;
  return { ...prepared, input: { ...prepared.input, notify: NotifySettings.parse(notify) } };
}
