// Who a review decision is recorded under, against the real server on loopback: a named token names its
// holder (in the Authorization header, or as the cookie `?token=` leaves), the shared token names no one,
// a reviewer header counts only from a trusted proxy's address, and a decision's body cannot name anyone.
// The queue route needs Temporal; here the decision routes are refused before any Temporal call, and the
// name is read with the same function the routes use (reviewerOf), on real requests.
import http from 'node:http';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { tempDir } from '@trellis/devstack/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { DashboardConfigError, checkBinding, parseNamedToken, startDashboard, type Dashboard } from '../src/index';
import { SHARED_TOKEN_HOLDER, decideAccess, reviewerOf, type AccessRules, type ReviewerHeaderRule } from '../src/access';

const ALICE = { name: 'alice', token: 'alice-secret-0123456789' };
const BOB = { name: 'bob', token: 'bob-secret-0123456789ab' };
const SHARED = 'shared-secret-0123456789';

/** A real request to a throw-away server, answered with who it would be recorded as. */
async function whoIs(rules: AccessRules, headers: Record<string, string>, headerRule?: ReviewerHeaderRule, query = ''): Promise<{ status: number; body: string }> {
  const server = http.createServer((request, response) => {
    const access = decideAccess(request, new URL(request.url ?? '/', 'http://x.invalid'), rules);
    if (!access.allowed) return void response.writeHead(access.status).end(access.message);
    try {
      const name = reviewerOf(request, access, headerRule);
      response.writeHead(200).end(name);
    } catch (error) {
      response.writeHead(400).end((error as Error).message);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    const response = await fetch(`http://127.0.0.1:${port}/${query}`, { headers, redirect: 'manual' });
    return { status: response.status, body: await response.text() };
  } finally {
    server.close();
  }
}

describe('reviewer identity', () => {
  const rules: AccessRules = { token: SHARED, namedTokens: [ALICE, BOB] };

  it('a named token names its holder; the shared one names no one; no token, no access', async () => {
    expect(await whoIs(rules, { Authorization: `Bearer ${ALICE.token}` })).toEqual({ status: 200, body: 'alice' });
    expect(await whoIs(rules, { Cookie: `trellis_dashboard_token=${encodeURIComponent(BOB.token)}` })).toEqual({ status: 200, body: 'bob' });
    expect(await whoIs(rules, { Authorization: `Bearer ${SHARED}` })).toEqual({ status: 200, body: SHARED_TOKEN_HOLDER });
    expect((await whoIs(rules, { Authorization: `Bearer ${ALICE.token}x` })).status).toBe(401);
    // ?token= becomes a cookie holding that same token (so the holder stays named on the next request).
    const viaQuery = await whoIs(rules, {}, undefined, `?token=${BOB.token}`);
    expect(viaQuery.status).toBe(200);
  });

  it('on loopback without tokens, the person running the dashboard', async () => {
    const local = await whoIs({}, { Host: '127.0.0.1' });
    expect(local.status).toBe(200);
    expect(local.body.length).toBeGreaterThan(0);
  });

  it('a reviewer header counts only from a trusted proxy address', async () => {
    const fromLoopback: ReviewerHeaderRule = { header: 'X-Forwarded-User', trustedProxies: ['127.0.0.1', '::ffff:127.0.0.1'] };
    const elsewhere: ReviewerHeaderRule = { header: 'X-Forwarded-User', trustedProxies: ['10.9.9.9'] };
    const headers = { Authorization: `Bearer ${ALICE.token}`, 'X-Forwarded-User': 'carol' };
    expect(await whoIs(rules, headers, fromLoopback)).toEqual({ status: 200, body: 'carol' });
    // From an address that is not the proxy's, the header is ignored: the token names the reviewer.
    expect(await whoIs(rules, headers, elsewhere)).toEqual({ status: 200, body: 'alice' });
    // A trusted header that names no one is an error, not a silent fallback.
    expect(await whoIs(rules, { ...headers, 'X-Forwarded-User': '   ' }, fromLoopback)).toMatchObject({ status: 400, body: expect.stringMatching(/X-Forwarded-User header does not name a reviewer/) });
  });

  it('named tokens are checked like the shared one: long enough, each its own, NAME=TOKEN', () => {
    expect(parseNamedToken('alice=alice-secret-0123456789')).toEqual(ALICE);
    expect(parseNamedToken('bo b=tok=en-with-equals-0123')).toEqual({ name: 'bo b', token: 'tok=en-with-equals-0123' });
    expect(() => parseNamedToken('no-name-here')).toThrow(DashboardConfigError);
    expect(() => parseNamedToken('=secret-0123456789abc')).toThrow(/NAME=TOKEN/);
    expect(() => checkBinding('0.0.0.0', undefined, [{ name: 'a', token: 'short' }])).toThrow(/at least 16/);
    expect(() => checkBinding('0.0.0.0', undefined, [ALICE, { name: 'eve', token: ALICE.token }])).toThrow(/token of their own/);
    expect(() => checkBinding('0.0.0.0', ALICE.token, [ALICE])).toThrow(/token of their own/);
    // Named tokens alone make a non-loopback binding safe.
    expect(() => checkBinding('0.0.0.0', undefined, [ALICE])).not.toThrow();
  });
});

describe('decision routes refuse before reaching Temporal', () => {
  const opened: Dashboard[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((dashboard) => dashboard.close()));
  });

  it('a reviewer in the body, a cross-site post, a non-JSON body, a bad catalog id', async () => {
    const outDir = path.join(await tempDir('dashboard-review-'), 'out');
    const dashboard = await startDashboard({ client: new Client(), outDir, startCatalog: async () => undefined, namedTokens: [ALICE] });
    opened.push(dashboard);
    const post = async (pathname: string, body: string, headers: Record<string, string> = {}) => {
      const response = await fetch(new URL(pathname, dashboard.url), {
        method: 'POST',
        headers: { Authorization: `Bearer ${ALICE.token}`, 'Content-Type': 'application/json', ...headers },
        body,
      });
      return { status: response.status, body: (await response.json()) as { error: string } };
    };
    const item = '/api/catalogs/spring/review/items/MUG-1';
    expect(await post(item, JSON.stringify({ decision: 'approve', attempt: 0, reviewer: 'mallory' }))).toMatchObject({ status: 400, body: { error: expect.stringMatching(/reviewer/) } });
    expect(await post(item, JSON.stringify({ decision: 'reject', attempt: 0, reason: '  ' }))).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^reason: say why/) } });
    expect(await post(item, JSON.stringify({ decision: 'publish', attempt: 0 }))).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^decision: /) } });
    expect(await post(item, 'decision=approve', { 'Content-Type': 'application/x-www-form-urlencoded' })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/application\/json/) } });
    expect(await post(item, '{not json')).toMatchObject({ status: 400, body: { error: 'the body is not JSON' } });
    expect(await post(item, JSON.stringify({ decision: 'approve', attempt: 0 }), { Origin: 'https://elsewhere.example' })).toMatchObject({ status: 403 });
    expect(await post('/api/catalogs/Not_A_Catalog/review/items/MUG-1', JSON.stringify({ decision: 'approve', attempt: 0 }))).toMatchObject({ status: 404 });
    expect(await post('/api/catalogs/spring/review/approve-above', JSON.stringify({ minScore: 2, shown: [] }))).toMatchObject({ status: 400, body: { error: expect.stringMatching(/minScore/) } });
    expect((await fetch(new URL(item, dashboard.url), { method: 'POST', body: '{}' })).status).toBe(401);
  });
});
