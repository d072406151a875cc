// Help is complete by construction: every command of the table is in `trellis --help`, and each
// command's own help names every option its parser accepts. A new command or flag fails here until its
// help says it.
import { describe, expect, it } from 'vitest';
import { commands, generalUsage } from '../src/command-table';
import { runCli } from './helpers';

describe('help', () => {
  it('`trellis --help` lists every command of the table', () => {
    expect(Object.keys(commands).sort()).toEqual(['cancel', 'convert', 'dashboard', 'demo', 'dev', 'estimate', 'pause', 'report', 'resume', 'review', 'status']);
    for (const [name, entry] of Object.entries(commands)) {
      expect(generalUsage, name).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
      expect(entry.synopsis.startsWith(name), name).toBe(true);
    }
  });

  it("each command's own help starts with its name and names every one of its options", () => {
    for (const [name, entry] of Object.entries(commands)) {
      expect(entry.usage.startsWith(`trellis ${name}`), name).toBe(true);
      for (const option of Object.keys(entry.options)) expect(entry.usage, `${name} --${option}`).toMatch(new RegExp(`--${option}\\b`));
    }
  });

  it('the binary prints the general help, and a command\'s own help for `<command> --help`', async () => {
    const [general, status, report] = await Promise.all([runCli(['--help']), runCli(['status', '--help']), runCli(['report', '-h'])]);
    expect(general.code).toBe(0);
    expect(general.stdout.trim()).toBe(generalUsage);
    expect(general.stdout).toContain('estimate <catalog>');
    expect(status.code).toBe(0);
    expect(status.stdout.trim()).toBe(commands.status!.usage);
    expect(report.stdout.trim()).toBe(commands.report!.usage);
    expect(report.stdout).toContain('--out DIR');
  }, 30_000);
});
