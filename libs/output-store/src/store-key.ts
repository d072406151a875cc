// Store keys: `/`-separated relative names such as `cat-1/chair/fast.glb`. The same key names a file under
// a local out folder and an object under an s3:// prefix, so every key is checked here, once, before either
// implementation maps it: no empty, `.` or `..` segment, no backslash or control character, no leading or
// trailing slash. A key that passes cannot leave the out location.

export class StoreKeyError extends Error {
  override readonly name = 'StoreKeyError';
}

const SEGMENT = /^[^/\\\u0000-\u001f\u007f]+$/;

export function checkedKey(key: string): string {
  const segments = key.split('/');
  if (key.length === 0 || key.length > 900 || segments.some((segment) => segment === '.' || segment === '..' || !SEGMENT.test(segment))) {
    throw new StoreKeyError(`${JSON.stringify(key)} is not a valid output key: use 1-900 characters of "/"-separated names, none empty, "." or "..", without backslashes or control characters`);
  }
  return key;
}

/** `a/b` + `c.json` → `a/b/c.json`; each part must already be a valid key. */
export function joinKey(...parts: string[]): string {
  return checkedKey(parts.map(checkedKey).join('/'));
}
