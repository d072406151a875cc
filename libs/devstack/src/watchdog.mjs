#!/usr/bin/env node
// Runs one command as a child and guarantees it does not outlive whoever started us.
//   node watchdog.mjs <ownerPid> <command> [args...]
// The child gets its own process group, so the whole tree (e.g. the Temporal dev server and anything it
// forks) is signalled at once. We stop it when we are signalled, or when the owner process has gone —
// which covers a test runner killed mid-run or a Ctrl-C that never reached the child.
import { spawn } from 'node:child_process';

const [ownerPidText, command, ...args] = process.argv.slice(2);
const ownerPid = Number(ownerPidText);
if (!Number.isInteger(ownerPid) || !command) {
  console.error('usage: watchdog.mjs <ownerPid> <command> [args...]');
  process.exit(2);
}

const child = spawn(command, args, { stdio: 'inherit', detached: true });
const KILL_AFTER_MS = 5000;
let stopping = false;

function signalGroup(signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function stop() {
  if (stopping) return;
  stopping = true;
  signalGroup('SIGTERM');
  setTimeout(() => {
    signalGroup('SIGKILL');
    process.exit(1);
  }, KILL_AFTER_MS).unref();
}

function ownerAlive() {
  try {
    process.kill(ownerPid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

setInterval(() => {
  if (!ownerAlive()) stop();
}, 500).unref();
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, stop);
// SIGUSR2 asks for a crash, not a stop: the whole group is killed with SIGKILL at once, as `kill -9`
// would (the fault tests use it to kill a worker or the dev server mid-catalog).
process.on('SIGUSR2', () => signalGroup('SIGKILL'));

child.on('error', (error) => {
  console.error(`watchdog: cannot start ${command}: ${error.message}`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  // Reap anything the child left in its group before we go.
  signalGroup('SIGKILL');
  process.exit(code ?? (signal ? 128 : 0));
});
