// `notifyWebhook`: one delivery as its own small workflow, started by a finishing catalog or asset with
// ParentClosePolicy ABANDON. The catalog does not stay open while a receiver is down; the delivery keeps
// retrying (up to a day) on its own, visible in the Web UI as `webhook/<webhook-id>`.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '@trellis/activities';
import type { WebhookDelivery } from '@trellis/contracts';
import { webhookActivityOptions } from './notify-options';

const { deliverWebhook } = proxyActivities<Activities>(webhookActivityOptions);

export async function notifyWebhook(delivery: WebhookDelivery): Promise<{ status: number; attempt: number }> {
  return deliverWebhook(delivery);
}
