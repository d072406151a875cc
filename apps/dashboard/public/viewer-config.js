// @ts-check
// Read by model-viewer when its module first runs (index.html loads this before it): the decoders for
// compressed channel files come from this dashboard, never from a CDN.
/** @type {any} */ (self).ModelViewerElement = {
  ...(/** @type {any} */ (self).ModelViewerElement ?? {}),
  dracoDecoderLocation: '/assets/draco/',
  meshoptDecoderLocation: '/assets/meshopt_decoder.js',
};
