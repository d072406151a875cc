#!/usr/bin/env node
// `trellis` on PATH (npm link / npx): runs the TypeScript entry through tsx, no build step. tsx is
// resolved from this package, so the command works from any working directory.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');
const result = spawnSync(process.execPath, ['--import', tsx, entry, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
