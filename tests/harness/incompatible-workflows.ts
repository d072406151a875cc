// The workflows as a careless change would leave them: convertCatalog now waits a moment before doing what it
// did. A catalog already running could not continue on this code (its history has no such timer), and the
// replay test must say so. Every other workflow is the real one.
import { sleep } from '@temporalio/workflow';
import { convertCatalog as realConvertCatalog } from '@trellis/workflows';

export { convertAsset, notifyWebhook } from '@trellis/workflows';

export async function convertCatalog(...args: Parameters<typeof realConvertCatalog>): ReturnType<typeof realConvertCatalog> {
  await sleep('1 second');
  return realConvertCatalog(...args);
}
