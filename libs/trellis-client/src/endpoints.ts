// Every route's URL from one base URL, in either layout of docs/service-api.md.
import { JobId, StateId, type JobKind } from '@trellis/contracts';

export const API_URL_ENV = 'TRELLIS2_API_URL';

export type SyncRoute = 'health' | 'warmup' | 'generate' | 'extract_glb';
export type UrlLayout = 'path' | 'subdomain';

/** Host label suffix of each route under Modal subdomain routing (one host per endpoint). */
const subdomainSuffix: Record<SyncRoute, string> = {
  health: 'health',
  warmup: 'warmup',
  generate: 'generate',
  extract_glb: 'extract-glb',
};

// `<ws>--<app>-<cls>-generate.modal.run`, also `...-generate-dev.modal.run` as `modal serve` names it.
const subdomainHost = /^(?<prefix>.+)-(?<route>generate|extract-glb|warmup|health)(?<dev>-dev)?\.modal\.run$/;
const syncRouteNames = Object.keys(subdomainSuffix) as SyncRoute[];

export class EndpointError extends Error {
  override readonly name = 'EndpointError';
}

/**
 * Path routing (the ASGI app, locally and on Modal): `<base>/generate`, `<base>/jobs/...`, ... — every route.
 * Subdomain routing (the seed's layout): one host per synchronous route and no jobs or states; work longer
 * than Modal's 150 s cut-off then relies on its 303 redirects.
 */
export class ServiceEndpoints {
  private constructor(
    readonly layout: UrlLayout,
    /** Path layout: the base without a trailing slash. Subdomain layout: `https://<prefix>-` … `.modal.run`. */
    private readonly base: string,
    private readonly subdomainTail = '',
  ) {}

  static fromBaseUrl(baseUrl: string): ServiceEndpoints {
    const url = parseServiceUrl(baseUrl);
    const match = subdomainHost.exec(url.hostname);
    if (match?.groups) {
      const origin = `${url.protocol}//${match.groups.prefix}-`;
      const tail = `${match.groups.dev ?? ''}.modal.run${url.port ? `:${url.port}` : ''}`;
      return new ServiceEndpoints('subdomain', origin, tail);
    }
    const segments = url.pathname.split('/').filter((segment) => segment !== '');
    // A seed-style `<base>/generate` (or any route URL) names the same service as `<base>`.
    if (syncRouteNames.includes(segments.at(-1) as SyncRoute)) segments.pop();
    const pathPrefix = segments.length > 0 ? `/${segments.join('/')}` : '';
    return new ServiceEndpoints('path', `${url.origin}${pathPrefix}`);
  }

  /** URL of a synchronous route; exists in both layouts. */
  route(name: SyncRoute): string {
    if (this.layout === 'subdomain') return `${this.base}${subdomainSuffix[name]}${this.subdomainTail}/`;
    return `${this.base}/${name}`;
  }

  submitJob(kind: JobKind): string {
    return `${this.pathRoutedBase('jobs')}/jobs/${kind}`;
  }

  job(jobId: JobId): string {
    return `${this.pathRoutedBase('jobs')}/jobs/${encodeURIComponent(JobId.parse(jobId))}`;
  }

  jobResult(jobId: JobId): string {
    return `${this.job(jobId)}/result`;
  }

  statePreview(stateId: StateId): string {
    return `${this.pathRoutedBase('state previews')}/states/${encodeURIComponent(StateId.parse(stateId))}/preview.mp4`;
  }

  private pathRoutedBase(what: string): string {
    if (this.layout === 'subdomain') {
      throw new EndpointError(
        `${what} need path routing, but ${API_URL_ENV} is a Modal subdomain URL (one host per endpoint, no ${what}). ` +
          'Use the URL of the ASGI app instead (e.g. https://<workspace>--<app>-api.modal.run), which serves every route.',
      );
    }
    return this.base;
  }
}

/** Resolves the base URL from the option or env TRELLIS2_API_URL. */
export function resolveBaseUrl(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const baseUrl = explicit ?? env[API_URL_ENV];
  if (!baseUrl?.trim()) {
    throw new EndpointError(`no service URL: pass { baseUrl } or set ${API_URL_ENV} (e.g. http://127.0.0.1:8787)`);
  }
  return baseUrl.trim();
}

function parseServiceUrl(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    // Echoed only when it cannot hold a `user:password@` part.
    const shown = baseUrl.includes('@') ? '' : `: ${JSON.stringify(baseUrl)}`;
    throw new EndpointError(`the service URL is not a valid URL${shown} (expected e.g. http://127.0.0.1:8787)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EndpointError(`the service URL must be http or https, not ${url.protocol.slice(0, -1)}`);
  }
  if (url.username || url.password) {
    // Never echo it: the user part is a credential.
    throw new EndpointError('the service URL must not contain a user name or password; credentials go in Modal-Key / Modal-Secret');
  }
  if (url.search || url.hash) {
    throw new EndpointError('the service URL must not have a query string or fragment');
  }
  return url;
}
