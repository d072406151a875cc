import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageError, imageSha256Of, loadImage, type ImageErrorCode } from '../src/files';
import { pngBytes, realImage, tempDir, webpBytes, writeFiles } from './helpers';

async function imageError(promise: Promise<unknown>): Promise<ImageError> {
  const error = await promise.catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ImageError);
  return error as ImageError;
}

function expectImageError(error: ImageError, code: ImageErrorCode, retryable: boolean, message: RegExp): void {
  expect({ code: error.code, retryable: error.retryable }).toEqual({ code, retryable });
  expect(error.message).toMatch(message);
}

describe('loadImage from files', () => {
  it('sniffs PNG, JPEG and WebP from magic bytes (not the extension); an image within the limits is sent as it is', async () => {
    const dir = await tempDir();
    const png = await realImage(640, 480, 'png');
    await writeFiles(dir, { 'a.png': png, 'photo.png': await realImage(300, 200, 'jpeg'), 'c.webp': await realImage(1024, 768, 'webp') });
    const loaded = await loadImage('a.png', dir);
    expect(loaded).toMatchObject({ width: 640, height: 480, mediaType: 'image/png', source: path.join(dir, 'a.png'), adjustments: [] });
    expect(loaded.sha256).toBe(imageSha256Of(png));
    expect(loaded.bytes.equals(png)).toBe(true);
    expect(await loadImage('photo.png', dir)).toMatchObject({ width: 300, height: 200, mediaType: 'image/jpeg' });
    expect(await loadImage('c.webp', dir)).toMatchObject({ width: 1024, height: 768, mediaType: 'image/webp' });
  });

  it('resolves paths in subfolders relative to the catalog folder', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'images'));
    await writeFiles(path.join(dir, 'images'), { 'x.png': await realImage(10, 20, 'png') });
    expect((await loadImage(' images/x.png ', dir)).height).toBe(20);
  });

  it('missing file: image_not_found, naming the path and the catalog folder', async () => {
    const dir = await tempDir();
    const error = await imageError(loadImage('nope.png', dir));
    expectImageError(error, 'image_not_found', false, new RegExp(`${path.join(dir, 'nope.png')} does not exist .*relative to ${dir}.*fix the image path`));
  });

  it('too many bytes: refused from the file size, before reading', async () => {
    const dir = await tempDir();
    await writeFiles(dir, { 'big.png': Buffer.concat([pngBytes(10, 10), Buffer.alloc(2000)]) });
    const error = await imageError(loadImage('big.png', dir, { maxBytes: 1000 }));
    expectImageError(error, 'image_too_large', false, /big\.png is 2\d{3} bytes, over the limit of 1000 bytes/);
  });

  it('not an image, another format, empty, truncated PNG/JPEG/WebP: image_unreadable', async () => {
    const dir = await tempDir();
    const png = await realImage(64, 64, 'png');
    const jpeg = await realImage(64, 64, 'jpeg');
    const webp = webpBytes(64, 64);
    await writeFiles(dir, {
      'text.png': 'hello, not an image',
      'anim.png': Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'),
      'empty.png': Buffer.alloc(0),
      'cut.png': png.subarray(0, png.length - 12),
      'cut.jpg': jpeg.subarray(0, jpeg.length - 2),
      'cut-header.jpg': jpeg.subarray(0, 10),
      'cut.webp': webp.subarray(0, webp.length - 3),
    });
    const cases: [string, RegExp][] = [
      ['text.png', /not a PNG, JPEG or WebP image/],
      // A GIF goes to the decoder (GIFs are readable); this one is cut short.
      ['anim.png', /cannot be decoded \(.*gif/i],
      ['empty.png', /the file is empty/],
      ['cut.png', /the PNG is truncated/],
      ['cut.jpg', /the JPEG is truncated \(no end-of-image marker\)/],
      ['cut-header.jpg', /the JPEG is truncated/],
      ['cut.webp', /the WebP is truncated/],
    ];
    for (const [name, reason] of cases) {
      const error = await imageError(loadImage(name, dir));
      expectImageError(error, 'image_unreadable', false, reason);
      expect(error.message).toContain(path.join(dir, name));
      expect(error.message).toMatch(/Replace it with a complete PNG, JPEG or WebP file/);
    }
  });

  it('a folder where an image should be', async () => {
    const dir = await tempDir();
    const error = await imageError(loadImage('.', dir));
    expectImageError(error, 'image_unreadable', false, /is not a file/);
  });
});

