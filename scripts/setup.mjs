#!/usr/bin/env node
// One set-up step for `npm test`, `npm run demo` and `npm run service`: idempotent, quick when nothing
// changed, and it says what it does. This first part uses only Node built-ins, because on a fresh clone
// nothing else is installed yet; the rest (Python, Temporal CLI) runs in setup-toolchains.ts.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const started = Date.now();
const say = (message) => console.log(`setup: ${message}`);

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`setup: Node ${process.versions.node} is too old; this project needs Node >= 20.19.`);
  process.exit(1);
}

function fileHash(...files) {
  const hash = createHash('sha256');
  for (const file of files) hash.update(fs.existsSync(file) ? fs.readFileSync(file) : '(missing)');
  return hash.digest('hex');
}

// Node packages: `npm ci` from the lockfile whenever the lockfile changed since the last install.
const lockfile = path.join(root, 'package-lock.json');
const npmStamp = path.join(root, 'node_modules', '.trellis-setup-stamp');
const wantedNpmStamp = `${fileHash(lockfile)} node-${process.versions.node}`;
const haveNpmStamp = fs.existsSync(npmStamp) ? fs.readFileSync(npmStamp, 'utf8') : '';
if (haveNpmStamp !== wantedNpmStamp) {
  const command = fs.existsSync(lockfile) ? 'ci' : 'install';
  say(`installing Node packages (npm ${command}) ...`);
  execFileSync('npm', [command, '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
  fs.writeFileSync(npmStamp, `${fileHash(lockfile)} node-${process.versions.node}`);
} else if (!quiet) {
  say('Node packages up to date');
}

// The rest is TypeScript and may use the packages just installed.
const toolchains = spawnSync(
  process.execPath,
  ['--import', 'tsx', path.join(root, 'scripts', 'setup-toolchains.ts'), ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit' },
);
if (toolchains.status !== 0) process.exit(toolchains.status ?? 1);
if (!quiet) say(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
