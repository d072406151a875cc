// `notifyWebhook`: one delivery as its own small workflow, started by a finishing catalog or asset with
// ParentClosePolicy ABANDON. The catalog does not stay open while a receiver is down; the delivery keeps
// retrying (up to a day) on its own, visible in the Web UI as `webhook/<webhook-id>`.
import { ParentClosePolicy, log, proxyActivities, startChild } from '@temporalio/workflow';
import type { Activities } from '@trellis/activities';
import type { WebhookDelivery } from '@trellis/contracts';
import { webhookActivityOptions, webhookWorkflowId } from './notify-options';

const { deliverWebhook } = proxyActivities<Activities>(webhookActivityOptions);

export async function notifyWebhook(delivery: WebhookDelivery): Promise<{ status: number; attempt: number }> {
  return deliverWebhook(delivery);
}

/**
 * Starts the delivery and returns at once: it outlives its starter (ABANDON). Its workflow id is the
 * webhook id, so a start repeated after a reset or a replay finds it already there and sends nothing twice.
 */
export async function sendWebhook(delivery: WebhookDelivery): Promise<void> {
  try {
    await startChild(notifyWebhook, {
      workflowId: webhookWorkflowId(delivery.webhookId),
      args: [delivery],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: `${delivery.eventType} to ${new URL(delivery.url).host}`,
    });
  } catch (error) {
    log.warn('the completion webhook was not started (already sent?)', { webhookId: delivery.webhookId, error: String(error) });
  }
}
