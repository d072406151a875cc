// Second half of set-up (see setup.mjs): the gpu-modal Python environment and the Temporal CLI; with
// --tests (what `npm test` passes) also what only the tests need: versitygw (the S3 tests), the Temporal
// server and its schema tool and Debian's PostgreSQL (the cluster tests). The demo's set-up skips those.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  TEMPORAL_CLI_GO_PACKAGE,
  VERSITYGW_GO_PACKAGE,
  buildTemporalServer,
  findPostgresBinDir,
  findTemporalCli,
  findTemporalServerBuild,
  findVersitygw,
  pinnedTemporalServerVersion,
  goBuildDir,
  goIsRecentEnough,
  goVersion,
  gpuModalDir,
  pythonVenvDir,
  sdkDownloadDir,
  versitygwBuildDir,
} from '@trellis/devstack';

const quiet = process.argv.includes('--quiet');
const forTests = process.argv.includes('--tests');
const say = (message: string) => console.log(`setup: ${message}`);

const PYTHON_CANDIDATES = ['python3.11', 'python3.12', 'python3.13', 'python3.10', 'python3'];
const MIN_PYTHON: [number, number] = [3, 10];

function pythonVersionOf(executable: string): [number, number] | undefined {
  try {
    const out = execFileSync(executable, ['-c', 'import sys; print(*sys.version_info[:2])'], { encoding: 'utf8' });
    const [major, minor] = out.trim().split(' ').map(Number);
    return major !== undefined && minor !== undefined ? [major, minor] : undefined;
  } catch {
    return undefined;
  }
}

function findPython(): { executable: string; version: string } {
  for (const executable of PYTHON_CANDIDATES) {
    const version = pythonVersionOf(executable);
    if (version && (version[0] > MIN_PYTHON[0] || (version[0] === MIN_PYTHON[0] && version[1] >= MIN_PYTHON[1]))) {
      return { executable, version: version.join('.') };
    }
  }
  throw new Error('No Python >= 3.10 found on PATH (3.11 recommended). Install it, then run `npm run setup` again.');
}

interface VenvSpec {
  dir: string;
  requirements: string;
  label: string; // as printed: "gpu-modal/.venv"
}

// A venv is brought in line only when its requirements file or the interpreter changed (stamp file).
function setUpVenv(spec: VenvSpec, python: { executable: string; version: string }): void {
  const venvPy = path.join(spec.dir, 'bin', 'python');
  const stampFile = path.join(spec.dir, '.trellis-setup-stamp');
  const wanted = `${createHash('sha256').update(fs.readFileSync(spec.requirements)).digest('hex')} python-${python.version}`;
  if (fs.existsSync(venvPy) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === wanted) {
    if (!quiet) say(`Python environment up to date (${spec.label}, Python ${python.version})`);
    return;
  }
  // Recreate the environment only when the interpreter changed; otherwise pip brings it in line quickly.
  const venvVersion = fs.existsSync(venvPy) ? pythonVersionOf(venvPy)?.join('.') : undefined;
  if (venvVersion !== python.version) {
    say(`creating ${spec.label} with ${python.executable} (${python.version}) ...`);
    fs.rmSync(spec.dir, { recursive: true, force: true });
    execFileSync(python.executable, ['-m', 'venv', spec.dir], { stdio: 'inherit' });
  }
  say(`installing ${path.relative(path.dirname(gpuModalDir), spec.requirements)} into ${spec.label} ...`);
  execFileSync(venvPy, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', spec.requirements], {
    stdio: 'inherit',
  });
  fs.writeFileSync(stampFile, wanted);
}

function setUpPython(): void {
  const python = findPython();
  setUpVenv({ dir: pythonVenvDir, requirements: path.join(gpuModalDir, 'requirements.txt'), label: 'gpu-modal/.venv' }, python);
  // The CPU proofs of the GPU image (gpu-modal/tests_gpu_parity): the GPU image's exact versions of
  // opencv, trimesh, imageio(-ffmpeg), numpy, Pillow and PyAV, kept apart from the service's own venv.
  setUpVenv(
    {
      dir: path.join(gpuModalDir, '.venv-gpu-parity'),
      requirements: path.join(gpuModalDir, 'requirements-gpu-parity.txt'),
      label: 'gpu-modal/.venv-gpu-parity',
    },
    python,
  );
}

