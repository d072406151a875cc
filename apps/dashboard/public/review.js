// @ts-check
// The review queue of one catalog (#/catalog/<id>/review): the models waiting for a person, worst score
// first. One key per decision; the next model is on screen at once because it was loaded while the
// reviewer looked at this one: two viewer slots are stacked, the hidden one holds the next item, and a
// decision swaps them. The decision itself travels in the background and its outcome lands in the log
// (a refused one puts the SKU back in the queue). Each decision's key-to-next-model time is measured
// with performance marks (window.reviewTimings, read by the browser test).
import { el, getJson, postJson } from './dom.js';

const QUEUE_POLL_MS = 2000;

/** @typedef {{ sku: string, row: number, attempt: number, seed: number, score: number, flagged: boolean, failing: string[], preset: string,
 *   urls: { glb: string, preview?: string, image?: string }, waitingSince: string, deadline: string, onDeadline: string,
 *   history: Array<{ decision: string, reviewer: string, decidedAt: string, attempt: number, seed: number, reason?: string, nextSeed?: number }> }} Item */

/** @param {Item} item */
const keyOf = (item) => `${item.sku}@${item.attempt}`;
/** A regenerated model may be written under the same name: the attempt in the URL makes it a new file to the viewer. @param {string} url @param {Item} item */
const attemptUrl = (url, item) => `${url}?attempt=${item.attempt}`;

/** Per decision: key press to the next SKU's page drawn (`frameMs`) and to its model decoded and drawn (`ms`). @type {Array<{ sku: string, ms: number, frameMs: number, prefetched: boolean }>} */
const timings = [];
/** @type {any} */ (window).reviewTimings = timings;

/**
 * One viewer slot: the photo, the turning model and the preview video of one item.
 * @returns {{ root: HTMLElement, key: string, item?: Item, show(item: Item | undefined): void, ready(): boolean }}
 */
function makeSlot() {
  const photo = /** @type {HTMLImageElement} */ (el('img', { class: 'photo', alt: '' }));
  const viewer = /** @type {HTMLElement & { loaded?: boolean }} */ (
    // Eager: the hidden slot loads its model before it is shown (model-viewer otherwise waits until visible).
    el('model-viewer', { 'camera-controls': '', 'auto-rotate-delay': '0', loading: 'eager', 'shadow-intensity': '0', 'interaction-prompt': 'none' })
  );
  const video = /** @type {HTMLVideoElement} */ (el('video', { muted: '', loop: '', playsinline: '', preload: 'auto' }));
  video.muted = true;
  const root = el('div', { class: 'slot', 'aria-hidden': 'true' }, [
    el('figure', {}, [photo, el('figcaption', {}, ['input photo'])]),
    el('figure', {}, [viewer, el('figcaption', { class: 'preset' })]),
    el('figure', {}, [video, el('figcaption', {}, ['preview'])]),
  ]);
  const slot = {
    root,
    key: '',
    /** @type {Item | undefined} */ item: undefined,
    /** @param {Item | undefined} item */
    show(item) {
      slot.item = item;
      slot.key = item ? keyOf(item) : '';
      root.dataset.sku = item?.sku ?? '';
      if (!item) return;
      if (item.urls.image) photo.src = item.urls.image; // the photo does not change between attempts
      else photo.removeAttribute('src');
      photo.alt = `input photo of ${item.sku}`;
      viewer.setAttribute('src', attemptUrl(item.urls.glb, item));
      viewer.setAttribute('alt', `3D model of ${item.sku}, attempt ${item.attempt}`);
      /** @type {HTMLElement} */ (root.querySelector('.preset')).textContent = `model (${item.preset}, seed ${item.seed})`;
      if (item.urls.preview) video.src = attemptUrl(item.urls.preview, item);
      else video.removeAttribute('src');
      video.setAttribute('aria-label', `preview of ${item.sku}`);
    },
    /** Everything of this item is on screen: the model decoded (model-viewer's `loaded`) and the photo decoded. */
    ready() {
      return Boolean(slot.item) && viewer.loaded === true && viewer.getAttribute('src') === attemptUrl(slot.item.urls.glb, slot.item) && (!slot.item?.urls.image || (photo.complete && photo.naturalWidth > 0));
    },
  };
  return slot;
}

