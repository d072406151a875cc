// The dashboard's HTTP server (node:http, no framework: a dozen routes do not need one). It holds the
// Temporal client; the page gets JSON and files only, never a credential of Temporal or the service.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { Client } from '@temporalio/client';
import { DEFAULT_PIPELINE_TYPE, DEFAULT_PRESET_NAMES, PipelineType, builtInPresets } from '@trellis/contracts';
import { z } from 'zod';
import { CatalogId, Sku } from '@trellis/contracts';
import { ReviewerUnknownError, checkBinding, decideAccess, reviewerOf, type AccessDecision, type NamedToken, type ReviewerHeaderRule } from './access';
import { catalogDetail, listCatalogs, pathsRelativeTo } from './catalog-data';
import { BulkApproveRequest, DecisionRefused, DecisionRequest, ReviewQueue, ReviewQueueUnavailable, approveAbove, listReviewQueue, sendDecision, withUrls } from './review-queue';
import { openOutputStore, parseOutLocation, type OutputStore } from '@trellis/output-store';
import { UnsafePathError, keyOfUrlPath } from './safe-path';
import { MAX_UPLOAD_BYTES, TryRequest, UploadError, startTryOneImage, type StartCatalog } from './try-one-image';

export interface DashboardOptions {
  client: Client;
  /** The out location conversions write to (`--out`: a folder or s3://bucket/prefix); the only place outputs are served from. */
  outDir: string;
  startCatalog: StartCatalog;
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Required when `host` is not a loopback address (or `namedTokens`). Decisions sent with it are recorded as "shared token". */
  token?: string;
  /** Tokens that name their holder: a reviewer's decisions are recorded under their name. */
  namedTokens?: NamedToken[];
  /** A header naming the reviewer, believed only on connections from the trusted proxy addresses. */
  reviewerHeader?: ReviewerHeaderRule;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

const publicDir = fileURLToPath(new URL('../public/', import.meta.url));
const require = createRequire(import.meta.url);
/** The self-contained build (three.js included), served from node_modules: no CDN. */
const modelViewerFile = require.resolve('@google/model-viewer/dist/model-viewer.min.js');

/**
 * Decoders for compressed channel files, served here too: three.js's Draco decoder (the glTF build
 * DRACOLoader loads into a worker) and meshoptimizer's decoder script, which model-viewer loads before
 * its first EXT_meshopt_compression file. viewer-config.js points model-viewer at both.
 */
const dracoDir = path.dirname(require.resolve('three/examples/jsm/libs/draco/gltf/draco_decoder.wasm'));
const meshoptDecoderFile = require.resolve('meshoptimizer/decoder.cjs');

const staticFiles: Record<string, string> = {
  '/': path.join(publicDir, 'index.html'),
  '/assets/app.js': path.join(publicDir, 'app.js'),
  '/assets/dom.js': path.join(publicDir, 'dom.js'),
  '/assets/review.js': path.join(publicDir, 'review.js'),
  '/assets/style.css': path.join(publicDir, 'style.css'),
  '/assets/viewer-config.js': path.join(publicDir, 'viewer-config.js'),
  '/assets/model-viewer.js': modelViewerFile,
  '/assets/draco/draco_wasm_wrapper.js': path.join(dracoDir, 'draco_wasm_wrapper.js'),
  '/assets/draco/draco_decoder.wasm': path.join(dracoDir, 'draco_decoder.wasm'),
  '/assets/draco/draco_decoder.js': path.join(dracoDir, 'draco_decoder.js'),
  '/assets/meshopt_decoder.js': meshoptDecoderFile,
};

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.glb': 'model/gltf-binary',
  '.mp4': 'video/mp4',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
};

