#!/usr/bin/env node
// Draws the example catalog: six small product pictures (PNG, written with node:zlib, no dependencies)
// and catalog.csv. Half have a transparent background, half a plain white one, so the service's
// foreground detection sees both cases. Run `node examples/make-example-catalog.mjs` to regenerate.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const SIZE = 384;
const SUPERSAMPLE = 4; // 4x4 samples per pixel: smooth (anti-aliased) edges
const outDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'catalog');

// ---------- shapes: each answers "is (x, y) inside?" in 0..1 picture coordinates ----------
const ellipse = (cx, cy, rx, ry) => (x, y) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
const rect = (x0, y0, x1, y1) => (x, y) => x >= x0 && x <= x1 && y >= y0 && y <= y1;
const roundedRect = (x0, y0, x1, y1, r) => (x, y) => {
  if (!rect(x0, y0, x1, y1)(x, y)) return false;
  const dx = Math.max(x0 + r - x, 0, x - (x1 - r));
  const dy = Math.max(y0 + r - y, 0, y - (y1 - r));
  return dx * dx + dy * dy <= r * r;
};
const polygon = (points) => (x, y) => {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i];
    const [xj, yj] = points[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
};
const minus = (shape, hole) => (x, y) => shape(x, y) && !hole(x, y);
const clipped = (shape, area) => (x, y) => shape(x, y) && area(x, y);

// ---------- shading: light from the upper left ----------
const mix = (a, b, t) => a.map((value, i) => value + (b[i] - value) * t);
/** A vertical cylinder spanning x0..x1: diffuse falloff to the sides plus a soft highlight. */
const cylinder = (color, x0, x1) => (x) => {
  const n = Math.max(-1, Math.min(1, ((x - x0) / (x1 - x0)) * 2 - 1));
  const diffuse = 0.45 + 0.55 * Math.max(0, -0.45 * n + 0.89 * Math.sqrt(1 - n * n));
  const highlight = 0.55 * Math.exp(-(((n + 0.4) / 0.13) ** 2));
  return mix(color.map((value) => value * diffuse), [255, 255, 255], highlight);
};
/** A flat panel, a little brighter at the top. */
const panel = (color, y0, y1, range = 0.25) => (_x, y) => {
  const t = Math.max(0, Math.min(1, (y - y0) / (y1 - y0)));
  return color.map((value) => value * (1 + range / 2 - range * t));
};
const flat = (color) => () => color;
const part = (shape, shade) => ({ shape, shade });

