// Output folder names and workflow-id parts derived from a SKU as written. Pure and deterministic (no
// node:crypto): the workflows compute asset workflow ids with it too.

/** Slugs are cut here so `asset/<catalogId>/<folder>` stays far below Temporal's id limit (<= 255 chars). */
const MAX_SLUG_LENGTH = 48;
const SHORT_HASH_HEX_DIGITS = 12;
/** Names Windows refuses as files whatever the extension. */
const RESERVED_NAMES = /^(con|prn|aux|nul|com\d|lpt\d)$/i;

/**
 * The folder (and workflow-id part) of a SKU: the SKU itself when it is already a safe, readable name
 * (letters and digits of any script, ".", "_", "-"), else a readable slug plus a short hash of the SKU,
 * so different SKUs never share a folder: `chair, oak` → `chair-oak-3f9a0c51e2b7`. Never contains a path
 * separator, never is or starts with "." (so never ".."), never empty.
 */
export function skuFolderName(sku: string): string {
  const normalized = sku.normalize('NFC');
  const slug = [...normalized.replace(/[^\p{L}\p{N}._-]+/gu, '-').replace(/-{2,}/g, '-').replace(/^[-.]+/, '')]
    .slice(0, MAX_SLUG_LENGTH)
    .join('')
    .replace(/[-.]+$/, '');
  if (slug === normalized && !RESERVED_NAMES.test(slug)) return slug;
  return `${slug === '' ? 'sku' : slug}-${shortHashOf(normalized)}`;
}

/** 48 bits of FNV-1a 64 over the UTF-8 bytes: stable across machines and releases, never to be changed. */
export function shortHashOf(text: string): string {
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  let hash = 0xcbf29ce484222325n;
  for (const byte of utf8Bytes(text)) hash = ((hash ^ BigInt(byte)) * prime) & mask;
  return hash.toString(16).padStart(16, '0').slice(0, SHORT_HASH_HEX_DIGITS);
}

function utf8Bytes(text: string): number[] {
  const bytes: number[] = [];
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code < 0x80) bytes.push(code);
    else if (code < 0x800) bytes.push(0xc0 | (code >> 6), 0x80 | (code & 0x3f));
    else if (code < 0x10000) bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f));
    else bytes.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 0x3f), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f));
  }
  return bytes;
}
