// Who may use the dashboard. On 127.0.0.1 (the default) only this machine can reach it, and the Host
// header must name a loopback host (so a web page on another site cannot reach it by DNS rebinding).
// Bound anywhere else, a token is required: `?token=` once (it becomes an HttpOnly cookie) or
// `Authorization: Bearer`. Compared in constant time.
//
// Who is deciding (the review queue's reviewer) comes from here too, never from a page's body: a named
// token (`--reviewer-token alice=<secret>`) names its holder; a header (`--reviewer-header`) is believed
// only on connections from a configured trusted proxy address; on loopback without a token, the person
// is whoever runs the dashboard (this machine's user); the one shared `--token` names no one
// ("shared token").
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import { Reviewer } from '@trellis/contracts';

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

/** A token that names its holder: decisions sent with it are recorded under `name`. */
export interface NamedToken {
  name: string;
  token: string;
}

/** `alice=<secret>` (the CLI's --reviewer-token); the name is a reviewer name, the secret a token. */
export function parseNamedToken(text: string): NamedToken {
  const at = text.indexOf('=');
  const name = Reviewer.safeParse(at > 0 ? text.slice(0, at) : '');
  if (at <= 0 || !name.success) throw new DashboardConfigError(`--reviewer-token takes NAME=TOKEN (a reviewer's name, "=", then the token), not ${JSON.stringify(text.slice(0, 20))}…`);
  return { name: name.data, token: text.slice(at + 1) };
}

export function checkBinding(host: string, token: string | undefined, namedTokens: NamedToken[] = []): void {
  for (const named of namedTokens) {
    if (named.token.length < 16) throw new DashboardConfigError(`The token of reviewer ${JSON.stringify(named.name)} must be at least 16 characters.`);
  }
  if (new Set(namedTokens.map((named) => named.token)).size < namedTokens.length || namedTokens.some((named) => named.token === token)) {
    throw new DashboardConfigError('Each reviewer needs a token of their own (two tokens are the same).');
  }
  token ??= namedTokens[0]?.token;
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

/** `holder`: who the token names (a reviewer's name; "shared token" for the one `--token`; absent on loopback without tokens). */
export type AccessDecision = { allowed: true; setCookie?: string; holder?: string } | { allowed: false; status: number; message: string };

export const SHARED_TOKEN_HOLDER = 'shared token';

export interface AccessRules {
  token?: string;
  namedTokens?: NamedToken[];
}

/** Every token, checked in full each time (no early exit that would tell which one nearly matched). */
function holderOf(rules: AccessRules, given: string | undefined): string | undefined {
  let holder: string | undefined;
  if (rules.token !== undefined && tokensMatch(rules.token, given)) holder = SHARED_TOKEN_HOLDER;
  for (const named of rules.namedTokens ?? []) if (tokensMatch(named.token, given)) holder = named.name;
  return holder;
}

export function decideAccess(request: IncomingMessage, url: URL, rules: AccessRules | string | undefined): AccessDecision {
  const { token, namedTokens = [] } = typeof rules === 'object' ? rules : { token: rules };
  if (!token && namedTokens.length === 0) {
    const hostname = (request.headers.host ?? '').replace(/:\d+$/, '');
    return isLoopbackHost(hostname)
      ? { allowed: true }
      : { allowed: false, status: 421, message: 'This dashboard answers only to 127.0.0.1 / localhost.' };
  }
  const all = { token, namedTokens };
  const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
  const holder = holderOf(all, bearer) ?? holderOf(all, cookieValue(request, TOKEN_COOKIE));
  if (holder) return { allowed: true, holder };
  const fromQuery = url.searchParams.get('token') ?? undefined;
  const queryHolder = holderOf(all, fromQuery);
  if (queryHolder && fromQuery) {
    return { allowed: true, holder: queryHolder, setCookie: `${TOKEN_COOKIE}=${encodeURIComponent(fromQuery)}; HttpOnly; SameSite=Strict; Path=/` };
  }
  return { allowed: false, status: 401, message: 'Open the dashboard with ?token=<the token it was started with>.' };
}

/** A header naming the reviewer, set by an authenticating proxy; believed only from the proxy's own addresses. */
export interface ReviewerHeaderRule {
  /** e.g. `X-Forwarded-User`. */
  header: string;
  /** The proxy's addresses as the dashboard sees the connection's peer (e.g. `127.0.0.1`, `::ffff:10.0.0.5`). */
  trustedProxies: string[];
}

export class ReviewerUnknownError extends Error {}

const localUser = () => {
  try {
    return os.userInfo().username || 'local user';
  } catch {
    return 'local user';
  }
};

/**
 * The name a decision is recorded under. The header wins when the connection comes from a trusted proxy
 * (the proxy authenticated the person); from anywhere else it is ignored, so a browser cannot claim a name.
 */
export function reviewerOf(request: IncomingMessage, access: { holder?: string }, headerRule?: ReviewerHeaderRule): string {
  if (headerRule) {
    const peer = request.socket.remoteAddress ?? '';
    const value = request.headers[headerRule.header.toLowerCase()];
    if (headerRule.trustedProxies.includes(peer) && typeof value === 'string') {
      const named = Reviewer.safeParse(value);
      if (!named.success) throw new ReviewerUnknownError(`the ${headerRule.header} header does not name a reviewer (${named.error.issues[0]?.message})`);
      return named.data;
    }
  }
  return access.holder ?? localUser();
}
