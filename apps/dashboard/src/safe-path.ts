// Only outputs inside the out location are served: every URL path is checked segment by segment and
// becomes a store key (the store then keeps it inside the out folder or bucket prefix, and a local folder
// refuses symlinks that lead out), so neither `..`, an encoded slash nor a link leads anywhere else.

/** Why a requested path was refused (the server answers 404 either way: nothing is confirmed to exist). */
export class UnsafePathError extends Error {}

const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * The store key of `urlPath` (still percent-encoded, e.g. "spring/SKU-1/fast.glb").
 * Hidden names (".trellis" reuse records, ".uploads") are refused too: the page never needs them.
 */
export function keyOfUrlPath(urlPath: string): string {
  const segments = urlPath.split('/').filter((segment) => segment !== '');
  if (segments.length === 0) throw new UnsafePathError('empty path');
  return segments
    .map((segment) => {
      let value: string;
      try {
        value = decodeURIComponent(segment);
      } catch {
        throw new UnsafePathError(`bad percent-encoding in ${JSON.stringify(segment)}`);
      }
      if (!SAFE_SEGMENT.test(value)) throw new UnsafePathError(`refused path segment ${JSON.stringify(value)}`);
      return value;
    })
    .join('/');
}
