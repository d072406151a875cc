// @ts-check
// The dashboard page: plain ES module, no build step. Hash routes: #/ (catalogs), #/catalog/<id>,
// #/catalog/<id>/review (review.js), #/try.
// Views poll the server's JSON every second while shown and patch the DOM in place (keyed by catalog id
// and SKU), so a model turning in a viewer is not reloaded by the next poll.

import { el, getJson } from './dom.js';
import { showReview } from './review.js';

const POLL_MS = 1000;
const view = /** @type {HTMLElement} */ (document.getElementById('view'));
let pollTimer = 0;
let routeToken = 0;

const bytes = (/** @type {number} */ n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} kB`);
/** A word as a CSS class: "some failed" -> "some-failed". @param {string} word */
const classOf = (word) => word.replace(/\s+/g, '-');

/** @param {any} c a catalog summary (counts in the asset vocabulary: waiting, running, done, reused, failed, cancelled) */
function progressOf(c) {
  const n = c.counts;
  const ok = n.done + n.reused;
  const bad = n.failed + n.cancelled;
  const total = c.totalRows ?? Math.max(ok + bad + n.running + n.waiting, 1);
  return { ok, bad, running: n.running, total: Math.max(total, 1) };
}

/** Fills (or refreshes) the progress bar and numbers of a catalog card or header. @param {HTMLElement} box @param {any} c */
function paintSummary(box, c) {
  const p = progressOf(c);
  const bar = /** @type {HTMLElement} */ (box.querySelector('.bar'));
  bar.dataset.done = String(p.ok + p.bad);
  bar.dataset.total = String(p.total);
  bar.title = `${p.ok + p.bad} of ${p.total} finished`;
  const [ok, badPart, run] = /** @type {HTMLElement[]} */ ([...bar.children]);
  ok.style.width = `${(100 * p.ok) / p.total}%`;
  badPart.style.width = `${(100 * p.bad) / p.total}%`;
  run.style.width = `${(100 * p.running) / p.total}%`;
  // The server words the badge: a live run's phase, or how an ended one went (all done, some failed, all failed).
  const badge = /** @type {HTMLElement} */ (box.querySelector('.badge'));
  badge.textContent = c.badge;
  badge.className = `badge ${classOf(c.badge)}`;
  const n = c.counts;
  /** @type {HTMLElement} */ (box.querySelector('.numbers')).textContent =
    `${p.ok + p.bad}/${p.total} finished · ${n.done} done · ${n.reused} reused · ${n.failed} failed · ${n.running} running` +
    `${n.cancelled ? ` · ${n.cancelled} cancelled` : ''}${c.invalidRows ? ` · ${c.invalidRows} invalid` : ''} · ${c.usageText}`;
}

const summaryBox = () =>
  el('div', { class: 'summary' }, [
    el('div', { class: 'bar', role: 'progressbar' }, [el('span', { class: 'ok' }), el('span', { class: 'bad' }), el('span', { class: 'run' })]),
    el('div', { class: 'row' }, [el('span', { class: 'badge' }), el('span', { class: 'numbers' })]),
  ]);

/** @param {() => Promise<void>} refresh */
function poll(refresh) {
  const token = routeToken;
  const tick = async () => {
    try {
      await refresh();
    } catch (error) {
      console.warn(error);
    }
    if (token === routeToken) pollTimer = window.setTimeout(tick, POLL_MS);
  };
  void tick();
}

function showCatalogs() {
  const list = el('div', { class: 'catalogs' });
  const elsewhere = el('p', { class: 'hint elsewhere' });
  view.replaceChildren(el('h1', {}, ['Catalogs']), list, elsewhere);
  /** @type {Map<string, HTMLElement>} */
  const cards = new Map();
  poll(async () => {
    const { catalogs, elsewhere: others } = await getJson('/api/catalogs');
    elsewhere.textContent = others
      ? `${others} other catalog(s) in this Temporal namespace write their outputs to another folder; start the dashboard with --out set to that folder to see them.`
      : '';
    if (catalogs.length === 0) list.replaceChildren(el('p', { class: 'empty' }, ['No catalogs yet: run `trellis convert`, or try one image.']));
    else if (cards.size === 0) list.replaceChildren();
    for (const c of catalogs) {
      let card = cards.get(c.catalogId);
      if (!card) {
        card = el('section', { class: 'catalog', 'data-catalog': c.catalogId }, [
          el('div', { class: 'row' }, [el('a', { href: `#/catalog/${encodeURIComponent(c.catalogId)}` }, [c.catalogId]), el('span', { class: 'when' })]),
          summaryBox(),
        ]);
        cards.set(c.catalogId, card);
      }
      list.append(card); // keeps the server's order (newest first)
      paintSummary(card, c);
      const when = c.startedAt ? new Date(c.startedAt).toLocaleString() : '';
      /** @type {HTMLElement} */ (card.querySelector('.when')).textContent = when;
    }
  });
}

