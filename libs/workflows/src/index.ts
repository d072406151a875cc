// The workflow bundle's entry: every export here is a workflow type the worker registers.
export { convertAsset } from './convert-asset';
export { convertCatalog } from './convert-catalog';
export { notifyWebhook } from './notify-webhook';
