// An honest measure of the checks: a labelled set of good results (the real local service on the example
// catalog and on photos drawn here) and deliberately bad ones made from them, one kind per defect the
// checks are meant to catch. The ramps in src/scoring.ts were tuned on the TUNING part only; the targets
// (>= 90 % of bad flagged, <= 10 % of good flagged) are asserted on the HELD-OUT part, and the table this
// test prints is the one in docs/measurements.md. Needs gpu-modal/.venv (`npm run setup`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalService, type LocalService } from '@trellis/devstack';
import { TrellisClient } from '@trellis/trellis-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assessModel, QualityReport, type ModelToAssess } from '../src';
import { glbWithBlackPatches, glbWithHoles, photoOnBusyBackground, photoWithPartEaten } from './helpers/perturb';
import { drawnProductPhoto } from './helpers/photos';
import { modelFromService, type ServiceModel } from './helpers/service-models';

const catalogDir = path.resolve(import.meta.dirname, '../../../examples/catalog');

type Split = 'tuning' | 'held-out';
type Defect = 'none' | 'wrong-sku' | 'mask-ate-part' | 'holes' | 'black-spots' | 'background-left-in';

/**
 * The fixed split: which products (and every bad result made from them) are kept out of tuning.
 * `serviceDefect`: the service's own result for this photo, inspected, is not a good model; it is
 * labelled with the defect it shows instead of "none" (docs/measurements.md says when and why).
 */
const PRODUCTS: { name: string; split: Split; serviceDefect?: Defect }[] = [
  { name: 'bottle.png', split: 'tuning' },
  { name: 'chair.png', split: 'tuning' },
  { name: 'lamp.png', split: 'tuning' },
  { name: 'vase', split: 'tuning' },
  { name: 'star-ornament', split: 'tuning' },
  { name: 'mug.png', split: 'held-out' },
  { name: 'plant-pot.png', split: 'held-out' },
  // The relief backend cuts the sneaker's white midsole and stripe out with the white backdrop, and
  // keeps only the largest piece, so its dark outsole is gone too: the model lacks part of the product.
  { name: 'sneaker.png', split: 'held-out', serviceDefect: 'mask-ate-part' },
  { name: 'shelf', split: 'held-out' },
  { name: 'ring-frame', split: 'held-out' },
  // Added after the ramps were frozen; never used in tuning.
  { name: 'teapot', split: 'held-out' },
  { name: 'backpack', split: 'held-out' },
  { name: 'headphones', split: 'held-out' },
  { name: 'floor-lamp', split: 'held-out' },
];

interface Sample {
  product: string;
  split: Split;
  defect: Defect;
  report: QualityReport;
}

async function photoOf(name: string): Promise<Buffer> {
  return name.endsWith('.png') ? fs.readFileSync(path.join(catalogDir, name)) : drawnProductPhoto(name);
}

