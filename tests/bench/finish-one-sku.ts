// One SKU's finishing in a process of its own, as the finish worker runs it (finishChannels: every
// channel file and the poster), so its CPU seconds and peak RSS are the finishing step's alone.
// Input: one JSON argument (FinishChannelsInput); output: one JSON line.
import fs from 'node:fs';
import { finishChannels, type FinishChannelsInput } from '@trellis/activities';

const input = JSON.parse(process.argv[2]!) as FinishChannelsInput;
const before = process.cpuUsage();
const started = performance.now();
const result = await finishChannels(input);
const cpu = process.cpuUsage(before);
const peakRssKb = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
console.log(JSON.stringify({
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  wallSeconds: (performance.now() - started) / 1000,
  peakRssMb: peakRssKb / 1024,
  result,
}));
