// The file side of the activities: catalogs in, images checked, outputs written atomically and reused,
// manifests and reports. Plain async functions; `index.ts` wraps the ones workflows call as activities.
export { CatalogFileError } from './catalog/catalog-file-error';
export { catalogDirOf, catalogFormatOf, catalogSha256Of, resolveCatalogInput, withCatalogFile } from './catalog/catalog-location';
export { needsStaging, stageCatalogInputs, type StagedInputs, type StageInputsArgs } from './catalog/stage-inputs';
export { catalogReadStats, readCatalog, type CatalogContents } from './catalog/read-catalog';
export { loadCatalogPage, readSnapshot, snapshotCatalog, trellisDirOf, trellisKeyOf, type LoadCatalogPageInput, type SnapshotCatalogInput, type SnapshotMeta } from './catalog/catalog-snapshot';
export { columnKey, mapColumns, type ColumnMapping } from './catalog/column-mapping';
export { catalogImageExtensions } from './catalog/read-folder-rows';

export { ImageError, imageErrorCodes, type ImageErrorCode } from './images/image-error';
export type { ImageMediaType } from './images/image-header';
export {
  imageSha256Of,
  loadImage,
  loadImageForUpload,
  MAX_ORIGINAL_IMAGE_BYTES,
  type LoadedImage,
  type LoadImageOptions,
} from './images/load-image';
export {
  DOWNSCALE_LONGEST_SIDE_PX,
  IMAGE_PREPROCESSING,
  imagePreprocessHash,
  prepareUpload,
  SERVICE_MAX_IMAGE_BYTES,
  SERVICE_MAX_IMAGE_SIDE_PX,
} from './images/prepare-upload';

export { ChecksumMismatchError, OutputConflictError, openOutputStore, sha256Hex, type OutputStore } from '@trellis/output-store';
export { canonicalJson, inputHashOf } from './outputs/input-hash';
export { ManifestError, readManifest, writeManifest } from './outputs/manifest';
export {
  assetDir,
  assetFolderName,
  assetKey,
  assetPlace,
  catalogKey,
  catalogReportKeys,
  catalogReportPaths,
  glbKey,
  glbPath,
  manifestKey,
  manifestPath,
  OutputPathError,
  previewKey,
  previewPath,
  type AssetPlace,
} from './outputs/output-layout';
export { findReusableOutput, OutputRecord, outputRecordKey, readOutputRecord, writeOutputRecord } from './outputs/output-records';

export { writeCatalogReport, type CatalogReportArgs, type CatalogReportSummary } from './report/catalog-report';
export { catalogNeedsGpu, catalogWorkOf, presetsOfRow, remainingWorkOf, type CatalogWork, type RowWork, type WorkContext } from './outputs/remaining-work';
