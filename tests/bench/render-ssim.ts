// Visual fidelity of a channel file against its source: both rendered by model-viewer in chromium
// (SwiftShader WebGL, the dashboard's own page assets and decoders) from the same 8 cameras at 512 px,
// compared by SSIM on luminance (8x8 windows, stride 4; Wang et al. 2004 constants). The mean over the
// whole frame counts the plain background too, so the mean over windows the object touches is given
// beside it.
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';

export const CAMERAS = [0, 45, 90, 135, 180, 225, 270, 315].map((azimuth) => `${azimuth}deg 75deg auto`);
const SIZE = 512;

export const RENDER_PAGE = `<!doctype html>
<html><head><meta charset="utf-8">
<script type="module" src="/assets/viewer-config.js"></script>
<script type="module" src="/assets/model-viewer.js"></script>
<style>body{margin:0;background:#fff} model-viewer{width:${SIZE}px;height:${SIZE}px;background:#fff;--poster-color:#fff}</style>
</head><body><model-viewer id="viewer" interaction-prompt="none" shadow-intensity="0" field-of-view="30deg"></model-viewer></body></html>`;

/** Grayscale 512x512 frames of `url` from each camera. */
export async function renderViews(page: Page, url: string): Promise<Buffer[]> {
  // Page functions run in the browser; this project compiles without the DOM library, hence `any`.
  await page.$eval('#viewer', (element: any, src: string) => new Promise<void>((resolve, reject) => {
    // The same src again fires no new load: it is already shown.
    if (element.getAttribute('src') === src && element.loaded) return resolve();
    element.addEventListener('load', () => resolve(), { once: true });
    element.addEventListener('error', (event: any) => reject(new Error(JSON.stringify(event.detail ?? 'error'))), { once: true });
    element.setAttribute('src', src);
  }), url);
  // After a new src, model-viewer frames the model asynchronously: render only once that is done.
  await page.$eval('#viewer', async (viewer: any) => {
    await viewer.updateFraming();
    // Until the camera looks at the new model's centre (its target moves over a few frames).
    const deadline = Date.now() + 10_000;
    for (;;) {
      const target = viewer.getCameraTarget();
      const centre = viewer.getBoundingBoxCenter();
      const size = viewer.getDimensions();
      const off = Math.hypot(target.x - centre.x, target.y - centre.y, target.z - centre.z);
      if (off < 1e-3 * Math.max(size.x, size.y, size.z) || Date.now() > deadline) break;
      viewer.jumpCameraToGoal();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  const frames: Buffer[] = [];
  for (const orbit of CAMERAS) {
    const png = await page.$eval('#viewer', async (viewer: any, cameraOrbit: string) => {
      const browser = globalThis as any;
      viewer.setAttribute('camera-orbit', cameraOrbit);
      // Attributes apply in model-viewer's next update; jump there only after it, then let it draw.
      await viewer.updateComplete;
      viewer.jumpCameraToGoal();
      for (let frame = 0; frame < 3; frame++) await new Promise((resolve) => browser.requestAnimationFrame(resolve));
      const blob = await viewer.toBlob({ idealAspect: false });
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let text = '';
      for (const byte of bytes) text += String.fromCharCode(byte);
      return browser.btoa(text) as string;
    }, orbit);
    frames.push(await sharp(Buffer.from(png, 'base64')).resize(SIZE, SIZE, { fit: 'fill' }).flatten({ background: '#ffffff' }).grayscale().raw().toBuffer());
  }
  return frames;
}

/** Mean SSIM over all windows, and over windows where either image differs from the white background. */
export function ssim(a: Buffer, b: Buffer, width = SIZE, height = SIZE): { frame: number; object: number } {
  const window = 8;
  const stride = 4;
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  let all = 0;
  let allCount = 0;
  let object = 0;
  let objectCount = 0;
  for (let y = 0; y + window <= height; y += stride) {
    for (let x = 0; x + window <= width; x += stride) {
      let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
      let touched = false;
      for (let dy = 0; dy < window; dy++) {
        for (let dx = 0; dx < window; dx++) {
          const i = (y + dy) * width + x + dx;
          const pa = a[i]!;
          const pb = b[i]!;
          if (pa < 250 || pb < 250) touched = true;
          sa += pa; sb += pb; saa += pa * pa; sbb += pb * pb; sab += pa * pb;
        }
      }
      const n = window * window;
      const ma = sa / n;
      const mb = sb / n;
      const va = saa / n - ma * ma;
      const vb = sbb / n - mb * mb;
      const cov = sab / n - ma * mb;
      const value = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      all += value;
      allCount += 1;
      if (touched) {
        object += value;
        objectCount += 1;
      }
    }
  }
  return { frame: all / allCount, object: objectCount ? object / objectCount : 1 };
}

export async function openRenderPage(browser: Browser, pageUrl: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: SIZE, height: SIZE }, deviceScaleFactor: 1 });
  await page.goto(pageUrl);
  await page.waitForFunction(() => (globalThis as any).customElements.get('model-viewer') !== undefined);
  return page;
}
