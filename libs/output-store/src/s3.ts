// The S3 implementation and its client, for code that needs them directly (tests, benchmarks, tools).
export { S3Store, S3_PART_SIZE, S3_QUEUE_SIZE, PRESIGNED_URL_SECONDS, defaultS3Client, createS3Client, type S3StoreOptions } from './s3-store';
