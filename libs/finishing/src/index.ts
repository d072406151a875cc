// CPU work on finished GLBs: channel files, real-world scale, the validator gate. Pure functions over
// bytes; the finish activities (libs/activities) wrap them on their own task queue.
export { makeChannelFile, prepareSource, nextStepDown, countTriangles, type ChannelFileOptions, type ChannelFileResult, type PreparedSource } from './channel-file';
export { fitToSize, placeOnGround } from './placement';
export { validateGlb } from './validator-gate';
export { gltfIO } from './gltf-io';
export { posterFromPreview, mp4DurationSeconds, type PosterOptions } from './poster';
