// The contract of docs/development.md, run as a user would: `npm run demo -- --catalog PATH --out DIR` on a catalog the
// project has never seen, with bad rows. It starts its own local stack, converts, reports, and stops.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CatalogReport } from '@trellis/contracts';
import { repoRoot } from '@trellis/devstack';
import { describe, expect, inject, it } from 'vitest';
import { writeCatalog } from '../harness/catalogs';

describe('npm run demo -- --catalog ... --out ...', () => {
  it('converts a new catalog, names its bad rows, and writes the report', () => {
    const workDir = fs.mkdtempSync(path.join(inject('workDir'), 'demo-'));
    const catalog = writeCatalog(path.join(workDir, 'spring-drop'), {
      rows: [
        { sku: 'BOTTLE-9', image: 'bottle.png', presets: 'fast' },
        { sku: 'CHAIR-9', image: 'chair.png', pipeline_type: '512', presets: 'fast|balanced' },
        { sku: 'GHOST-9', image: 'ghost.png', presets: 'fast' },
        // Any printable SKU converts (into a folder inside --out); over 256 characters is a bad row.
        { sku: 'X'.repeat(300), image: 'mug.png' },
      ],
    });
    const out = path.join(workDir, 'out');
    const run = spawnSync('npm', ['run', '--silent', 'demo', '--', '--catalog', catalog, '--out', out], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...process.env, TRELLIS_LOCAL_STACK_DIR: path.join(workDir, 'stack') },
    });
    const output = `${run.stdout}\n${run.stderr}`;
    // Some rows failed, so the exit code says so; the catalog itself completed.
    expect(run.status, output).toBe(1);
    expect(output).toContain(`row 4 (SKU ${'X'.repeat(300)}), field sku`);
    expect(output).toContain('Catalog spring-drop completed (some failed): 2 done, 0 reused, 1 failed');
    expect(output).toMatch(/Web UI: +http:\/\/127\.0\.0\.1:\d+/);

    const reportPath = path.join(out, 'spring-drop', 'report.json');
    const report = CatalogReport.parse(JSON.parse(fs.readFileSync(reportPath, 'utf8')));
    const byRow = new Map(report.rows.map((row) => [row.row, row]));
    expect(byRow.get(1)?.status).toBe('done');
    expect(Object.keys(byRow.get(2)?.glbs ?? {}).sort()).toEqual(['balanced', 'fast']);
    expect(byRow.get(3)).toMatchObject({ status: 'failed' });
    expect(byRow.get(3)?.error).toContain('ghost.png');
    expect(byRow.get(4)).toMatchObject({ status: 'invalid' });
    expect(fs.existsSync(path.join(out, 'spring-drop', 'CHAIR-9', 'balanced.glb'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'spring-drop', 'report.csv'))).toBe(true);
  }, 300_000);
});
