import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { userCacheDir } from './paths';
import { LocalStackError } from './managed-process';

/**
 * Where the Temporal CLI (which embeds the dev server and Web UI) comes from, without ever downloading at
 * test time. v1.5.1 is the newest tag `go install` accepts: later tags carry a `replace` directive.
 */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_GO_PACKAGE = `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`;
export const MIN_GO_VERSION: [number, number] = [1, 25];

export const goBuildDir = path.join(userCacheDir, `temporal-cli-${TEMPORAL_CLI_VERSION}`);
/** Fallback for machines without Go: set-up lets the Temporal SDK download its dev server here, once. */
export const sdkDownloadDir = path.join(userCacheDir, 'temporal-sdk-download');

export interface TemporalCli {
  path: string;
  source: 'TEMPORAL_CLI' | 'go install' | 'SDK download';
}

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The CLI already on this machine, or undefined. Looks, never builds or downloads. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): TemporalCli | undefined {
  const fromEnv = env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!isExecutableFile(fromEnv)) {
      throw new LocalStackError(`TEMPORAL_CLI=${fromEnv} is not an executable file. Point it at a temporal binary, or unset it.`);
    }
    return { path: fromEnv, source: 'TEMPORAL_CLI' };
  }
  const built = path.join(goBuildDir, 'temporal');
  if (isExecutableFile(built)) return { path: built, source: 'go install' };
  if (fs.existsSync(sdkDownloadDir)) {
    const downloaded = fs
      .readdirSync(sdkDownloadDir)
      .map((name) => path.join(sdkDownloadDir, name))
      .find((file) => path.basename(file).startsWith('temporal') && isExecutableFile(file));
    if (downloaded) return { path: downloaded, source: 'SDK download' };
  }
  return undefined;
}

export function requireTemporalCli(): TemporalCli {
  const cli = findTemporalCli();
  if (!cli) {
    throw new LocalStackError(
      'The Temporal CLI is not set up. Run `npm run setup` (builds it with Go, once), or set TEMPORAL_CLI to a temporal binary.',
    );
  }
  return cli;
}

/** The installed Go version as [major, minor], or undefined when Go is not on PATH. */
export function goVersion(): [number, number] | undefined {
  try {
    const text = execFileSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' }).trim();
    const match = /^go(\d+)\.(\d+)/.exec(text);
    return match ? [Number(match[1]), Number(match[2])] : undefined;
  } catch {
    return undefined;
  }
}

export function goIsRecentEnough(version: [number, number] | undefined): version is [number, number] {
  if (!version) return false;
  const [major, minor] = version;
  return major > MIN_GO_VERSION[0] || (major === MIN_GO_VERSION[0] && minor >= MIN_GO_VERSION[1]);
}
