// The Temporal server and its SQL schema tool, built from the Go module go.temporal.io/server at the
// version docker-compose.temporal.yml pins, plus the module's own schema files and config template, all
// kept in the per-user cache (one folder per version). Built by set-up for `npm test`; never at test time.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readComposeTopology } from './compose-topology';
import { LocalStackError } from './managed-process';
import { userCacheDir } from './paths';

export const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';

export interface TemporalServerBuild {
  version: string;
  dir: string;
  /** `temporal-server`, as the server image names it. */
  server: string;
  /** `temporal-sql-tool`, as the admin-tools image names it (the compose schema script calls it so). */
  sqlTool: string;
  /** `--root` for the server: holds config/docker.yaml (the image's config template) and config/dynamicconfig/. */
  root: string;
  /** The module's schema folder; the compose script's /etc/temporal/schema. */
  schemaDir: string;
}

/** The version docker-compose.temporal.yml pins (its temporalio/server tag). */
export function pinnedTemporalServerVersion(): string {
  return readComposeTopology().serverVersion;
}

export function temporalServerBuildDir(version: string, cacheDir = userCacheDir): string {
  return path.join(cacheDir, `temporal-server-${version}`);
}

function layout(version: string, dir: string): TemporalServerBuild {
  return {
    version,
    dir,
    server: path.join(dir, 'bin', 'temporal-server'),
    sqlTool: path.join(dir, 'bin', 'temporal-sql-tool'),
    root: dir,
    schemaDir: path.join(dir, 'schema'),
  };
}

/** Written last: a build interrupted half-way is never taken for a finished one. */
const COMPLETE_STAMP = '.complete';

/** The finished build of `version` in the cache, or undefined. Looks, never builds. */
export function findTemporalServerBuild(version = pinnedTemporalServerVersion(), cacheDir = userCacheDir): TemporalServerBuild | undefined {
  const dir = temporalServerBuildDir(version, cacheDir);
  return fs.existsSync(path.join(dir, COMPLETE_STAMP)) ? layout(version, dir) : undefined;
}

export function requireTemporalServerBuild(): TemporalServerBuild {
  const version = pinnedTemporalServerVersion();
  const build = findTemporalServerBuild(version);
  if (!build) {
    throw new LocalStackError(
      `The Temporal server ${version} (for the PostgreSQL cluster tests) is not built. Run \`node scripts/setup.mjs --tests\` (needs Go >= 1.25; builds it once).`,
    );
  }
  return build;
}

/** Copies a tree from the read-only Go module cache with writable modes, so the cache folder can be replaced later. */
function copyWritable(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
  for (const entry of fs.readdirSync(to, { recursive: true, withFileTypes: true })) {
    fs.chmodSync(path.join(entry.parentPath, entry.name), entry.isDirectory() ? 0o755 : 0o644);
  }
  fs.chmodSync(to, 0o755);
}

/**
 * `go install` of the server and the schema tool (one module, one build), then the schema files and the
 * config template from the module cache. Into a fresh folder, renamed into place when complete.
 */
export function buildTemporalServer(version: string, cacheDir = userCacheDir, say: (message: string) => void = () => {}): TemporalServerBuild {
  const dir = temporalServerBuildDir(version, cacheDir);
  const partial = `${dir}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  const bin = path.join(partial, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  const packages = [`${TEMPORAL_SERVER_MODULE}/cmd/server@${version}`, `${TEMPORAL_SERVER_MODULE}/cmd/tools/sql@${version}`];
  say(`go install ${packages.join(' ')}`);
  execFileSync('go', ['install', ...packages], { stdio: 'inherit', env: { ...process.env, GOBIN: bin } });
  fs.renameSync(path.join(bin, 'server'), path.join(bin, 'temporal-server'));
  fs.renameSync(path.join(bin, 'sql'), path.join(bin, 'temporal-sql-tool'));
  const moduleDir = path.join(execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim(), `${TEMPORAL_SERVER_MODULE}@${version}`);
  if (!fs.existsSync(moduleDir)) throw new LocalStackError(`go install did not leave ${moduleDir} in the module cache`);
  copyWritable(path.join(moduleDir, 'schema', 'postgresql'), path.join(partial, 'schema', 'postgresql'));
  // The server image's config: docker.yaml is a template the server renders from its environment.
  fs.mkdirSync(path.join(partial, 'config', 'dynamicconfig'), { recursive: true });
  fs.copyFileSync(path.join(moduleDir, 'config', 'docker.yaml'), path.join(partial, 'config', 'docker.yaml'));
  fs.copyFileSync(path.join(moduleDir, 'config', 'dynamicconfig', 'docker.yaml'), path.join(partial, 'config', 'dynamicconfig', 'docker.yaml'));
  fs.writeFileSync(path.join(partial, COMPLETE_STAMP), `${TEMPORAL_SERVER_MODULE}@${version}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(partial, dir);
  return layout(version, dir);
}

/** Debian's PostgreSQL server binaries (`/usr/lib/postgresql/<major>/bin`), the newest major, or undefined. */
export function findPostgresBinDir(root = '/usr/lib/postgresql'): string | undefined {
  if (!fs.existsSync(root)) return undefined;
  const majors = fs
    .readdirSync(root)
    .filter((name) => /^\d+$/.test(name) && fs.existsSync(path.join(root, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] === undefined ? undefined : path.join(root, majors[0], 'bin');
}