/** @param {HTMLElement} card @param {any} sku */
function paintSku(card, sku) {
  card.dataset.status = sku.status;
  const badge = /** @type {HTMLElement} */ (card.querySelector('.badge'));
  badge.textContent = sku.status;
  badge.className = `badge ${sku.status}`;
  /** @type {HTMLElement} */ (card.querySelector('.stage')).textContent = sku.status === 'running' && sku.stage ? `stage: ${sku.stage}` : '';
  /** @type {HTMLElement} */ (card.querySelector('.error')).textContent = sku.error ?? '';
  const media = /** @type {HTMLElement} */ (card.querySelector('.media'));
  const presets = Object.keys(sku.glbs);
  if (presets.length > 0 && !media.querySelector('model-viewer')) {
    const viewer = el('model-viewer', { 'camera-controls': '', 'auto-rotate': '', 'touch-action': 'pan-y', 'shadow-intensity': '0', alt: `3D model of ${sku.sku}` });
    viewer.setAttribute('src', sku.glbs[presets[0]].url);
    media.replaceChildren(viewer);
    const files = /** @type {HTMLElement} */ (card.querySelector('.files'));
    for (const preset of presets) {
      const glb = sku.glbs[preset];
      const show = el('button', { type: 'button', 'aria-pressed': String(preset === presets[0]) }, [preset]);
      show.addEventListener('click', () => {
        viewer.setAttribute('src', glb.url);
        for (const button of files.querySelectorAll('button')) button.setAttribute('aria-pressed', String(button === show));
      });
      files.append(el('li', {}, [show, el('span', {}, [bytes(glb.bytes)]), el('a', { href: `${glb.url}?download`, download: '' }, ['download .glb'])]));
    }
    if (sku.preview) {
      files.append(el('li', {}, [el('span', {}, ['preview video']), el('span', {}, [bytes(sku.preview.bytes)]), el('a', { href: `${sku.preview.url}?download`, download: '' }, ['download .mp4'])]));
      card.append(el('video', { src: sku.preview.url, muted: '', loop: '', autoplay: '', playsinline: '', 'aria-label': `turntable of ${sku.sku}` }));
    }
    paintChannels(sku, viewer, files);
  }
}

/**
 * Channel files (`--channels`): each one's size, triangles, texture size, compression and validator
 * verdict, a button to show it in the viewer (Draco and meshopt decoded by the dashboard's own
 * decoders), or why it was not delivered. The poster becomes the viewer's poster.
 * @param {any} sku @param {HTMLElement} viewer @param {HTMLElement} files
 */
function paintChannels(sku, viewer, files) {
  if (sku.poster) {
    viewer.setAttribute('poster', sku.poster.url);
    files.append(el('li', {}, [el('span', {}, ['poster']), el('span', {}, [bytes(sku.poster.bytes)]), el('a', { href: `${sku.poster.url}?download`, download: '' }, ['download .webp'])]));
  }
  for (const channel of sku.channels ?? []) {
    const item = el('li', { class: 'channel', 'data-channel': channel.channel, 'data-delivered': String(channel.delivered) });
    if (!channel.delivered) {
      item.append(el('span', {}, [`${channel.channel}`]), el('span', { class: 'error' }, [`not delivered: ${channel.reason ?? ''}`]));
      files.append(item);
      continue;
    }
    const show = el('button', { type: 'button', 'aria-pressed': 'false' }, [channel.channel]);
    show.addEventListener('click', () => {
      viewer.setAttribute('src', channel.url);
      for (const button of files.querySelectorAll('button')) button.setAttribute('aria-pressed', String(button === show));
    });
    const verdict = channel.errors === 0 ? `valid${channel.warnings ? ` (${channel.warnings} warnings)` : ''}` : `${channel.errors} validator errors`;
    const details = [
      bytes(channel.bytes),
      `${channel.triangles.toLocaleString('en')} triangles`,
      `${channel.textureSize} px`,
      channel.compression,
      verdict,
      ...(channel.budgetMet ? [] : ['over budget']),
      ...(channel.stepDowns.length ? [`stepped down ${channel.stepDowns.length}x`] : []),
    ].join(' · ');
    item.append(show, el('span', { title: [...channel.stepDowns, channel.proportionMismatch ?? ''].join('\n').trim() }, [details]), el('a', { href: `${channel.url}?download`, download: '' }, ['download .glb']));
    files.append(item);
  }
}