const twoFrames = () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));

/**
 * @param {HTMLElement} view
 * @param {string} catalogId
 * @param {() => number} routeToken the page's route counter: this view ends when it changes
 */
export function showReview(view, catalogId, routeToken) {
  const myRoute = routeToken();
  // `?prefetch=0` turns the prefetch off: the baseline the browser test measures the prefetch against.
  const prefetch = new URLSearchParams(location.search).get('prefetch') !== '0';
  const live = () => routeToken() === myRoute;
  const encoded = encodeURIComponent(catalogId);
  const api = `/api/catalogs/${encoded}/review`;

  const count = el('span', { class: 'numbers waiting-count' });
  const reviewerName = el('span', { class: 'numbers reviewer' });
  const queueList = el('ol', { class: 'queue', 'aria-label': 'waiting models, worst score first' });
  const slots = [makeSlot(), makeSlot()];
  const stage = el('div', { class: 'stage-area' }, slots.map((slot) => slot.root));
  const title = el('h2', { class: 'current-sku' });
  const facts = el('div', { class: 'facts' });
  const failing = el('ul', { class: 'failing', 'aria-label': 'failing checks' });
  const history = el('ol', { class: 'history', 'aria-label': 'decision history' });
  const reason = /** @type {HTMLInputElement} */ (el('input', { type: 'text', name: 'reason', maxlength: '500', placeholder: 'why is it rejected? Enter sends, Esc cancels', 'aria-label': 'reason for rejecting' }));
  const reasonBox = el('label', { class: 'reason', hidden: '' }, ['Reject: ', reason]);
  const buttons = el('div', { class: 'decisions' }, [
    el('button', { type: 'button', 'data-decision': 'approve' }, [el('kbd', {}, ['A']), ' approve']),
    el('button', { type: 'button', 'data-decision': 'regenerate' }, [el('kbd', {}, ['R']), ' regenerate (new seed)']),
    el('button', { type: 'button', 'data-decision': 'reject' }, [el('kbd', {}, ['X']), ' reject…']),
  ]);
  const bulkScore = /** @type {HTMLInputElement} */ (el('input', { type: 'number', name: 'min-score', min: '0', max: '1', step: '0.05', value: '0.8', 'aria-label': 'minimum score' }));
  const bulkButton = el('button', { type: 'button', class: 'bulk-approve' }, ['Approve']);
  const bulk = el('div', { class: 'bulk' }, [el('label', {}, [el('kbd', {}, ['B']), ' approve all scoring at least ', bulkScore]), bulkButton]);
  const log = el('ol', { class: 'log', 'aria-label': 'decisions sent', 'aria-live': 'polite' });
  const empty = el('p', { class: 'empty', hidden: '' }, ['Nothing waits for review in this catalog.']);
  const keys = el('p', { class: 'keys hint' }, [
    el('kbd', {}, ['A']), ' approve · ', el('kbd', {}, ['R']), ' regenerate · ', el('kbd', {}, ['X']), ' reject (type the reason, ', el('kbd', {}, ['Enter']), ' sends) · ',
    el('kbd', {}, ['J']), '/', el('kbd', {}, ['K']), ' next / previous · ', el('kbd', {}, ['B']), ' bulk approve',
  ]);
  const current = el('section', { class: 'current panel' }, [title, facts, failing, stage, buttons, reasonBox, el('h3', {}, ['History']), history]);
  view.replaceChildren(
    el('section', { class: 'panel review-head', 'data-catalog': catalogId }, [
      el('div', { class: 'row' }, [el('h1', {}, [`Review: ${catalogId}`]), count, reviewerName, el('a', { href: `#/catalog/${encoded}` }, ['back to the catalog'])]),
      keys,
      bulk,
    ]),
    empty,
    el('div', { class: 'review' }, [el('nav', { class: 'panel' }, [queueList]), current]),
    el('section', { class: 'panel' }, [el('h3', {}, ['Decisions sent']), log]),
  );

  /** @type {Item[]} */
  let queue = [];
  /** Decided here, not yet gone from the server's queue: hidden meanwhile. @type {Set<string>} */
  const decided = new Set();
  let currentKey = '';
  let shownSlot = 0;
  let decisions = 0;

  const waiting = () => queue.filter((item) => !decided.has(keyOf(item)));

  function paintQueue() {
    const items = waiting();
    count.textContent = `${items.length} waiting`;
    count.dataset.count = String(items.length);
    empty.hidden = items.length > 0;
    current.hidden = items.length === 0;
    queueList.replaceChildren(
      ...items.map((item) => {
        const pick = el('button', { type: 'button' }, [`${item.sku}`, el('span', { class: 'score' }, [item.score.toFixed(2)]), ...(item.attempt ? [el('span', { class: 'numbers' }, [` attempt ${item.attempt}`])] : [])]);
        pick.addEventListener('click', () => select(keyOf(item)));
        return el('li', { 'data-sku': item.sku, 'data-score': String(item.score), ...(keyOf(item) === currentKey ? { 'aria-current': 'true' } : {}), ...(item.flagged ? { class: 'flagged' } : {}) }, [pick]);
      }),
    );
    const above = items.filter((item) => item.score >= Number(bulkScore.value)).length;
    bulkButton.textContent = `Approve ${above}`;
    bulkButton.toggleAttribute('disabled', above === 0);
  }

  /** @param {Item} item */
  function paintFacts(item) {
    title.textContent = item.sku;
    current.dataset.sku = item.sku;
    current.dataset.attempt = String(item.attempt);
    facts.replaceChildren(
      el('span', { class: `score-badge ${item.flagged ? 'flagged' : ''}` }, [`score ${item.score.toFixed(2)}${item.flagged ? ' · flagged' : ''}`]),
      el('span', { class: 'numbers' }, [
        ` row ${item.row} · attempt ${item.attempt} · seed ${item.seed} · waiting since ${new Date(item.waitingSince).toLocaleString()} · ${item.onDeadline} on ${new Date(item.deadline).toLocaleString()} if undecided`,
      ]),
    );
    failing.replaceChildren(...(item.failing.length ? item.failing.map((check) => el('li', {}, [check])) : [el('li', { class: 'hint' }, ['no failing check'])]));
    history.replaceChildren(
      ...(item.history.length
        ? item.history.map((entry) =>
            el('li', {}, [
              `${entry.decision} by ${entry.reviewer}, ${new Date(entry.decidedAt).toLocaleString()} (attempt ${entry.attempt}, seed ${entry.seed}${entry.nextSeed !== undefined ? ` → ${entry.nextSeed}` : ''})${entry.reason ? `: ${entry.reason}` : ''}`,
            ]),
          )
        : [el('li', { class: 'hint' }, ['first attempt, no decision yet'])]),
    );
  }

  /** Shows the item `key` (already loading in the hidden slot when it is the next one) and loads the one after it. @param {string} key */
  function select(key) {
    const items = waiting();
    const index = items.findIndex((item) => keyOf(item) === key);
    const item = items[index];
    if (!item) return;
    currentKey = key;
    let slot = slots.findIndex((candidate) => candidate.key === key);
    if (slot === -1) {
      slot = 1 - shownSlot;
      slots[slot].show(item);
    }
    shownSlot = slot;
    slots.forEach((candidate, i) => {
      candidate.root.dataset.shown = String(i === slot);
      candidate.root.setAttribute('aria-hidden', String(i !== slot));
      // Only the shown slot moves: a hidden video decoding, or a hidden model turning, costs the frames the
      // shown one needs (a still model-viewer draws once and then idles).
      const video = /** @type {HTMLVideoElement} */ (candidate.root.querySelector('video'));
      if (i === slot) void video.play().catch(() => undefined);
      else video.pause();
      candidate.root.querySelector('model-viewer')?.toggleAttribute('auto-rotate', i === slot);
    });
    paintFacts(item);
    paintQueue();
    // Prefetch: the next one (or the previous when this is the last) loads into the hidden slot, once the
    // shown one has been drawn: decoding a model and its textures would otherwise hold up this frame.
    const following = items[index + 1] ?? items[index - 1];
    if (prefetch && following && slots[1 - slot].key !== keyOf(following)) {
      const hidden = slots[1 - slot];
      const wanted = keyOf(following);
      void twoFrames().then(() => {
        if (live() && currentKey === key && hidden.key !== wanted && waiting().some((candidate) => keyOf(candidate) === wanted)) hidden.show(following);
      });
    }
  }

  /** Marks the key press, then the moment the next item's model and photo are on screen. @param {string} sku */
  async function measureShown(sku, mark) {
    const slot = slots[shownSlot];
    const prefetched = slot.ready();
    // rAF callbacks run before their frame is painted: the frame after the first holds the swapped page,
    // the frame after the model is ready holds the model (for a prefetched one, the same two frames).
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const frameMs = performance.now() - performance.getEntriesByName(`review-key-${mark}`)[0].startTime;
    while (!slot.ready() && live() && slot.item?.sku === sku) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => requestAnimationFrame(resolve));
    if (slot.item?.sku !== sku) return;
    performance.mark(`review-shown-${mark}`);
    const measure = performance.measure(`review-next-${mark}`, `review-key-${mark}`, `review-shown-${mark}`);
    timings.push({ sku, ms: measure.duration, frameMs, prefetched });
    slot.root.dataset.readyFor = sku;
  }

  /** @param {string} text @param {string} state */
  function logLine(text, state) {
    log.prepend(el('li', { class: state }, [text]));
  }

  /** @param {'approve' | 'regenerate' | 'reject'} decision @param {string} [why] */
  function decide(decision, why) {
    const items = waiting();
    const index = items.findIndex((item) => keyOf(item) === currentKey);
    const item = items[index];
    if (!item) return;
    decisions += 1;
    const mark = String(decisions);
    performance.mark(`review-key-${mark}`);
    decided.add(keyOf(item));
    const next = items[index + 1] ?? items[index - 1];
    if (next) {
      select(keyOf(next));
      void measureShown(next.sku, mark);
    } else {
      currentKey = '';
      paintQueue();
    }
    const body = decision === 'reject' ? { decision, attempt: item.attempt, reason: why } : { decision, attempt: item.attempt };
    const line = el('li', { class: 'pending', 'data-sku': item.sku }, [`${item.sku}: ${decision} … sending`]);
    log.prepend(line);
    void postJson(`${api}/items/${encodeURIComponent(item.sku)}`, body).then(({ ok, body: answer }) => {
      if (ok) {
        line.className = 'recorded';
        line.textContent = `${item.sku}: ${answer.decision} recorded by ${answer.reviewer} at ${new Date(answer.decidedAt).toLocaleTimeString()} (attempt ${answer.attempt}${answer.nextSeed !== undefined ? `, next seed ${answer.nextSeed}` : ''})${answer.reason ? `: ${answer.reason}` : ''}`;
      } else {
        line.className = 'refused';
        line.textContent = `${item.sku}: ${decision} refused: ${answer.error}`;
        // Back in the queue unless it waits no more (then the next poll drops it).
        if (answer.code !== 'not_waiting') decided.delete(keyOf(item));
        paintQueue();
        if (!currentKey && waiting().length) select(keyOf(waiting()[0]));
      }
    });
  }

  function askReason() {
    if (!currentKey) return;
    reasonBox.hidden = false;
    reason.value = '';
    reason.focus();
  }
  reason.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      const why = reason.value.trim();
      if (!why) return void reason.setAttribute('aria-invalid', 'true');
      reason.removeAttribute('aria-invalid');
      reasonBox.hidden = true;
      reason.blur();
      decide('reject', why);
    } else if (event.key === 'Escape') {
      reasonBox.hidden = true;
      reason.blur();
    }
  });

  for (const button of buttons.querySelectorAll('button')) {
    button.addEventListener('click', () => {
      const decision = /** @type {'approve' | 'regenerate' | 'reject'} */ (button.getAttribute('data-decision'));
      if (decision === 'reject') askReason();
      else decide(decision);
    });
  }

  async function approveAbove() {
    const minScore = Number(bulkScore.value);
    const shown = waiting().filter((item) => item.score >= minScore).map((item) => ({ sku: item.sku, attempt: item.attempt }));
    if (shown.length === 0) return;
    for (const item of shown) decided.add(`${item.sku}@${item.attempt}`);
    if (decided.has(currentKey)) {
      const rest = waiting();
      if (rest.length) select(keyOf(rest[0]));
      else currentKey = '';
    }
    paintQueue();
    const { ok, body } = await postJson(`${api}/approve-above`, { minScore, shown });
    if (!ok) {
      for (const item of shown) decided.delete(`${item.sku}@${item.attempt}`);
      logLine(`bulk approve refused: ${body.error}`, 'refused');
    } else {
      for (const { sku, recorded } of body.approved) logLine(`${sku}: approve recorded by ${recorded.reviewer} at ${new Date(recorded.decidedAt).toLocaleTimeString()} (bulk, score ≥ ${minScore})`, 'recorded');
      for (const { sku, error } of body.skipped) logLine(`${sku}: not approved: ${error}`, 'refused');
    }
    paintQueue();
  }
  bulkButton.addEventListener('click', () => void approveAbove());
  bulkScore.addEventListener('input', paintQueue);
  bulkScore.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      void approveAbove();
    } else if (event.key === 'Escape') bulkScore.blur();
  });

  /** @param {KeyboardEvent} event */
  function onKey(event) {
    if (!live()) return void document.removeEventListener('keydown', onKey);
    const target = /** @type {HTMLElement} */ (event.target);
    if (event.ctrlKey || event.metaKey || event.altKey || target.closest('input, textarea, select')) return;
    const items = waiting();
    const index = items.findIndex((item) => keyOf(item) === currentKey);
    const key = event.key.toLowerCase();
    if (key === 'a') decide('approve');
    else if (key === 'r') decide('regenerate');
    else if (key === 'x') askReason();
    else if ((key === 'j' || key === 'arrowdown') && items[index + 1]) select(keyOf(items[index + 1]));
    else if ((key === 'k' || key === 'arrowup') && items[index - 1]) select(keyOf(items[index - 1]));
    else if (key === 'b') bulkScore.focus();
    else return;
    event.preventDefault();
  }
  document.addEventListener('keydown', onKey);

  let timer = 0;
  const refresh = async () => {
    if (!live()) return;
    try {
      const answer = await getJson(api);
      reviewerName.textContent = `deciding as ${answer.reviewer}`;
      queue = answer.items;
      // Decided here and gone from the server: forget them (a regenerated SKU comes back as a new attempt).
      const listed = new Set(queue.map(keyOf));
      for (const key of [...decided]) if (!listed.has(key)) decided.delete(key);
      const items = waiting();
      if (!items.some((item) => keyOf(item) === currentKey)) {
        if (items.length) select(keyOf(items[0]));
        else currentKey = '';
      } else {
        // Keep the current one; make sure the hidden slot holds the one after it (the queue may have changed).
        select(currentKey);
      }
      paintQueue();
    } catch (error) {
      console.warn(error);
    }
    if (live()) timer = window.setTimeout(refresh, QUEUE_POLL_MS);
    else window.clearTimeout(timer);
  };
  void refresh();
}