describe('loadImage from http(s) URLs', () => {
  let server: Server;
  let baseUrl: string;
  let bigBytesSent = 0;
  let png: Buffer;

  beforeAll(async () => {
    png = await realImage(32, 16, 'png');
    server = createServer((request, response) => {
      switch (request.url) {
        case '/ok.png':
          response.writeHead(200, { 'content-type': 'image/png' }).end(png);
          return;
        case '/missing.png':
          response.writeHead(404).end('not here');
          return;
        case '/down.png':
          response.writeHead(503).end('busy');
          return;
        case '/throttled.png':
          response.writeHead(429).end('slow down');
          return;
        case '/declared-huge.png':
          response.writeHead(200, { 'content-length': String(500 * 1024 * 1024) });
          response.write(png.subarray(0, 8));
          // never finishes: the client must give up on the declared size alone
          return;
        case '/streamed-huge.png': {
          // No content-length: the client has to count while streaming. 64 KiB chunks, up to 20 MiB.
          response.writeHead(200, { 'content-type': 'image/png' });
          const chunk = Buffer.alloc(64 * 1024);
          const sendMore = () => {
            while (bigBytesSent < 20 * 1024 * 1024) {
              bigBytesSent += chunk.length;
              if (!response.write(chunk)) return void response.once('drain', sendMore);
            }
            response.end();
          };
          response.on('close', () => response.destroy());
          sendMore();
          return;
        }
        case '/slow.png':
          setTimeout(() => response.writeHead(200).end(png), 2_000).unref();
          return;
        default:
          response.writeHead(500).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('downloads and checks an image', async () => {
    const image = await loadImage(`${baseUrl}/ok.png`, '/unused');
    expect(image).toMatchObject({ width: 32, height: 16, mediaType: 'image/png', source: `${baseUrl}/ok.png` });
    expect(image.bytes.equals(png)).toBe(true);
  });

  it('HTTP 404 is permanent: not retryable', async () => {
    const error = await imageError(loadImage(`${baseUrl}/missing.png`, '/unused'));
    expectImageError(error, 'image_fetch_failed', false, /missing\.png could not be downloaded: HTTP 404.*check the URL/);
  });

  it('HTTP 503 and 429 are transient: retryable', async () => {
    expectImageError(await imageError(loadImage(`${baseUrl}/down.png`, '/unused')), 'image_fetch_failed', true, /HTTP 503/);
    expectImageError(await imageError(loadImage(`${baseUrl}/throttled.png`, '/unused')), 'image_fetch_failed', true, /HTTP 429/);
  });

  it('a connection refused is retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await imageError(loadImage(`http://127.0.0.1:${port}/x.png`, '/unused'));
    expectImageError(error, 'image_fetch_failed', true, /could not be downloaded \(ECONNREFUSED\)/);
  });

  it('too large by content-length: refused without reading the body', async () => {
    const error = await imageError(loadImage(`${baseUrl}/declared-huge.png`, '/unused'));
    expectImageError(error, 'image_too_large', false, /is 524288000 bytes, over the limit of 104857600 bytes \(100 MiB\); photos up to this size are scaled down/);
  });

  it('too large while streaming: the download stops at the cap', async () => {
    const error = await imageError(loadImage(`${baseUrl}/streamed-huge.png`, '/unused', { maxBytes: 1024 * 1024 }));
    expectImageError(error, 'image_too_large', false, /is more than 1048576 bytes, over the limit/);
    // The server was stopped long before its 20 MiB were all sent.
    expect(bigBytesSent).toBeLessThan(10 * 1024 * 1024);
  });

  it('a timeout is retryable; the caller\'s own abort passes through untouched', async () => {
    const timedOut = await imageError(loadImage(`${baseUrl}/slow.png`, '/unused', { timeoutMs: 100 }));
    expectImageError(timedOut, 'image_fetch_failed', true, /no complete answer within 100 ms/);
    const controller = new AbortController();
    const reason = new Error('activity cancelled');
    setTimeout(() => controller.abort(reason), 50);
    await expect(loadImage(`${baseUrl}/slow.png`, '/unused', { signal: controller.signal })).rejects.toBe(reason);
  });
});
