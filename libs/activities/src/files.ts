// The file side of the activities: catalogs in, images checked, outputs written atomically and reused,
// manifests and reports. Plain async functions; `index.ts` wraps the ones workflows call as activities.
export { CatalogFileError } from './catalog/catalog-file-error';
export { catalogDirOf, catalogFormatOf } from './catalog/catalog-location';
export { loadCatalogPage, readCatalog, type CatalogContents } from './catalog/read-catalog';
export { catalogImageExtensions } from './catalog/read-folder-rows';

export { ImageError, imageErrorCodes, type ImageErrorCode } from './images/image-error';
export type { ImageMediaType } from './images/image-header';
export {
  imageSha256Of,
  loadImage,
  SERVICE_MAX_IMAGE_BYTES,
  SERVICE_MAX_IMAGE_SIDE_PX,
  type LoadedImage,
  type LoadImageOptions,
} from './images/load-image';

export { ChecksumMismatchError, sha256File, writeFileAtomic, writeStreamAtomic, type WriteStreamOptions } from './outputs/atomic-write';
export { canonicalJson, inputHashOf } from './outputs/input-hash';
export { ManifestError, readManifest, readManifestSync, writeManifest } from './outputs/manifest';
export { assetDir, catalogReportPaths, glbPath, manifestPath, OutputPathError, previewPath } from './outputs/output-layout';
export { findReusableOutput, OutputRecord, outputRecordPath, readOutputRecord, writeOutputRecord } from './outputs/output-records';

export { writeCatalogReport, type CatalogReportArgs, type CatalogReportSummary } from './report/catalog-report';