// ---------- the products ----------
const products = [
  {
    file: 'mug.png',
    background: 'transparent',
    parts: (() => {
      const teal = [38, 150, 160];
      const body = cylinder(teal, 0.28, 0.64);
      return [
        part(clipped(minus(ellipse(0.64, 0.53, 0.12, 0.14), ellipse(0.64, 0.53, 0.065, 0.085)), rect(0.6, 0, 1, 1)), panel(mix(teal, [0, 0, 0], 0.25), 0.39, 0.67)),
        part(rect(0.28, 0.3, 0.64, 0.78), (x) => body(x)),
        part(ellipse(0.46, 0.78, 0.18, 0.045), (x) => body(x)),
        part(ellipse(0.46, 0.3, 0.18, 0.045), flat(mix(teal, [255, 255, 255], 0.35))),
        part(ellipse(0.46, 0.302, 0.158, 0.034), panel([70, 40, 25], 0.27, 0.33, 0.6)),
      ];
    })(),
  },
  {
    file: 'sneaker.png',
    background: 'white',
    parts: (() => {
      const red = [205, 45, 50];
      return [
        part(polygon([[0.13, 0.67], [0.12, 0.5], [0.14, 0.41], [0.2, 0.36], [0.3, 0.38], [0.44, 0.45], [0.6, 0.5], [0.76, 0.55], [0.87, 0.61], [0.89, 0.67]]), panel(red, 0.36, 0.67, 0.45)),
        part(polygon([[0.3, 0.6], [0.52, 0.5], [0.78, 0.58], [0.55, 0.58]]), flat([245, 245, 240])),
        part(ellipse(0.22, 0.385, 0.075, 0.028), flat([45, 30, 30])),
        ...[0.36, 0.42, 0.48, 0.54].map((x, i) => part(ellipse(x, 0.42 + i * 0.027, 0.016, 0.011), flat([250, 250, 250]))),
        part(roundedRect(0.11, 0.66, 0.9, 0.73, 0.03), panel([228, 224, 214], 0.66, 0.73, 0.3)),
        part(roundedRect(0.11, 0.72, 0.9, 0.76, 0.02), flat([55, 52, 58])),
      ];
    })(),
  },
  {
    file: 'lamp.png',
    background: 'transparent',
    parts: (() => {
      const metal = [70, 72, 80];
      const shade = [238, 196, 84];
      const shadeShape = polygon([[0.38, 0.2], [0.62, 0.2], [0.75, 0.43], [0.25, 0.43]]);
      return [
        part(rect(0.485, 0.4, 0.515, 0.8), (x) => cylinder(metal, 0.485, 0.515)(x)),
        part(rect(0.34, 0.79, 0.66, 0.83), (x) => cylinder(metal, 0.34, 0.66)(x)),
        part(ellipse(0.5, 0.83, 0.16, 0.035), (x) => cylinder(metal, 0.34, 0.66)(x)),
        part(ellipse(0.5, 0.79, 0.16, 0.035), flat(mix(metal, [255, 255, 255], 0.3))),
        part(ellipse(0.5, 0.43, 0.25, 0.035), flat([255, 243, 200])),
        part(shadeShape, (x, y) => {
          const half = 0.12 + (0.13 * (y - 0.2)) / 0.23; // the shade widens downwards
          return cylinder(shade, 0.5 - half, 0.5 + half)(x);
        }),
        part(ellipse(0.5, 0.2, 0.12, 0.018), flat(mix(shade, [0, 0, 0], 0.35))),
      ];
    })(),
  },
  {
    file: 'bottle.png',
    background: 'white',
    parts: (() => {
      const glass = [36, 118, 72];
      const body = cylinder(glass, 0.36, 0.64);
      return [
        part(rect(0.46, 0.17, 0.54, 0.34), (x) => cylinder(glass, 0.46, 0.54)(x)),
        part(ellipse(0.5, 0.37, 0.14, 0.09), (x) => body(x)),
        part(rect(0.36, 0.37, 0.64, 0.8), (x) => body(x)),
        part(roundedRect(0.36, 0.6, 0.64, 0.87, 0.04), (x) => body(x)),
        part(rect(0.36, 0.52, 0.64, 0.72), (x) => cylinder([236, 226, 200], 0.36, 0.64)(x)),
        part(rect(0.36, 0.58, 0.64, 0.6), (x) => cylinder([180, 40, 45], 0.36, 0.64)(x)),
        part(roundedRect(0.455, 0.12, 0.545, 0.2, 0.01), (x) => cylinder([200, 170, 60], 0.455, 0.545)(x)),
      ];
    })(),
  },
  {
    file: 'chair.png',
    background: 'transparent',
    parts: (() => {
      const wood = [152, 96, 52];
      const dark = mix(wood, [0, 0, 0], 0.3);
      const leg = (x0, x1, y0, y1, color) => part(rect(x0, y0, x1, y1), (x) => cylinder(color, x0, x1)(x));
      return [
        leg(0.3, 0.325, 0.6, 0.85, dark),
        leg(0.64, 0.665, 0.6, 0.85, dark),
        leg(0.3, 0.33, 0.17, 0.58, wood),
        leg(0.61, 0.64, 0.17, 0.58, wood),
        part(roundedRect(0.29, 0.15, 0.65, 0.23, 0.02), panel(wood, 0.15, 0.23)),
        ...[0.39, 0.46, 0.53].map((x0) => leg(x0, x0 + 0.03, 0.23, 0.56, dark)),
        part(polygon([[0.28, 0.55], [0.66, 0.55], [0.75, 0.63], [0.35, 0.63]]), panel(mix(wood, [255, 255, 255], 0.12), 0.55, 0.63)),
        part(rect(0.35, 0.63, 0.75, 0.665), flat(dark)),
        part(polygon([[0.66, 0.55], [0.75, 0.63], [0.75, 0.665], [0.66, 0.58]]), flat(mix(dark, [0, 0, 0], 0.2))),
        leg(0.36, 0.39, 0.66, 0.92, wood),
        leg(0.71, 0.74, 0.66, 0.92, wood),
      ];
    })(),
  },
  {
    file: 'plant-pot.png',
    background: 'white',
    parts: (() => {
      const clay = [196, 102, 64];
      const leafColors = [[52, 140, 64], [40, 118, 52], [70, 160, 76]];
      const leaves = [
        [0.5, 0.26, 0.05, 0.15], [0.4, 0.32, 0.05, 0.12], [0.6, 0.32, 0.05, 0.12],
        [0.33, 0.38, 0.07, 0.04], [0.67, 0.38, 0.07, 0.04], [0.45, 0.2, 0.035, 0.1], [0.56, 0.21, 0.035, 0.1],
      ];
      return [
        ...leaves.map(([cx, cy, rx, ry], i) => part(ellipse(cx, cy, rx, ry), panel(leafColors[i % 3], cy - ry, cy + ry, 0.5))),
        part(polygon([[0.33, 0.46], [0.67, 0.46], [0.62, 0.86], [0.38, 0.86]]), (x, y) => {
          const half = 0.17 - (0.05 * (y - 0.46)) / 0.4; // the pot narrows downwards
          return cylinder(clay, 0.5 - half, 0.5 + half)(x);
        }),
        part(roundedRect(0.3, 0.4, 0.7, 0.47, 0.01), (x) => cylinder(mix(clay, [255, 255, 255], 0.1), 0.3, 0.7)(x)),
        part(ellipse(0.5, 0.405, 0.18, 0.018), flat([70, 48, 35])),
      ];
    })(),
  },
];

