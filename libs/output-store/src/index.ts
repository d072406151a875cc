// The output store. The S3 implementation is in './s3' (`@trellis/output-store/s3`): importing this entry
// does not load the AWS SDK; openOutputStore loads it on the first use of an s3:// location.
export * from './output-store';
export * from './store-key';
export * from './out-location';
export { LocalFolderStore } from './local-store';
export { openOutputStore } from './open-store';
export { sha256Hex } from './hashing';
