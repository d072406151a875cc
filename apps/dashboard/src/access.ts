// Who may use the dashboard. On 127.0.0.1 (the default) only this machine can reach it, and the Host
// header must name a loopback host (so a web page on another site cannot reach it by DNS rebinding).
// Bound anywhere else, a token is required: `?token=` once (it becomes an HttpOnly cookie) or
// `Authorization: Bearer`. Compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TOKEN_COOKIE = 'trellis_dashboard_token';
export const TOKEN_ENV = 'TRELLIS_DASHBOARD_TOKEN';

export class DashboardConfigError extends Error {}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export const isLoopbackHost = (host: string) => LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);

/** Equal-length digests, so the comparison takes the same time whatever the token's length or content. */
export function tokensMatch(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(expected), digest(given));
}

export function checkBinding(host: string, token: string | undefined): void {
  if (!isLoopbackHost(host) && !token) {
    throw new DashboardConfigError(
      `The dashboard is bound to ${host}, which other machines can reach: set ${TOKEN_ENV} (or --token) to a long random value, or bind to 127.0.0.1.`,
    );
  }
  if (token !== undefined && token.length < 16) throw new DashboardConfigError('The dashboard token must be at least 16 characters.');
}

function cookieValue(request: IncomingMessage, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return undefined;
}

export type AccessDecision = { allowed: true; setCookie?: string } | { allowed: false; status: number; message: string };

export function decideAccess(request: IncomingMessage, url: URL, token: string | undefined): AccessDecision {
  if (!token) {
    const hostname = (request.headers.host ?? '').replace(/:\d+$/, '');
    return isLoopbackHost(hostname)
      ? { allowed: true }
      : { allowed: false, status: 421, message: 'This dashboard answers only to 127.0.0.1 / localhost.' };
  }
  const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
  if (tokensMatch(token, bearer) || tokensMatch(token, cookieValue(request, TOKEN_COOKIE))) return { allowed: true };
  const fromQuery = url.searchParams.get('token') ?? undefined;
  if (tokensMatch(token, fromQuery)) {
    return { allowed: true, setCookie: `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/` };
  }
  return { allowed: false, status: 401, message: 'Open the dashboard with ?token=<the token it was started with>.' };
}
