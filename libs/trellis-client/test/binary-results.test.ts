// Raw GLB / MP4 results: streamed (not buffered), headers read, errors still classified.
import { describe, expect, it } from 'vitest';
import { clientFor, rejectionOf } from './helpers/client';
import { errorBody, jobId, readAll, requestId, serverTiming, stateId } from './helpers/fixtures';
import { sendJson, serveForEachTest, type Handler } from './helpers/http-server';

const serve = serveForEachTest();

const sha256 = 'c'.repeat(64);
const rawHeaders = (contentType: string, length: number) => ({
  'content-type': contentType,
  'content-length': length,
  'x-request-id': requestId,
  'x-server-timing': JSON.stringify(serverTiming),
  'x-glb-sha256': sha256,
});

describe('a raw GLB (openJobResult)', () => {
  it('streams the body as it arrives and reports the headers', async () => {
    let finishBody: () => void = () => undefined;
    const server = await serve((_, response) => {
      response.writeHead(200, rawHeaders('model/gltf-binary', 8));
      response.write(Buffer.from('glTF'));
      finishBody = () => response.end(Buffer.from([1, 2, 3, 4]));
    });

    // Resolves while the server still holds back half the body: nothing was buffered first.
    const result = await clientFor(server.url).openJobResult(jobId, 'model/gltf-binary');
    expect(server.requests[0]!.headers.accept).toBe('model/gltf-binary');
    expect(result).toMatchObject({ contentType: 'model/gltf-binary', contentLength: 8, requestId, sha256, serverTiming });

    finishBody();
    expect([...(await readAll(result.body))]).toEqual([...Buffer.from('glTF'), 1, 2, 3, 4]);
  });

  it('a connection lost mid-body errors the stream with a retryable connection_error', async () => {
    const server = await serve((_, response) => {
      response.writeHead(200, rawHeaders('model/gltf-binary', 1000));
      response.write(Buffer.alloc(10), () => setTimeout(() => response.socket?.destroy(), 20));
    });
    const result = await clientFor(server.url).openJobResult(jobId, 'model/gltf-binary');
    const error = await rejectionOf(readAll(result.body));
    expect(error).toMatchObject({ code: 'connection_error', retryable: true });
  });

  it("the caller's signal still cancels the stream after the headers, with its own reason", async () => {
    const server = await serve((_, response) => {
      response.writeHead(200, rawHeaders('model/gltf-binary', 1000));
      response.write(Buffer.alloc(10));
    });
    const controller = new AbortController();
    const result = await clientFor(server.url).openJobResult(jobId, 'model/gltf-binary', { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const error = await rejectionOf(readAll(result.body));
    expect(error).toBe(controller.signal.reason);
  });

  it('the time limit covers only the wait for headers, not a slow reader', async () => {
    const server = await serve((_, response) => {
      response.writeHead(200, rawHeaders('model/gltf-binary', 3));
      response.flushHeaders();
      setTimeout(() => response.end(Buffer.from([7, 8, 9])), 1000);
    });
    // Limits well apart (headers at once, body after 5x the limit), so a loaded machine cannot blur them.
    const result = await clientFor(server.url).openJobResult(jobId, 'model/gltf-binary', { timeoutMs: 200 });
    expect([...(await readAll(result.body))]).toEqual([7, 8, 9]);
  });

  it("a JSON error body in place of the GLB (the seed's 200 error) is thrown as that error", async () => {
    const server = await serve((_, response) => sendJson(response, 200, errorBody('extraction_error', 'no mesh')));
    const error = await rejectionOf(clientFor(server.url).openJobResult(jobId, 'model/gltf-binary'));
    expect(error).toMatchObject({ code: 'extraction_error', retryable: true, status: 200 });
  });

  it('a server that ignores Accept and answers JSON is bad_response', async () => {
    const server = await serve((_, response) => sendJson(response, 200, { glb: 'eA==' }));
    const error = await rejectionOf(clientFor(server.url).openJobResult(jobId, 'model/gltf-binary'));
    expect(error).toMatchObject({ code: 'bad_response' });
    expect((error as Error).message).toContain('expected model/gltf-binary, got application/json');
  });

  it('a malformed X-Server-Timing header is bad_response', async () => {
    const server = await serve((_, response) => {
      response.writeHead(200, { ...rawHeaders('model/gltf-binary', 1), 'x-server-timing': '{"compute_seconds": "soon"}' });
      response.end(Buffer.from([1]));
    });
    const error = await rejectionOf(clientFor(server.url).openJobResult(jobId, 'model/gltf-binary'));
    expect(error).toMatchObject({ code: 'bad_response' });
    expect((error as Error).message).toContain('X-Server-Timing');
  });
});

describe('openJobResult and openStatePreview', () => {
  it('asks for the media type given and returns the bytes', async () => {
    const server = await serve((request, response) => {
      response.writeHead(200, { 'content-type': request.headers.accept ?? '', 'x-request-id': requestId });
      response.end(Buffer.from('mp4!'));
    });
    const client = clientFor(server.url);

    const preview = await client.openJobResult(jobId, 'video/mp4');
    expect(server.requests[0]).toMatchObject({ method: 'GET', url: `/jobs/${jobId}/result` });
    expect(server.requests[0]!.headers.accept).toBe('video/mp4');
    expect((await readAll(preview.body)).toString()).toBe('mp4!');
    expect(preview.serverTiming).toBeUndefined();

    const statePreview = await client.openStatePreview(stateId);
    expect(server.requests[1]).toMatchObject({ method: 'GET', url: `/states/${stateId}/preview.mp4` });
    expect(statePreview.contentType).toBe('video/mp4');
    await statePreview.body.cancel();
  });

  it('a 404 is thrown with its code, not returned as a stream', async () => {
    const server = await serve((_, response) => sendJson(response, 404, errorBody('state_not_found', 'expired', false)));
    const error = await rejectionOf(clientFor(server.url).openStatePreview(stateId));
    expect(error).toMatchObject({ status: 404, code: 'state_not_found', retryable: false });
  });
});
