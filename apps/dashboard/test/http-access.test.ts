// The dashboard's own HTTP rules, against the real server on loopback: files only from inside the output
// folder (traversal, encoded slashes, hidden folders, symlinks out), the Host check on 127.0.0.1, and the
// token when bound elsewhere. These routes never reach Temporal, so the client's lazy connection stays unused.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { tempDir } from '@trellis/devstack/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { DashboardConfigError, startDashboard, tokensMatch, type Dashboard } from '../src/index';

const opened: Dashboard[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((dashboard) => dashboard.close()));
});

async function outputFolder() {
  const root = await tempDir('dashboard-http-');
  const outDir = path.join(root, 'out');
  fs.mkdirSync(path.join(outDir, 'spring', 'MUG-1', '.trellis'), { recursive: true });
  fs.writeFileSync(path.join(outDir, 'spring', 'MUG-1', 'fast.glb'), 'glTF-bytes');
  fs.writeFileSync(path.join(outDir, 'spring', 'MUG-1', '.trellis', 'fast.json'), '{}');
  fs.writeFileSync(path.join(root, 'secret.txt'), 'outside the output folder');
  fs.symlinkSync(path.join(root, 'secret.txt'), path.join(outDir, 'spring', 'link.txt'));
  return { root, outDir };
}

async function serve(outDir: string, extra: { host?: string; token?: string } = {}) {
  const dashboard = await startDashboard({ client: new Client(), outDir, startCatalog: async () => undefined, ...extra });
  opened.push(dashboard);
  return dashboard;
}

/** A raw request, so the path reaches the server exactly as written (fetch would normalise `..`). */
function rawGet(base: string, rawPath: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, path: rawPath, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: response.headers }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('dashboard HTTP', () => {
  it('serves files inside the output folder and nothing outside it', async () => {
    const { outDir } = await outputFolder();
    const { url } = await serve(outDir);
    const ok = await rawGet(url, '/files/spring/MUG-1/fast.glb');
    expect(ok).toMatchObject({ status: 200, body: 'glTF-bytes' });
    expect(ok.headers['content-type']).toBe('model/gltf-binary');
    expect((await rawGet(url, '/files/spring/MUG-1/fast.glb?download')).headers['content-disposition']).toContain('attachment');
    for (const attempt of [
      '/files/../secret.txt',
      '/files/spring/../../secret.txt',
      '/files/%2e%2e/secret.txt',
      '/files/spring%2f..%2f..%2fsecret.txt',
      '/files/..%5csecret.txt',
      '/files/spring/link.txt',
      '/files/spring/MUG-1/.trellis/fast.json',
      '/files/spring/MUG-1',
      '/files/spring/MUG-1/%00fast.glb',
      '/files/',
    ]) {
      const answer = await rawGet(url, attempt);
      expect(answer.status, attempt).toBe(404);
      expect(answer.body).not.toContain('outside the output folder');
    }
  });

  it('on 127.0.0.1 answers only to loopback Host names (DNS rebinding)', async () => {
    const { outDir } = await outputFolder();
    const { url } = await serve(outDir);
    expect((await rawGet(url, '/files/spring/MUG-1/fast.glb', { Host: 'localhost:1234' })).status).toBe(200);
    expect((await rawGet(url, '/files/spring/MUG-1/fast.glb', { Host: 'attacker.example:80' })).status).toBe(421);
  });

  it('requires the token when one is set, and turns ?token= into an HttpOnly cookie', async () => {
    const { outDir } = await outputFolder();
    const token = 'a-long-enough-dashboard-token';
    const { url } = await serve(outDir, { token });
    expect((await rawGet(url, '/files/spring/MUG-1/fast.glb')).status).toBe(401);
    expect((await rawGet(url, '/files/spring/MUG-1/fast.glb', { Authorization: 'Bearer wrong-token-wrong-token' })).status).toBe(401);
    expect((await rawGet(url, '/files/spring/MUG-1/fast.glb', { Authorization: `Bearer ${token}` })).status).toBe(200);
    const login = await rawGet(url, `/?token=${token}`);
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/');
    const cookie = String(login.headers['set-cookie']);
    expect(cookie).toContain('HttpOnly');
    expect((await rawGet(url, '/files/spring/MUG-1/fast.glb', { Cookie: cookie.split(';')[0]! })).status).toBe(200);
  });

  it('refuses to bind beyond loopback without a token', async () => {
    const { outDir } = await outputFolder();
    await expect(serve(outDir, { host: '0.0.0.0' })).rejects.toBeInstanceOf(DashboardConfigError);
    await expect(serve(outDir, { host: '0.0.0.0', token: 'short' })).rejects.toThrow(/at least 16/);
    expect(tokensMatch('same-token', 'same-token')).toBe(true);
    expect(tokensMatch('same-token', 'same-token-but-longer')).toBe(false);
    expect(tokensMatch('same-token', undefined)).toBe(false);
  });

  it('rejects an upload that is not an image type before reading it', async () => {
    const { outDir } = await outputFolder();
    const { url } = await serve(outDir);
    const response = await fetch(new URL('/api/try?pipeline=512&presets=fast', url), { method: 'POST', body: 'hello', headers: { 'Content-Type': 'text/plain' } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/PNG, JPEG or WebP/);
    const crossSite = await fetch(new URL('/api/try?pipeline=512&presets=fast', url), {
      method: 'POST',
      body: 'x',
      headers: { 'Content-Type': 'image/png', Origin: 'https://attacker.example' },
    });
    expect(crossSite.status).toBe(403);
    const badPipeline = await fetch(new URL('/api/try?pipeline=9999&presets=fast', url), { method: 'POST', body: 'x', headers: { 'Content-Type': 'image/png' } });
    expect(badPipeline.status).toBe(400);
  });
});