const securityHeaders = {
  // model-viewer decodes textures through blob: URLs and styles its shadow DOM inline; its Draco and
  // meshopt decoders are WebAssembly, which a CSP blocks unless script-src allows 'wasm-unsafe-eval'
  // (compiling WebAssembly only: still no eval of JavaScript, no inline scripts).
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; media-src 'self'; connect-src 'self' blob: data:; worker-src 'self' blob:; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { ...securityHeaders, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  response.end(JSON.stringify(body));
}

/** The page's own files (HTML, scripts, decoders), from the package. */
async function sendFile(response: ServerResponse, file: string, download: boolean): Promise<void> {
  const info = await stat(file);
  response.writeHead(200, {
    ...securityHeaders,
    'Content-Type': contentTypes[path.extname(file)] ?? 'application/octet-stream',
    'Content-Length': info.size,
    'Cache-Control': 'no-cache',
    ...(download ? { 'Content-Disposition': `attachment; filename="${path.basename(file).replace(/"/g, '')}"` } : {}),
  });
  await new Promise<void>((resolve, reject) => createReadStream(file).on('error', reject).on('end', resolve).pipe(response));
}

/** A JSON body too large or not JSON, or a route's input its schema refuses: answered 400 with the reason. */
class BadRequest extends Error {}

const issuesText = (error: z.ZodError) => error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');

/** Only the dashboard's own page may change anything (no cross-site form or fetch posts). */
function crossOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  return origin !== undefined && origin !== `http://${request.headers.host}` && origin !== `https://${request.headers.host}`;
}

const MAX_JSON_BYTES = 256 * 1024;

/**
 * A JSON body read and checked against its schema. `Content-Type: application/json` is required: a
 * cross-site form cannot send it without a CORS preflight, which this server never answers.
 */