async function setUpTemporalCli(): Promise<void> {
  const existing = findTemporalCli();
  if (existing) {
    if (!quiet) say(`Temporal CLI: ${existing.path} (${existing.source})`);
    return;
  }
  const go = goVersion();
  if (goIsRecentEnough(go)) {
    say(`building the Temporal CLI: go install ${TEMPORAL_CLI_GO_PACKAGE} into ${goBuildDir}`);
    say('(once per machine; it takes a few minutes, later runs reuse it)');
    fs.mkdirSync(goBuildDir, { recursive: true });
    execFileSync('go', ['install', TEMPORAL_CLI_GO_PACKAGE], { stdio: 'inherit', env: { ...process.env, GOBIN: goBuildDir } });
  } else {
    say(
      go
        ? `Go ${go.join('.')} is older than 1.25, so the Temporal CLI cannot be built here.`
        : 'Go is not installed, so the Temporal CLI cannot be built here.',
    );
    say(`falling back to the Temporal SDK's own download of its dev server, into ${sdkDownloadDir} (once).`);
    say('To avoid the download: install Go >= 1.25, or set TEMPORAL_CLI to an existing temporal binary.');
    fs.mkdirSync(sdkDownloadDir, { recursive: true });
    const env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'cached-download', downloadDir: sdkDownloadDir } },
    });
    await env.teardown();
  }
  const cli = findTemporalCli();
  if (!cli) throw new Error('The Temporal CLI was set up but cannot be found; see the messages above.');
  say(`Temporal CLI ready: ${cli.path}`);
}

/**
 * The S3-compatible server the object-storage tests run against (versitygw, posix backend): built with Go
 * like the Temporal CLI, once per machine, into the user cache. Without Go the S3 tests fail with the
 * instruction; the rest of the suite does not need it.
 */
function setUpVersitygw(): void {
  const existing = findVersitygw();
  if (existing) {
    if (!quiet) say(`versitygw (S3 test server): ${existing}`);
    return;
  }
  const go = goVersion();
  if (!goIsRecentEnough(go)) {
    say('Go >= 1.25 is missing, so versitygw (the S3 test server) cannot be built; the object-storage tests will fail. Install Go, or set VERSITYGW to a versitygw binary.');
    return;
  }
  say(`building versitygw (S3 test server): go install ${VERSITYGW_GO_PACKAGE} into ${versitygwBuildDir}`);
  fs.mkdirSync(versitygwBuildDir, { recursive: true });
  execFileSync('go', ['install', VERSITYGW_GO_PACKAGE], { stdio: 'inherit', env: { ...process.env, GOBIN: versitygwBuildDir } });
  say(`versitygw ready: ${findVersitygw() ?? '(not found after the build; see above)'}`);
}

/**
 * The Temporal server and its SQL schema tool at the version docker-compose.temporal.yml pins, built
 * with Go into the user cache (once per version; a few minutes cold, see docs/measurements.md).
 */
function setUpTemporalServer(): void {
  const version = pinnedTemporalServerVersion();
  const existing = findTemporalServerBuild(version);
  if (existing) {
    if (!quiet) say(`Temporal server ${version} for the cluster tests: ${existing.dir}`);
    return;
  }
  const go = goVersion();
  if (!goIsRecentEnough(go)) {
    say(`the Temporal server ${version} needs Go >= 1.25 to build (${go ? `found ${go.join('.')}` : 'Go is not installed'}); the PostgreSQL cluster tests will fail until it is built.`);
    return;
  }
  const started = Date.now();
  say(`building the Temporal server ${version} and its SQL schema tool for the cluster tests (once per machine) ...`);
  const build = buildTemporalServer(version, undefined, say);
  say(`Temporal server ready: ${build.dir} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

/**
 * Debian's PostgreSQL for the cluster tests (each test starts its own throw-away server with initdb; the
 * package's own cluster is not used). Installed with apt-get when running as root, as CI does.
 */
function setUpPostgres(): void {
  const existing = findPostgresBinDir();
  if (existing) {
    if (!quiet) say(`PostgreSQL for the cluster tests: ${existing}`);
    return;
  }
  if (process.getuid?.() !== 0) {
    say('PostgreSQL is missing; the cluster tests need it: sudo apt-get install -y postgresql');
    return;
  }
  say('installing PostgreSQL for the cluster tests (apt-get, once) ...');
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', 'postgresql'], { stdio: 'inherit', env });
  } catch (error) {
    say(`could not install PostgreSQL (${(error as Error).message}); the cluster tests will fail until \`apt-get install postgresql\` works.`);
  }
}

const CHROMIUM = '/usr/bin/chromium';

/**
 * The dashboard's browser tests drive Debian's chromium (playwright-core never downloads a browser).
 * Installed with apt-get when running as root (as CI does); otherwise set-up says what to do and goes on:
 * the browser tests then fail with the same instruction.
 */
function setUpChromium(): void {
  if (fs.existsSync(CHROMIUM)) {
    if (!quiet) say(`chromium for the browser tests: ${CHROMIUM}`);
    return;
  }
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    say(`chromium is missing (${CHROMIUM}); the dashboard's browser tests need it: sudo apt-get install -y chromium`);
    return;
  }
  say('installing chromium for the browser tests (apt-get, once) ...');
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
  } catch (error) {
    say(`could not install chromium (${(error as Error).message}); the browser tests will fail until \`apt-get install chromium\` works.`);
  }
}

try {
  setUpPython();
  await setUpTemporalCli();
  setUpChromium();
  if (forTests) {
    setUpVersitygw();
    setUpTemporalServer();
    setUpPostgres();
  }
} catch (error) {
  console.error(`setup failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
