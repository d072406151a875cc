// Only files inside the output folder are served: every URL path is checked segment by segment, then
// resolved through symlinks and checked again, so neither `..`, an encoded slash nor a link leads out.
import fs from 'node:fs/promises';
import path from 'node:path';

/** Why a requested path was refused (the server answers 404 either way: nothing is confirmed to exist). */
export class UnsafePathError extends Error {}

const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * Resolves `urlPath` (still percent-encoded, e.g. "spring/SKU-1/fast.glb") inside `root`.
 * Hidden names (".trellis" reuse records, ".uploads") are refused too: the page never needs them.
 */
export async function resolveInside(root: string, urlPath: string): Promise<string> {
  const segments = urlPath.split('/').filter((segment) => segment !== '');
  if (segments.length === 0) throw new UnsafePathError('empty path');
  const decoded = segments.map((segment) => {
    let value: string;
    try {
      value = decodeURIComponent(segment);
    } catch {
      throw new UnsafePathError(`bad percent-encoding in ${JSON.stringify(segment)}`);
    }
    if (!SAFE_SEGMENT.test(value)) throw new UnsafePathError(`refused path segment ${JSON.stringify(value)}`);
    return value;
  });
  const realRoot = await fs.realpath(root);
  const candidate = path.join(realRoot, ...decoded);
  let real: string;
  try {
    real = await fs.realpath(candidate);
  } catch {
    throw new UnsafePathError(`no such file: ${decoded.join('/')}`);
  }
  if (!real.startsWith(realRoot + path.sep)) throw new UnsafePathError(`${decoded.join('/')} leads outside the output folder`);
  const stat = await fs.stat(real);
  if (!stat.isFile()) throw new UnsafePathError(`${decoded.join('/')} is not a file`);
  return real;
}
