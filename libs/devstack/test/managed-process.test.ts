import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { getFreePort, spawnGuarded, tailOfLog, waitUntilReady, type ManagedProcess } from '../src/managed-process';
import { repoRoot } from '../src/paths';
import { eventually, isRunning, rejectionOf, tempDir, waitForLog } from './helpers';

const started: ManagedProcess[] = [];
const strayPids: number[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop()));
  for (const pid of strayPids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

function guarded(script: string, logFile: string): ManagedProcess {
  const managed = spawnGuarded('sh', ['-c', script], { logFile });
  started.push(managed);
  return managed;
}

/** Reads "<label> <pid>" from the log, and remembers the pid for clean-up should the test fail. */
async function pidFromLog(logFile: string, label: string): Promise<number> {
  const pid = Number((await waitForLog(logFile, new RegExp(`${label} (\\d+)`)))[1]);
  strayPids.push(pid);
  return pid;
}

describe('getFreePort', () => {
  it('returns a loopback port that can be bound right away', async () => {
    const port = await getFreePort();
    expect(Number.isInteger(port)).toBe(true);
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    expect((server.address() as net.AddressInfo).port).toBe(port);
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('tailOfLog', () => {
  it('gives the last lines of a log, or "(no log)"', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'x.log');
    fs.writeFileSync(file, Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\n') + '\n\n');
    expect(tailOfLog(file, 3)).toBe('line 28\nline 29\nline 30');
    expect(tailOfLog(file).split('\n')).toHaveLength(20);
    expect(tailOfLog(path.join(dir, 'missing.log'))).toBe('(no log)');
  });
});

describe('spawnGuarded', () => {
  it('appends stdout and stderr to the log file, creating its folder', async () => {
    const dir = await tempDir();
    const logFile = path.join(dir, 'logs', 'nested', 'service.log');
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    fs.writeFileSync(logFile, 'earlier run\n');
    const managed = guarded('echo "to stdout"; echo "to stderr" >&2', logFile);
    expect(await managed.exited).toBe(0);
    expect(managed.hasExited()).toBe(true);
    const log = fs.readFileSync(logFile, 'utf8');
    expect(log).toMatch(/^earlier run\n/);
    expect(log).toContain('to stdout');
    expect(log).toContain('to stderr');
  });

  it('crash() kills the whole tree at once, as kill -9: no SIGTERM handler runs', async () => {
    const dir = await tempDir();
    const logFile = path.join(dir, 'crash.log');
    const managed = guarded(`trap 'echo graceful; exit 0' TERM; sleep 300 & echo "sleeper $!"; wait`, logFile);
    const sleeper = await pidFromLog(logFile, 'sleeper');
    await managed.crash();
    expect(managed.hasExited()).toBe(true);
    expect(await eventually(() => !isRunning(sleeper), 5000)).toBe(true);
    expect(fs.readFileSync(logFile, 'utf8')).not.toContain('graceful');
  });

  it('passes on the command’s exit code, env and cwd', async () => {
    const dir = await tempDir();
    const logFile = path.join(dir, 'a.log');
    const managed = spawnGuarded('sh', ['-c', 'echo "cwd=$(pwd) flavour=$FLAVOUR"; exit 3'], {
      logFile,
      cwd: dir,
      env: { PATH: process.env.PATH, FLAVOUR: 'mint' },
    });
    started.push(managed);
    expect(await managed.exited).toBe(3);
    expect(fs.readFileSync(logFile, 'utf8')).toContain(`cwd=${fs.realpathSync(dir)} flavour=mint`);
  });

  it('stop() ends the command and everything it started', async () => {
    const dir = await tempDir();
    const logFile = path.join(dir, 'tree.log');
    // sh runs a background sleep (a grandchild) and waits: both must go.
    const managed = guarded('echo "shell $$"; sleep 60 & echo "background $!"; wait', logFile);
    const shell = await pidFromLog(logFile, 'shell');
    const background = await pidFromLog(logFile, 'background');
    expect(isRunning(shell)).toBe(true);
    expect(isRunning(background)).toBe(true);
    const stopped = Date.now();
    await managed.stop();
    expect(Date.now() - stopped).toBeLessThan(4000); // SIGTERM was enough; no 5 s SIGKILL fallback
    expect(managed.hasExited()).toBe(true);
    expect(await eventually(() => !isRunning(shell) && !isRunning(background), 3000)).toBe(true);
    await managed.stop(); // a second stop is harmless
  });

  it('when the command exits by itself, what it left running in its group is killed too', async () => {
    const dir = await tempDir();
    const logFile = path.join(dir, 'leftover.log');
    const managed = guarded('sleep 60 & echo "leftover $!"; exit 0', logFile);
    const leftover = await pidFromLog(logFile, 'leftover');
    expect(await managed.exited).toBe(0);
    expect(await eventually(() => !isRunning(leftover), 3000)).toBe(true);
  });

  it('the guarded command dies soon after its owner process is killed', async () => {
    const dir = await tempDir();
    const logFile = path.join(dir, 'owner.log');
    const ownerScript = fileURLToPath(new URL('./fixtures/owner.ts', import.meta.url));
    const owner: ChildProcess = spawn(process.execPath, ['--import', 'tsx', ownerScript, logFile], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    strayPids.push(owner.pid!);
    const ownerExited = new Promise((resolve) => owner.once('exit', resolve));
    const firstLine = await new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: owner.stdout! });
      lines.once('line', resolve);
      owner.once('exit', (code) => reject(new Error(`owner exited (${code}) before starting the guarded command`)));
    });
    const { watchdogPid } = JSON.parse(firstLine) as { watchdogPid: number };
    strayPids.push(watchdogPid);
    const guardedPid = await pidFromLog(logFile, 'guarded pid');
    expect(isRunning(guardedPid)).toBe(true);
    expect(isRunning(watchdogPid)).toBe(true);

    owner.kill('SIGKILL');
    await ownerExited;
    // The watchdog polls its owner every 500 ms, then SIGTERMs the command's group.
    expect(await eventually(() => !isRunning(guardedPid), 4000)).toBe(true);
    expect(await eventually(() => !isRunning(watchdogPid), 2000)).toBe(true);
  }, 15_000);
});

describe('waitUntilReady', () => {
  it('resolves once the probe says yes, and ignores probes that throw', async () => {
    const dir = await tempDir();
    const managed = guarded('exec sleep 60', path.join(dir, 'ready.log'));
    let calls = 0;
    const probe = async () => {
      calls += 1;
      if (calls === 1) throw new Error('ECONNREFUSED');
      return calls >= 3;
    };
    await waitUntilReady('test server', managed, probe, 5000);
    expect(calls).toBe(3);
    expect(managed.hasExited()).toBe(false);
  });

  it('fails early, with the log tail, when the process exits during start-up', async () => {
    const dir = await tempDir();
    const logFile = path.join(dir, 'crash.log');
    const managed = guarded('echo "starting"; echo "fatal: port already in use" >&2; exit 1', logFile);
    const began = Date.now();
    const error = await rejectionOf(waitUntilReady('test server', managed, async () => false, 30_000));
    expect(Date.now() - began).toBeLessThan(5000);
    expect(error.message).toContain('test server exited during start-up');
    expect(error.message).toContain(`Log ${logFile}:`);
    expect(error.message).toContain('fatal: port already in use');
  });

  it('says when the command cannot be started at all', async () => {
    const dir = await tempDir();
    const logFile = path.join(dir, 'enoent.log');
    const managed = spawnGuarded(path.join(dir, 'no-such-binary'), [], { logFile });
    started.push(managed);
    const error = await rejectionOf(waitUntilReady('test server', managed, async () => false, 30_000));
    expect(error.message).toContain('exited during start-up');
    expect(error.message).toMatch(/watchdog: cannot start .*no-such-binary/);
    expect(await managed.exited).toBe(127);
  });

  it('stops the process and fails when it is not ready in time', async () => {
    const dir = await tempDir();
    const logFile = path.join(dir, 'slow.log');
    const managed = guarded('echo "warming up"; exec sleep 60', logFile);
    await waitForLog(logFile, /warming up/);
    const error = await rejectionOf(waitUntilReady('slow server', managed, async () => false, 300));
    expect(error.message).toContain('slow server was not ready after 0.3s');
    expect(error.message).toContain('warming up');
    expect(managed.hasExited()).toBe(true);
  });
});