async function readJsonBody<T>(request: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  if ((request.headers['content-type'] ?? '').split(';')[0]!.trim() !== 'application/json') throw new BadRequest('send the body as Content-Type: application/json');
  let value: unknown;
  try {
    value = JSON.parse((await readBody(request, MAX_JSON_BYTES)).toString('utf8'));
  } catch (error) {
    throw new BadRequest(error instanceof UploadError ? error.message : 'the body is not JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new BadRequest(issuesText(parsed.error));
  return parsed.data;
}

/**
 * An output (GLB, preview, poster, report), streamed from the store through this server: the page never
 * gets a store credential or a URL of the store, and the CSP keeps every fetch on this origin.
 */
async function sendOutput(response: ServerResponse, store: OutputStore, key: string, download: boolean): Promise<boolean> {
  const info = await store.head(key, { sha256: false });
  const body = info === undefined ? undefined : await store.getStream(key);
  if (info === undefined || body === undefined) return false;
  const name = path.posix.basename(key);
  response.writeHead(200, {
    ...securityHeaders,
    'Content-Type': contentTypes[path.posix.extname(key)] ?? 'application/octet-stream',
    'Content-Length': info.bytes,
    'Cache-Control': 'no-cache',
    ...(download ? { 'Content-Disposition': `attachment; filename="${name.replace(/"/g, '')}"` } : {}),
  });
  await new Promise<void>((resolve, reject) => body.on('error', reject).on('end', resolve).pipe(response));
  return true;
}

async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new UploadError(`the upload is larger than ${limit / 1024 / 1024} MiB`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const host = options.host ?? '127.0.0.1';
  checkBinding(host, options.token, options.namedTokens);
  const parsedOut = parseOutLocation(options.outDir);
  const outDir = parsedOut.kind === 'local' ? parsedOut.root : options.outDir;
  const store = openOutputStore(outDir);
  const { client } = options;

  /** The review queue's routes: GET the queue, POST a decision on one SKU, POST "approve all at or above S". */
  async function reviewRoute(request: IncomingMessage, response: ServerResponse, access: AccessDecision & { allowed: true }, catalogId: string, rest: string): Promise<void> {
    if (!CatalogId.safeParse(catalogId).success) return sendJson(response, 404, { error: 'no such catalog' });
    if (request.method === 'GET' && rest === '') {
      const items = await listReviewQueue(client, catalogId);
      return sendJson(response, 200, ReviewQueue.parse({ catalogId, reviewer: reviewerOf(request, access, options.reviewerHeader), items: items.map(withUrls) }));
    }
    if (request.method !== 'POST') return sendJson(response, 405, { error: 'not found' });
    if (crossOrigin(request)) return sendJson(response, 403, { error: 'cross-origin requests may not send review decisions' });
    const reviewer = reviewerOf(request, access, options.reviewerHeader);
    if (rest === '/approve-above') {
      return sendJson(response, 200, await approveAbove(client, catalogId, await readJsonBody(request, BulkApproveRequest), reviewer));
    }
    const skuMatch = /^\/items\/([^/]+)$/.exec(rest);
    const sku = skuMatch ? Sku.safeParse(decodeURIComponent(skuMatch[1]!)) : undefined;
    if (!sku?.success) return sendJson(response, 404, { error: 'not found' });
    const decision = await readJsonBody(request, DecisionRequest);
    try {
      return sendJson(response, 200, await sendDecision(client, catalogId, sku.data, decision, reviewer));
    } catch (error) {
      if (error instanceof DecisionRefused) return sendJson(response, error.status, { error: error.message, code: error.code });
      throw error;
    }
  }

  async function route(request: IncomingMessage, response: ServerResponse, url: URL, access: AccessDecision & { allowed: true }): Promise<void> {
    const { pathname } = url;
    if (request.method === 'GET' && staticFiles[pathname]) return sendFile(response, staticFiles[pathname], false);
    if (request.method === 'GET' && pathname === '/api/options') {
      return sendJson(response, 200, {
        pipelines: PipelineType.options,
        defaultPipeline: DEFAULT_PIPELINE_TYPE,
        presets: Object.keys(builtInPresets),
        defaultPresets: DEFAULT_PRESET_NAMES,
      });
    }
    if (request.method === 'GET' && pathname === '/api/catalogs') return sendJson(response, 200, await listCatalogs(client, outDir));
    const reviewMatch = /^\/api\/catalogs\/([^/]+)\/review(\/.*)?$/.exec(pathname);
    if (reviewMatch) return reviewRoute(request, response, access, decodeURIComponent(reviewMatch[1]!), reviewMatch[2] ?? '');
    const catalogMatch = /^\/api\/catalogs\/([^/]+)$/.exec(pathname);
    if (request.method === 'GET' && catalogMatch) {
      const detail = await catalogDetail(client, outDir, decodeURIComponent(catalogMatch[1]!));
      return detail ? sendJson(response, 200, detail) : sendJson(response, 404, { error: 'no such catalog' });
    }
    if (request.method === 'POST' && pathname === '/api/try') {
      if (crossOrigin(request)) return sendJson(response, 403, { error: 'cross-origin requests may not start conversions' });
      const parsed = TryRequest.safeParse({
        pipeline: url.searchParams.get('pipeline') ?? DEFAULT_PIPELINE_TYPE,
        presets: (url.searchParams.get('presets') ?? 'fast').split(',').filter(Boolean),
        contentType: (request.headers['content-type'] ?? '').split(';')[0]!.trim(),
        fileName: url.searchParams.get('name') ?? undefined,
      });
      if (!parsed.success) {
        return sendJson(response, 400, { error: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ') });
      }
      const image = await readBody(request, MAX_UPLOAD_BYTES);
      return sendJson(response, 202, await startTryOneImage(outDir, parsed.data, image, options.startCatalog));
    }
    if (request.method === 'GET' && pathname.startsWith('/files/')) {
      let key: string;
      try {
        key = keyOfUrlPath(pathname.slice('/files/'.length));
      } catch (error) {
        if (error instanceof UnsafePathError) return sendJson(response, 404, { error: 'not found' });
        throw error;
      }
      if (await sendOutput(response, store, key, url.searchParams.has('download'))) return;
      return sendJson(response, 404, { error: 'not found' });
    }
    sendJson(response, request.method === 'GET' ? 404 : 405, { error: 'not found' });
  }

  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://dashboard.invalid');
    const access = decideAccess(request, url, { token: options.token, namedTokens: options.namedTokens });
    if (!access.allowed) return sendJson(response, access.status, { error: access.message });
    if (access.setCookie) {
      // Drop the token from the address bar (and from history) once it is a cookie.
      url.searchParams.delete('token');
      response.writeHead(303, { 'Set-Cookie': access.setCookie, Location: `${url.pathname}${url.search}` });
      return void response.end();
    }
    route(request, response, url, access).catch((error: unknown) => {
      const status =
        error instanceof UploadError || error instanceof BadRequest || error instanceof ReviewerUnknownError ? 400 : error instanceof ReviewQueueUnavailable ? 503 : 500;
      if (status === 500) console.error('dashboard:', error);
      if (!response.headersSent) sendJson(response, status, { error: pathsRelativeTo(outDir, (error as Error).message) });
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
