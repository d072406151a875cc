// The workflow bundle's entry: every export here is a workflow type the worker registers.
import type { WorkflowDefinitionOptions } from '@temporalio/common';
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import { convertCatalog } from './convert-catalog';
import { notifyWebhook } from './notify-webhook';

export { convertAsset } from './convert-asset';
export { convertCatalog, notifyWebhook };

// Versioning behaviours (libs/workers/src/versioning.ts): assets are PINNED, the worker's default. A catalog
// runs for hours and a webhook delivery retries for a day, so they move to the current worker version; the
// replay test (tests/integration/replay.test.ts) keeps every change able to continue their recorded histories.
// A worker without versioning (the SDK's time-skipping test environment) refuses any behaviour: say it only to
// versioned ones.
const autoUpgrade = (): WorkflowDefinitionOptions => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: 'AUTO_UPGRADE' } : {});
setWorkflowOptions(autoUpgrade, convertCatalog);
setWorkflowOptions(autoUpgrade, notifyWebhook);
