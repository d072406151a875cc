// Why an image cannot be sent to the service. `retryable` is true only where trying again can help:
// network failures and HTTP 5xx/429/408 while fetching a URL. Everything else needs the user to act.

export const imageErrorCodes = [
  'image_not_found',
  'image_unreadable',
  'image_too_large',
  'image_too_large_dimensions',
  'image_fetch_failed',
] as const;
export type ImageErrorCode = (typeof imageErrorCodes)[number];

export class ImageError extends Error {
  override readonly name = 'ImageError';

  constructor(
    readonly code: ImageErrorCode,
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