describe('the checks on a labelled set of good and bad results', { timeout: 180_000 }, () => {
  let workDir: string;
  let service: LocalService;
  const samples: Sample[] = [];
  let mug: ModelToAssess;
  let assessMs = 0;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quality-labelled-'));
    service = await startLocalService({ workDir, gpuWorkers: 2 });
    const client = new TrellisClient({ baseUrl: service.url, credentials: service.credentials, env: {} });
    const add = async (product: string, split: Split, defect: Defect, input: ModelToAssess) => {
      const started = performance.now();
      samples.push({ product, split, defect, report: await assessModel(input) });
      assessMs += performance.now() - started;
    };

    const photos = new Map<string, Buffer>();
    const goods = new Map<string, ServiceModel>();
    // Two products at a time: the service works on one core while the checks run on the other.
    await twoAtATime([...PRODUCTS.entries()], async ([index, { name, split, serviceDefect }]) => {
      const photo = await photoOf(name);
      photos.set(name, photo);
      const model = await modelFromService(client, photo, 100 + index);
      goods.set(name, model);
      if (name === 'mug.png') mug = { photo, ...model };
      await add(name, split, serviceDefect ?? 'none', { photo, ...model });
    });
    await twoAtATime([...PRODUCTS.entries()], async ([index, { name, split }]) => {
      const photo = photos.get(name)!;
      const good = goods.get(name)!;
      const seed = 1000 + index;
      // Another SKU's model, from the same split: the next product in it.
      const sameSplit = PRODUCTS.filter((other) => other.split === split);
      const other = sameSplit[(sameSplit.findIndex((candidate) => candidate.name === name) + 1) % sameSplit.length]!;
      await add(name, split, 'wrong-sku', { photo, ...goods.get(other.name)! });
      // Background removal ate 30-45 % of the product: the model is of the damaged cut-out, the photo intact.
      const eaten = await photoWithPartEaten(photo, 0.3 + 0.05 * (index % 4));
      await add(name, split, 'mask-ate-part', { photo, ...(await modelFromService(client, eaten, seed)) });
      // 3-5 holes of radius 0.03-0.05 (the model spans 0.9).
      await add(name, split, 'holes', { photo, ...good, glb: await glbWithHoles(good.glb, 3 + (index % 3), 0.03 + 0.01 * (index % 3), seed) });
      // 2-4 black squares of 8 % of the texture's side each.
      await add(name, split, 'black-spots', { photo, ...good, glb: await glbWithBlackPatches(good.glb, 2 + (index % 3), 0.08, seed) });
      // The photo as a lifestyle shot: opaque, on a busy scene; the model is what the service made of it.
      const busy = await photoOnBusyBackground(photo, seed);
      await add(name, split, 'background-left-in', { photo: busy, ...(await modelFromService(client, busy, seed)) });
    });
    console.log(measurementTable(samples));
    console.log(`checks: ${samples.length} results in ${(assessMs / 1000).toFixed(1)} s (${(assessMs / samples.length).toFixed(0)} ms each)`);
  }, 180_000);

  afterAll(async () => {
    await service?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('every report is a valid QualityReport', () => {
    expect(samples.length).toBe(PRODUCTS.length * 6);
    expect(samples.filter((sample) => sample.split === 'held-out' && sample.defect === 'none').length).toBeGreaterThanOrEqual(8);
    for (const sample of samples) expect(QualityReport.parse(sample.report)).toEqual(sample.report);
  });

  it('held-out: at least 90 % of bad results flagged, at most 10 % of good ones', () => {
    const heldOut = samples.filter((sample) => sample.split === 'held-out');
    const bad = heldOut.filter((sample) => sample.defect !== 'none');
    const good = heldOut.filter((sample) => sample.defect === 'none');
    expect(bad.length).toBeGreaterThanOrEqual(40);
    expect(bad.filter((sample) => sample.report.flagged).length / bad.length).toBeGreaterThanOrEqual(0.9);
    expect(good.filter((sample) => sample.report.flagged).length / good.length).toBeLessThanOrEqual(0.1);
  });

  it('size: proportions like the model pass, a catalog size three times taller flags', async () => {
    const good = await assessModel(mug);
    const [x, y, z] = good.checks.mesh.extent;
    const matching = await assessModel({ ...mug, givenSize: { width: 10 * x, height: 10 * y, depth: 10 * z } });
    expect(matching.checks.size).toMatchObject({ score: 1, depthSwapped: false });
    expect(matching.flagged).toBe(false);
    const taller = await assessModel({ ...mug, givenSize: { width: x, height: 3 * y, depth: z } });
    expect(taller).toMatchObject({ flagged: true, failing: ['size'] });
  });

  it('a bad result is flagged by the check meant for its defect', () => {
    const meantFor: Record<Exclude<Defect, 'none'>, string> = {
      'wrong-sku': 'silhouette',
      'mask-ate-part': 'silhouette',
      holes: 'mesh',
      'black-spots': 'texture',
      'background-left-in': 'background',
    };
    const heldOutBad = samples.filter((sample) => sample.split === 'held-out' && sample.defect !== 'none' && sample.report.flagged);
    const byRightCheck = heldOutBad.filter((sample) => sample.report.failing.includes(meantFor[sample.defect as Exclude<Defect, 'none'>] as never));
    expect(byRightCheck.length / heldOutBad.length).toBeGreaterThanOrEqual(0.9);
  });
});

async function twoAtATime<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all([worker(), worker()]);
}

function measurementTable(samples: Sample[]): string {
  const lines = ['| split | defect | results | flagged | share flagged | failing checks (count) | worst score / key measure (median) |', '|---|---|---|---|---|---|---|'];
  const defects: Defect[] = ['none', 'wrong-sku', 'mask-ate-part', 'holes', 'black-spots', 'background-left-in'];
  for (const split of ['tuning', 'held-out'] as const) {
    for (const defect of defects) {
      const group = samples.filter((sample) => sample.split === split && sample.defect === defect);
      const flagged = group.filter((sample) => sample.report.flagged).length;
      const failing = new Map<string, number>();
      for (const sample of group) for (const name of sample.report.failing) failing.set(name, (failing.get(name) ?? 0) + 1);
      const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1] ?? NaN;
      const keyMeasures = [
        `score ${median(group.map((s) => s.report.score)).toFixed(2)}`,
        `IoU ${median(group.map((s) => s.report.checks.silhouette?.iou ?? NaN)).toFixed(3)}`,
        `holes ${median(group.map((s) => s.report.checks.mesh.boundaryLengthRatio)).toFixed(3)}`,
        `black ${median(group.map((s) => s.report.checks.texture?.blackSpotShare ?? NaN)).toFixed(3)}`,
        `busy ${median(group.map((s) => s.report.checks.background.busyBorderShare)).toFixed(2)}`,
      ].join(', ');
      const share = group.length ? `${Math.round((100 * flagged) / group.length)} %` : '-';
      lines.push(`| ${split} | ${defect} | ${group.length} | ${flagged} | ${share} | ${[...failing].map(([n, c]) => `${n} ${c}`).join(', ') || '-'} | ${keyMeasures} |`);
    }
  }
  const detail = samples.map(
    (s) =>
      `${s.split}\t${s.defect}\t${s.product}\tflagged=${s.report.flagged}\tscore=${s.report.score.toFixed(2)}\tfailing=${s.report.failing.join('+')}\tiou=${s.report.checks.silhouette?.iou.toFixed(3)}\tbnd=${s.report.checks.mesh.boundaryLengthRatio.toFixed(3)}\tcomp=${s.report.checks.mesh.components}\tflo=${s.report.checks.mesh.floaterShare.toFixed(3)}\tblack=${s.report.checks.texture?.blackSpotShare.toFixed(3)}\tflat=${s.report.checks.texture?.flatBlockShare.toFixed(2)}\tbusy=${s.report.checks.background.busyBorderShare.toFixed(2)}`,
  );
  return [...lines, '', ...(process.env.QUALITY_DETAIL ? detail : [])].join('\n');
}
