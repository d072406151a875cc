export * from './output-store';
export * from './store-key';
export * from './out-location';
export { LocalFolderStore } from './local-store';
export { S3Store, S3_PART_SIZE, S3_QUEUE_SIZE, PRESIGNED_URL_SECONDS, defaultS3Client, createS3Client, type S3StoreOptions } from './s3-store';
export { openOutputStore } from './open-store';
export { sha256Hex } from './hashing';
