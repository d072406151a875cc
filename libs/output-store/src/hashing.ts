// The sha256 and byte count of a stream as it passes: every write is checked this way, whichever store.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ChecksumMismatchError, type StreamBody } from './output-store';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function toNodeReadable(body: StreamBody): Readable {
  if (body instanceof Readable) return body;
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) return Readable.fromWeb(body as WebReadableStream<Uint8Array>);
  return Readable.from(body as AsyncIterable<Uint8Array>, { objectMode: false });
}

/**
 * Passes `body` through, counting and hashing; when the source ends and `expectedSha256` is given but not
 * matched, the stream fails instead of ending, so the consumer (a temp file, a multipart upload) never
 * completes the object.
 */
export function checkedStream(
  body: StreamBody,
  where: string,
  expectedSha256: string | undefined,
): { stream: Readable; result: () => { bytes: number; sha256: string } } {
  const hash = createHash('sha256');
  let bytes = 0;
  let sha256: string | undefined;
  const source = toNodeReadable(body);
  async function* countAndHash(): AsyncGenerator<Buffer> {
    for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      hash.update(buffer);
      bytes += buffer.byteLength;
      yield buffer;
    }
    sha256 = hash.digest('hex');
    if (expectedSha256 !== undefined && expectedSha256.toLowerCase() !== sha256) {
      throw new ChecksumMismatchError(where, expectedSha256.toLowerCase(), sha256, bytes);
    }
  }
  const stream = Readable.from(countAndHash(), { objectMode: false });
  return {
    stream,
    result: () => {
      if (sha256 === undefined) throw new Error(`the stream for ${where} has not ended`);
      return { bytes, sha256 };
    },
  };
}
