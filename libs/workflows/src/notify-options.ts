// Completion webhooks from workflow code: the activity options (durable: retried with backoff for up to
// a day) and pure builders of the activity's input, so convertCatalog / convertAsset need a few lines only.
// Deterministic: no I/O; ids come from the caller's workflowInfo().
import type { ActivityOptions } from '@temporalio/workflow';
import {
  assetWebhookId,
  catalogWebhookId,
  reviewRequestedWebhookId,
  type AssetResult,
  type CatalogResult,
  type NotifySettings,
  type ReviewItem,
  type WebhookDelivery,
} from '@trellis/contracts';

/** The receiver may be down for hours: 1 s, 2 s, 4 s ... capped at 1 h between attempts, for 24 h. */
export const webhookActivityOptions: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '24 hours',
  // No attempt limit: the 24 h schedule-to-close bounds the retries.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 hour' },
  summary: 'completion webhook',
};

/** Workflow id of the delivery: one per event, so a replayed or repeated start cannot send twice. */
export const webhookWorkflowId = (webhookId: string) => `webhook/${webhookId}`;

export function catalogFinishedDelivery(
  notify: Pick<NotifySettings, 'url'>,
  result: CatalogResult,
  firstExecutionRunId: string,
  occurredAt: Date,
): WebhookDelivery {
  return {
    url: notify.url,
    eventType: 'catalog.finished',
    webhookId: catalogWebhookId(result.catalogId, firstExecutionRunId),
    occurredAt: occurredAt.toISOString(),
    payload: {
      catalogId: result.catalogId,
      status: result.status,
      counts: result.counts,
      usage: result.usage,
      reportJsonPath: result.reportJsonPath,
      reportCsvPath: result.reportCsvPath,
    },
  };
}

export function assetFinishedDelivery(
  notify: Pick<NotifySettings, 'url' | 'presignSeconds'>,
  catalogId: string,
  assetDir: string,
  result: AssetResult,
  firstExecutionRunId: string,
  occurredAt: Date,
): WebhookDelivery {
  return {
    url: notify.url,
    eventType: 'asset.finished',
    webhookId: assetWebhookId(catalogId, result.sku, firstExecutionRunId),
    occurredAt: occurredAt.toISOString(),
    ...(notify.presignSeconds ? { presignSeconds: notify.presignSeconds } : {}),
    payload: {
      catalogId,
      sku: result.sku,
      row: result.row,
      status: result.status,
      ...(result.error ? { error: result.error } : {}),
      assetDir,
      glbs: result.glbs,
      ...(result.preview ? { preview: result.preview } : {}),
      usage: result.usage,
    },
  };
}

/** A model started waiting for review: its queue entry, with the catalog's output folder its paths are relative to. */
export function reviewRequestedDelivery(
  notify: Pick<NotifySettings, 'url'>,
  outDir: string,
  item: ReviewItem,
  firstExecutionRunId: string,
  occurredAt: Date,
): WebhookDelivery {
  return {
    url: notify.url,
    eventType: 'asset.review_requested',
    webhookId: reviewRequestedWebhookId(item.catalogId, item.sku, firstExecutionRunId, item.attempt),
    occurredAt: occurredAt.toISOString(),
    payload: { ...item, catalogDir: `${outDir}/${item.catalogId}` },
  };
}
