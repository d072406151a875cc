// Completion webhooks (Standard Webhooks style): what a catalog owner's receiver gets when a catalog (and,
// if asked, each asset) finishes. The signing secret is not here: the delivering activity reads it from
// the worker's environment, so it never enters workflow inputs or history.
import { z } from 'zod';
import { CatalogId, Sku } from './catalog';
import { Usage } from './cost';
import { PresetName } from './pipeline';
import { NotifySettings } from './notify-settings';
import { AssetError, AssetStatus, CatalogResult, OutputFile } from './workflow';
import { ReviewItem } from './review';


export const WebhookEventType = z.enum(['catalog.finished', 'asset.finished', 'asset.review_requested']);
export type WebhookEventType = z.infer<typeof WebhookEventType>;

/** A finished catalog's webhook data: its workflow result (counts, cost, report paths). */
export const CatalogFinishedData = CatalogResult;
export type CatalogFinishedData = z.infer<typeof CatalogFinishedData>;

export const AssetFinishedData = z.object({
  catalogId: CatalogId,
  sku: Sku,
  row: z.number().int().min(1),
  status: AssetStatus,
  error: AssetError.optional(),
  /**
   * Output files; `file` is relative to `assetDir` (a folder, or the s3://bucket/prefix of the SKU's
   * objects: an object's key is the part after the bucket, plus `/` and `file`).
   */
  assetDir: z.string(),
  glbs: z.record(PresetName, OutputFile),
  preview: OutputFile.optional(),
  usage: Usage,
  /** With NotifySettings.presignSeconds and an s3:// out: short-lived GET URLs by `file`, added when sent. */
  urls: z.record(z.string(), z.url()).optional(),
});
export type AssetFinishedData = z.infer<typeof AssetFinishedData>;

/** An asset started waiting for a review decision: its queue entry; paths are relative to `catalogDir`. */
export const AssetReviewRequestedData = ReviewItem.extend({ catalogDir: z.string() });
export type AssetReviewRequestedData = z.infer<typeof AssetReviewRequestedData>;

/** Input of the `deliverWebhook` activity. The same `webhookId` on every attempt lets receivers dedupe. */
export const WebhookDelivery = z.discriminatedUnion('eventType', [
  z.object({
    url: NotifySettings.shape.url,
    eventType: z.literal('catalog.finished'),
    webhookId: z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/),
    occurredAt: z.iso.datetime(),
    payload: CatalogFinishedData,
  }),
  z.object({
    url: NotifySettings.shape.url,
    eventType: z.literal('asset.finished'),
    webhookId: z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/),
    occurredAt: z.iso.datetime(),
    payload: AssetFinishedData,
    presignSeconds: NotifySettings.shape.presignSeconds,
  }),
  z.object({
    url: NotifySettings.shape.url,
    eventType: z.literal('asset.review_requested'),
    webhookId: z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/),
    occurredAt: z.iso.datetime(),
    payload: AssetReviewRequestedData,
  }),
]);
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

/** The JSON body receivers get (Standard Webhooks' recommended envelope). */
export const WebhookBody = z.object({ type: WebhookEventType, timestamp: z.string(), data: z.union([CatalogFinishedData, AssetFinishedData, AssetReviewRequestedData]) });
export type WebhookBody = z.infer<typeof WebhookBody>;

/** Stable per event, so retries (and a replayed workflow) send the same id: `msg_catalog_<id>_<run>`. */
export const catalogWebhookId = (catalogId: string, firstExecutionRunId: string) => `msg_catalog_${catalogId}_${firstExecutionRunId}`;
/** One per wait: the attempt number tells a regenerated model's request from the first. */
export const reviewRequestedWebhookId = (catalogId: string, sku: string, firstExecutionRunId: string, attempt: number) =>
  `msg_review_${catalogId}_${sku.replace(/[^A-Za-z0-9_.-]/g, '_')}_${firstExecutionRunId}_${attempt}`;
export const assetWebhookId = (catalogId: string, sku: string, firstExecutionRunId: string) =>
  `msg_asset_${catalogId}_${sku.replace(/[^A-Za-z0-9_.-]/g, '_')}_${firstExecutionRunId}`;