// ---------- rasterizing ----------
function render({ parts, background }) {
  const transparent = background === 'transparent';
  const channels = transparent ? 4 : 3;
  const pixels = Buffer.alloc(SIZE * SIZE * channels);
  const samples = SUPERSAMPLE * SUPERSAMPLE;
  for (let py = 0; py < SIZE; py++) {
    for (let px = 0; px < SIZE; px++) {
      let r = 0, g = 0, b = 0, covered = 0;
      for (let s = 0; s < samples; s++) {
        const x = (px + ((s % SUPERSAMPLE) + 0.5) / SUPERSAMPLE) / SIZE;
        const y = (py + (Math.floor(s / SUPERSAMPLE) + 0.5) / SUPERSAMPLE) / SIZE;
        let color;
        for (let i = parts.length - 1; i >= 0 && color === undefined; i--) {
          if (parts[i].shape(x, y)) color = parts[i].shade(x, y);
        }
        if (color === undefined) color = transparent ? undefined : [255, 255, 255];
        if (color === undefined) continue;
        r += color[0]; g += color[1]; b += color[2]; covered++;
      }
      const offset = (py * SIZE + px) * channels;
      const divisor = Math.max(covered, 1);
      pixels[offset] = clampByte(r / divisor);
      pixels[offset + 1] = clampByte(g / divisor);
      pixels[offset + 2] = clampByte(b / divisor);
      if (transparent) pixels[offset + 3] = clampByte((255 * covered) / samples);
    }
  }
  return encodePng(pixels, SIZE, SIZE, channels);
}

const clampByte = (value) => Math.max(0, Math.min(255, Math.round(value)));

// ---------- PNG encoding (RFC 2083): signature, IHDR, IDAT (zlib), IEND ----------
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}
function encodePng(pixels, width, height, channels) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bits per channel
  header[9] = channels === 4 ? 6 : 2; // RGBA or RGB
  const stride = width * channels;
  const filtered = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const row = filterRow(pixels, y, stride, channels);
    row.copy(filtered, y * (stride + 1));
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(filtered, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
/** Tries the five PNG filters on a row and keeps the one with the smallest sum of magnitudes (small files). */
function filterRow(pixels, y, stride, bpp) {
  const at = (x, dy) => (y + dy < 0 || x < 0 ? 0 : pixels[(y + dy) * stride + x]);
  const predictors = [
    () => 0,
    (x) => at(x - bpp, 0),
    (x) => at(x, -1),
    (x) => (at(x - bpp, 0) + at(x, -1)) >> 1,
    (x) => paeth(at(x - bpp, 0), at(x, -1), at(x - bpp, -1)),
  ];
  let best;
  let bestScore = Infinity;
  predictors.forEach((predict, type) => {
    const row = Buffer.alloc(stride + 1);
    row[0] = type;
    let score = 0;
    for (let x = 0; x < stride; x++) {
      const value = (pixels[y * stride + x] - predict(x)) & 0xff;
      row[x + 1] = value;
      score += value < 128 ? value : 256 - value;
    }
    if (score < bestScore) [best, bestScore] = [row, score];
  });
  return best;
}
function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// ---------- the catalog ----------
const CATALOG_CSV = [
  'sku,image,seed,pipeline_type,presets',
  'MUG-TEAL-350,mug.png,7,,fast',
  'SNEAKER-RUN-42,sneaker.png,,512,fast|balanced',
  'LAMP-DESK-01,lamp.png,,,',
  'BOTTLE-GLASS-750,bottle.png,1234,1024_cascade,',
  'CHAIR-OAK-01,chair.png,,,fast|quality',
  'POT-TERRACOTTA-S,plant-pot.png,99,,',
].join('\n');

mkdirSync(outDir, { recursive: true });
let total = 0;
for (const product of products) {
  const png = render(product);
  writeFileSync(path.join(outDir, product.file), png);
  total += png.length;
  console.log(`${product.file.padEnd(16)} ${SIZE}x${SIZE} ${product.background.padEnd(11)} ${(png.length / 1024).toFixed(1)} KiB`);
}
writeFileSync(path.join(outDir, 'example.csv'), `${CATALOG_CSV}\n`);
console.log(`wrote ${products.length} images (${(total / 1024).toFixed(1)} KiB) and catalog.csv to ${outDir}`);