/** @param {string} catalogId */
function showCatalog(catalogId) {
  const reviewLink = el('a', { class: 'review-link', href: `#/catalog/${encodeURIComponent(catalogId)}/review` }, ['Review queue']);
  const header = el('section', { class: 'panel', 'data-catalog': catalogId }, [el('div', { class: 'row' }, [el('h1', {}, [catalogId]), reviewLink]), summaryBox()]);
  const filter = /** @type {HTMLSelectElement} */ (el('select', { name: 'status', 'aria-label': 'filter by status' }, [el('option', { value: '' }, ['all states'])]));
  const grid = el('div', { class: 'grid' });
  view.replaceChildren(header, el('div', { class: 'toolbar' }, [el('label', {}, ['Show ', filter]), el('span', { class: 'numbers shown' })]), grid);
  /** @type {Map<string, HTMLElement>} */
  const cards = new Map();
  const applyFilter = () => {
    let shown = 0;
    for (const card of cards.values()) {
      card.hidden = filter.value !== '' && card.dataset.status !== filter.value;
      if (!card.hidden) shown += 1;
    }
    /** @type {HTMLElement} */ (view.querySelector('.shown')).textContent = `${shown} of ${cards.size} SKUs`;
  };
  filter.addEventListener('change', applyFilter);
  poll(async () => {
    const detail = await getJson(`/api/catalogs/${encodeURIComponent(catalogId)}`);
    paintSummary(header, detail);
    reviewLink.dataset.waiting = String(detail.reviewWaiting);
    reviewLink.textContent = detail.reviewWaiting ? `Review queue: ${detail.reviewWaiting} waiting` : 'Review queue (none waiting)';
    // The filter offers the states SKUs are in now (none stale); a choice no SKU is in any more resets to all.
    const statuses = [...new Set(detail.skus.map((/** @type {any} */ s) => s.status))].sort();
    const offered = [...filter.options].slice(1).map((option) => option.value);
    if (offered.join() !== statuses.join()) {
      const chosen = filter.value;
      filter.replaceChildren(el('option', { value: '' }, ['all states']), ...statuses.map((status) => el('option', { value: status }, [status])));
      filter.value = statuses.includes(chosen) ? chosen : '';
    }
    for (const sku of detail.skus) {
      let card = cards.get(sku.sku);
      if (!card) {
        card = el('article', { class: 'sku', 'data-sku': sku.sku }, [
          el('div', { class: 'row' }, [el('h2', {}, [sku.sku]), el('span', { class: 'badge' })]),
          el('div', { class: 'stage' }),
          el('div', { class: 'error' }),
          el('div', { class: 'media' }),
          el('ul', { class: 'files' }),
        ]);
        cards.set(sku.sku, card);
        grid.append(card);
      }
      paintSku(card, sku);
    }
    applyFilter();
  });
}

async function showTry() {
  const form = /** @type {HTMLFormElement} */ (/** @type {HTMLTemplateElement} */ (document.getElementById('try-form')).content.firstElementChild?.cloneNode(true));
  view.replaceChildren(form);
  const options = await getJson('/api/options');
  const pipeline = /** @type {HTMLSelectElement} */ (form.elements.namedItem('pipeline'));
  for (const name of options.pipelines) pipeline.append(el('option', name === options.defaultPipeline ? { value: name, selected: '' } : { value: name }, [name]));
  const presets = /** @type {HTMLElement} */ (form.querySelector('.presets'));
  for (const name of options.presets) {
    presets.append(el('label', {}, [el('input', name === 'fast' ? { type: 'checkbox', name: 'preset', value: name, checked: '' } : { type: 'checkbox', name: 'preset', value: name }), name]));
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const problem = /** @type {HTMLElement} */ (form.querySelector('.form-error'));
    const file = /** @type {HTMLInputElement} */ (form.elements.namedItem('image')).files?.[0];
    const chosen = [...form.querySelectorAll('input[name=preset]:checked')].map((input) => /** @type {HTMLInputElement} */ (input).value);
    if (!file || chosen.length === 0) return void (problem.textContent = 'Choose an image and at least one preset.');
    // The file's name travels too: it becomes the SKU.
    const query = new URLSearchParams({ pipeline: pipeline.value, presets: chosen.join(','), name: file.name });
    const response = await fetch(`/api/try?${query}`, { method: 'POST', body: file, headers: { 'Content-Type': file.type } });
    const answer = await response.json();
    if (!response.ok) return void (problem.textContent = answer.error);
    location.hash = `#/catalog/${encodeURIComponent(answer.catalogId)}`;
  });
}

function route() {
  routeToken += 1;
  window.clearTimeout(pollTimer);
  const hash = location.hash || '#/';
  const review = /^#\/catalog\/([^/]+)\/review$/.exec(hash);
  const catalog = /^#\/catalog\/([^/]+)$/.exec(hash);
  if (review) showReview(view, decodeURIComponent(review[1]), () => routeToken);
  else if (catalog) showCatalog(decodeURIComponent(catalog[1]));
  else if (hash === '#/try') void showTry();
  else showCatalogs();
}

window.addEventListener('hashchange', route);
route();
