import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WORKER_MEMORY_ENV, WORKER_NODE_FLAGS } from '../src/worker-memory';

const scripts = [
  { file: '../../../package.json', name: 'worker' },
  { file: '../package.json', name: 'start' },
].map(({ file, name }) => ({ name, command: JSON.parse(fs.readFileSync(fileURLToPath(new URL(file, import.meta.url)), 'utf8')).scripts[name] as string }));

describe('the worker start scripts', () => {
  it.each(scripts)('$name starts node with the memory settings of worker-memory.ts', ({ command }) => {
    for (const flag of WORKER_NODE_FLAGS) expect(command).toContain(flag);
    for (const [name, value] of Object.entries(WORKER_MEMORY_ENV)) expect(command).toContain(`${name}=\${${name}:-${value}}`);
  });

  it('hands the flags to node as separate arguments, and lets TRELLIS_WORKER_NODE_FLAGS replace them', () => {
    // The script's prefix up to `--import`, run by sh as npm runs it, printing what node would receive.
    const prefix = scripts[0]!.command.split(' --import ')[0]!.replace(/\bnode\b/, 'printf "%s\\n"');
    const argv = (env: NodeJS.ProcessEnv) => execFileSync('sh', ['-c', prefix], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' }).trim().split('\n');
    expect(argv({})).toEqual([...WORKER_NODE_FLAGS]);
    expect(argv({ TRELLIS_WORKER_NODE_FLAGS: '--max-old-space-size=512' })).toEqual(['--max-old-space-size=512']);
  });
});
