// Format and dimensions straight from the file header (magic bytes, not the extension), plus a cheap
// structural check that the file is complete — so a truncated upload fails here, not on the GPU.

export type ImageMediaType = 'image/png' | 'image/jpeg' | 'image/webp';

export type ImageHeader =
  | { ok: true; mediaType: ImageMediaType; width: number; height: number }
  | { ok: false; reason: string; decoderMayRead?: boolean };

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Formats people often try, named so the message can say what the file is. */
const OTHER_FORMATS: { name: string; matches: (bytes: Buffer) => boolean; decoderMayRead?: boolean }[] = [
  { name: 'a GIF image', matches: (b) => b.subarray(0, 4).toString('latin1') === 'GIF8', decoderMayRead: true },
  { name: 'a BMP image', matches: (b) => b.subarray(0, 2).toString('latin1') === 'BM' },
  { name: 'a TIFF image', matches: (b) => ['II*\0', 'MM\0*'].includes(b.subarray(0, 4).toString('latin1')), decoderMayRead: true },
  { name: 'a HEIC/AVIF image', matches: (b) => b.subarray(4, 8).toString('latin1') === 'ftyp', decoderMayRead: true },
  { name: 'a PDF document', matches: (b) => b.subarray(0, 5).toString('latin1') === '%PDF-' },
  { name: 'text or HTML (an error page?)', matches: (b) => /^\s*</.test(b.subarray(0, 64).toString('latin1')) },
];

export function readImageHeader(bytes: Buffer): ImageHeader {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return readPng(bytes);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return readJpeg(bytes);
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') {
    return readWebp(bytes);
  }
  if (bytes.length === 0) return { ok: false, reason: 'the file is empty' };
  const other = OTHER_FORMATS.find((format) => format.matches(bytes));
  return {
    ok: false,
    reason: `it is ${other?.name ?? 'not a PNG, JPEG or WebP image'}; only PNG, JPEG and WebP (and what the decoder reads: TIFF, GIF, AVIF) are supported`,
    decoderMayRead: other?.decoderMayRead,
  };
}

/** PNG: IHDR first, then chunks up to IEND; a chunk running past the end means the file is cut short. */
function readPng(bytes: Buffer): ImageHeader {
  if (bytes.length < 24 || bytes.toString('latin1', 12, 16) !== 'IHDR') return { ok: false, reason: 'the PNG header is truncated or damaged' };
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  for (let offset = 8; offset + 8 <= bytes.length; ) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length; // length + type + data + CRC
    if (end > bytes.length) break;
    if (type === 'IEND') return dimensions('image/png', width, height);
    offset = end;
  }
  return { ok: false, reason: 'the PNG is truncated (no IEND chunk)' };
}

/** JPEG: walk the marker segments to the frame header (SOFn), then make sure the end marker follows the scan. */
function readJpeg(bytes: Buffer): ImageHeader {
  let width = 0;
  let height = 0;
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return { ok: false, reason: 'the JPEG structure is damaged' };
    const marker = bytes[offset + 1]!;
    if (marker === 0xff) {
      offset += 1; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      offset += 2; // markers without a length
      continue;
    }
    const length = bytes.readUInt16BE(offset + 2);
    const isFrameHeader = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrameHeader && offset + 9 <= bytes.length) {
      height = bytes.readUInt16BE(offset + 5);
      width = bytes.readUInt16BE(offset + 7);
    }
    if (marker === 0xda) {
      if (width === 0 || height === 0) return { ok: false, reason: 'the JPEG has no usable frame header' };
      // Inside the scan, 0xFF bytes are escaped, so an 0xFFD9 after it can only be the end-of-image marker.
      const endOfImage = bytes.lastIndexOf(Buffer.from([0xff, 0xd9]));
      return endOfImage > offset ? dimensions('image/jpeg', width, height) : { ok: false, reason: 'the JPEG is truncated (no end-of-image marker)' };
    }
    offset += 2 + length;
  }
  return { ok: false, reason: 'the JPEG is truncated (no image data)' };
}

/** WebP: the RIFF size must fit in the file; dimensions come from the VP8, VP8L or VP8X chunk. */
function readWebp(bytes: Buffer): ImageHeader {
  if (bytes.readUInt32LE(4) + 8 > bytes.length) return { ok: false, reason: 'the WebP is truncated (shorter than its RIFF size)' };
  if (bytes.length < 30) return { ok: false, reason: 'the WebP header is truncated' };
  const chunk = bytes.toString('latin1', 12, 16);
  if (chunk === 'VP8X') {
    return dimensions('image/webp', 1 + bytes.readUIntLE(24, 3), 1 + bytes.readUIntLE(27, 3));
  }
  if (chunk === 'VP8L' && bytes[20] === 0x2f) {
    const bits = bytes.readUInt32LE(21);
    return dimensions('image/webp', 1 + (bits & 0x3fff), 1 + ((bits >>> 14) & 0x3fff));
  }
  if (chunk === 'VP8 ' && bytes[23] === 0x9d && bytes[24] === 0x01 && bytes[25] === 0x2a) {
    return dimensions('image/webp', bytes.readUInt16LE(26) & 0x3fff, bytes.readUInt16LE(28) & 0x3fff);
  }
  return { ok: false, reason: 'the WebP header is damaged or of an unknown kind' };
}

function dimensions(mediaType: ImageMediaType, width: number, height: number): ImageHeader {
  if (width === 0 || height === 0) return { ok: false, reason: `the header says the image is ${width}x${height} px` };
  return { ok: true, mediaType, width, height };
}
