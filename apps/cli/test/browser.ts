// Debian's chromium (installed by `npm run setup` as root) driven by playwright-core: nothing is
// downloaded at test time. WebGL runs on SwiftShader (software), since the GPU is disabled.
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { repoRoot } from '@trellis/devstack';

export const CHROMIUM = process.env.TRELLIS_CHROMIUM ?? '/usr/bin/chromium';
export const artifactsDir = path.join(repoRoot, 'out', 'test-artifacts', 'dashboard');

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `The browser tests need Debian's chromium at ${CHROMIUM}. Run \`npm run setup\` as root (it runs apt-get install chromium), ` +
        'or `sudo apt-get install chromium`, or point TRELLIS_CHROMIUM at a Chromium binary.',
    );
  }
  fs.mkdirSync(artifactsDir, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
    ],
  });
}
