// Product photos the labelled set adds to examples/catalog: drawn as SVG and rasterised with sharp, some
// cut out (alpha), some on a plain backdrop saved as JPEG (noise at the border, as real photos have).
import sharp from 'sharp';

const SIZE = 384;

interface DrawnProduct {
  name: string;
  /** SVG elements in a 384 x 384 picture. */
  body: string;
  backdrop: 'transparent' | 'white' | 'light-grey';
}

const products: DrawnProduct[] = [
  {
    name: 'vase',
    backdrop: 'white',
    body: `<defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="#2a4d8f"/><stop offset="0.4" stop-color="#6f94d6"/><stop offset="1" stop-color="#1d3566"/></linearGradient></defs>
      <path d="M150 60 h84 v30 c0 30 60 60 60 140 c0 70 -40 100 -102 100 c-62 0 -102 -30 -102 -100 c0 -80 60 -110 60 -140 z" fill="url(#g)"/>`,
  },
  {
    name: 'star-ornament',
    backdrop: 'transparent',
    body: `<polygon points="192,40 228,150 344,150 250,218 286,330 192,262 98,330 134,218 40,150 156,150" fill="#e0b030" stroke="#8a6400" stroke-width="6"/>`,
  },
  {
    name: 'shelf',
    backdrop: 'light-grey',
    body: `<path d="M70 60 h60 v200 h190 v60 h-250 z" fill="#8b5a2b"/><path d="M80 70 h40 v200 h190 v40 h-230 z" fill="#a8723d"/>`,
  },
  {
    name: 'ring-frame',
    backdrop: 'transparent',
    body: `<circle cx="192" cy="192" r="140" fill="#7a7f88"/><circle cx="192" cy="192" r="132" fill="none" stroke="#b9bec8" stroke-width="10"/>`,
  },
  // Drawn after the ramps were frozen, to enlarge the held-out part (see docs/measurements.md).
  {
    name: 'teapot',
    backdrop: 'transparent',
    body: `<path d="M300 170 c40 -10 60 30 40 60 l-20 -10 c10 -20 0 -35 -20 -30 z" fill="#3d6b4f"/>
      <path d="M80 190 l-50 -50 l15 -10 l60 40 z" fill="#3d6b4f"/>
      <ellipse cx="192" cy="220" rx="120" ry="95" fill="#4f8a66"/>
      <rect x="150" y="105" width="84" height="28" rx="10" fill="#2f5a40"/><circle cx="192" cy="98" r="14" fill="#2f5a40"/>`,
  },
  {
    name: 'backpack',
    backdrop: 'white',
    body: `<rect x="96" y="70" width="192" height="260" rx="50" fill="#c0392b"/>
      <rect x="126" y="200" width="132" height="100" rx="20" fill="#962d22"/>
      <path d="M160 70 c0 -40 64 -40 64 0" fill="none" stroke="#5a1a14" stroke-width="14"/>`,
  },
  {
    name: 'headphones',
    backdrop: 'light-grey',
    body: `<path d="M90 230 c0 -150 204 -150 204 0" fill="none" stroke="#30343c" stroke-width="22"/>
      <rect x="62" y="215" width="64" height="100" rx="24" fill="#5b6270"/>
      <rect x="258" y="215" width="64" height="100" rx="24" fill="#5b6270"/>`,
  },
  {
    name: 'floor-lamp',
    backdrop: 'transparent',
    body: `<polygon points="140,50 244,50 280,140 104,140" fill="#e8c547"/>
      <rect x="185" y="140" width="14" height="190" fill="#6d6d6d"/>
      <ellipse cx="192" cy="335" rx="70" ry="16" fill="#4a4a4a"/>`,
  },
];

export const drawnProductNames = products.map((product) => product.name);

export async function drawnProductPhoto(name: string): Promise<Buffer> {
  const product = products.find((candidate) => candidate.name === name);
  if (!product) throw new Error(`no drawn product ${name}`);
  // The ring gets its hole through a mask, so the alpha channel really is transparent there.
  const body =
    product.name === 'ring-frame'
      ? `<mask id="m"><rect width="${SIZE}" height="${SIZE}" fill="white"/><circle cx="192" cy="192" r="80" fill="black"/></mask><g mask="url(#m)">${product.body}</g>`
      : product.body;
  const background = { white: '#ffffff', 'light-grey': '#ececec', transparent: 'none' }[product.backdrop];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}"><rect width="${SIZE}" height="${SIZE}" fill="${background}"/>${body}</svg>`;
  const image = sharp(Buffer.from(svg));
  return product.backdrop === 'transparent' ? image.png().toBuffer() : image.flatten({ background: background }).jpeg({ quality: 85 }).toBuffer();
}
