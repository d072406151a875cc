import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives at libs/devstack/src). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Per-user cache outside the repo, shared by every clone: built tools live here, never in git. */
export const userCacheDir = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'trellis3d');

export const gpuModalDir = path.join(repoRoot, 'gpu-modal');
export const pythonVenvDir = path.join(gpuModalDir, '.venv');
export const venvPython = path.join(pythonVenvDir, 'bin', 'python');
