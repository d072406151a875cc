// Delivers one completion webhook, signed the Standard Webhooks way: headers webhook-id (the same on
// every attempt, so receivers can drop duplicates), webhook-timestamp (this attempt, for their replay
// window) and webhook-signature (v1,<base64 HMAC-SHA256 of "id.timestamp.body">). The secret comes from
// the worker's environment only; it is never in the input, an error message or a log line. Temporal
// retries a failed attempt with backoff (see libs/workflows/src/notify-options.ts).
import { ApplicationFailure, activityInfo } from '@temporalio/activity';
import { Webhook } from 'standardwebhooks';
import { WEBHOOK_SECRET_ENV, WebhookDelivery, type WebhookBody } from '@trellis/contracts';
import { isS3Location, joinKey, openOutputStore } from '@trellis/output-store';

const ATTEMPT_TIMEOUT_MS = 15_000;
const SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

export interface WebhookDeliveryResult {
  status: number;
  attempt: number;
}

/** `whsec_<base64 of 24-64 random bytes>`; checked so a typo fails with a message rather than a bad signature. */
export function webhookSigner(env: NodeJS.ProcessEnv = process.env): Webhook {
  const secret = env[WEBHOOK_SECRET_ENV]?.trim();
  if (!secret || !SECRET_PATTERN.test(secret) || Buffer.from(secret.slice('whsec_'.length), 'base64').length < 24) {
    // Retryable on purpose: set the variable and restart the workers, and the pending delivery goes out.
    throw ApplicationFailure.retryable(
      `${WEBHOOK_SECRET_ENV} is ${secret ? 'not of the form whsec_<base64 of at least 24 bytes>' : 'not set'} in this worker's environment. ` +
        `Set it (e.g. whsec_$(openssl rand -base64 32)) on every worker and restart them; the delivery is retried.`,
      'webhook_secret_missing',
    );
  }
  return new Webhook(secret);
}

export function webhookBody(delivery: WebhookDelivery, urls?: Record<string, string>): string {
  const data = urls && delivery.eventType === 'asset.finished' ? { ...delivery.payload, urls } : delivery.payload;
  const body: WebhookBody = { type: delivery.eventType, timestamp: delivery.occurredAt, data };
  return JSON.stringify(body);
}

/**
 * Presigned GET URLs of an asset's files in object storage, when the run asked for them: made here, per
 * attempt (so a retried delivery never sends expired ones), and never written to workflow history.
 */
export async function presignedUrlsOf(delivery: WebhookDelivery): Promise<Record<string, string> | undefined> {
  if (delivery.eventType !== 'asset.finished' || !delivery.presignSeconds || !isS3Location(delivery.payload.assetDir)) return undefined;
  const store = openOutputStore(delivery.payload.assetDir);
  const files = [...Object.values(delivery.payload.glbs), ...(delivery.payload.preview ? [delivery.payload.preview] : [])].map((output) => output.file);
  const urls: Record<string, string> = {};
  for (const file of files) {
    const url = await store.presignedGetUrl(joinKey(file), { expiresInSeconds: delivery.presignSeconds });
    if (url) urls[file] = url;
  }
  return urls;
}

export async function deliverWebhook(input: WebhookDelivery, env: NodeJS.ProcessEnv = process.env): Promise<WebhookDeliveryResult> {
  const delivery = WebhookDelivery.parse(input);
  const signer = webhookSigner(env);
  const body = webhookBody(delivery, await presignedUrlsOf(delivery));
  const now = new Date();
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'trellis-catalog-webhooks',
    'webhook-id': delivery.webhookId,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': signer.sign(delivery.webhookId, now, body),
  };
  const attempt = activityInfo().attempt;
  let response: Response;
  try {
    response = await fetch(delivery.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS) });
  } catch (error) {
    throw ApplicationFailure.retryable(`POST ${delivery.url} failed: ${(error as Error).message}`, 'webhook_unreachable');
  }
  await response.body?.cancel().catch(() => undefined);
  if (response.status >= 200 && response.status < 300) return { status: response.status, attempt };
  // 410 Gone is the receiver saying "stop sending" (as Standard Webhooks senders treat it).
  if (response.status === 410) {
    throw ApplicationFailure.nonRetryable(`POST ${delivery.url} answered 410 Gone: the receiver does not want this event`, 'webhook_gone');
  }
  throw ApplicationFailure.retryable(`POST ${delivery.url} answered ${response.status}; retried with backoff`, 'webhook_rejected');
}
