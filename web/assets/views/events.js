// Events: what the rules saw, newest first, with snapshots; filter by camera, kind and free text; open one
// for the full frame and a jump to its footage.

import { get, qs, cam } from '../api.js';
import { h, mount, heading, fmtTime, fmtDuration } from '../util.js';

const PAGE = 50;

export async function render() {
  let cameras = [];
  try { cameras = await get('/api/cameras'); } catch { /* the list still works without camera names */ }
  let next = null;

  const camera = h('select', { name: 'camera' }, h('option', { value: '' }, 'All cameras'),
    cameras.map((c) => h('option', { value: c.name }, c.name)));
  const kind = h('select', { name: 'kind' }, h('option', { value: '' }, 'All kinds'),
    ['intrusion', 'line_crossing', 'loitering', 'crowding', 'queue'].map((k) => h('option', { value: k }, k.replace('_', ' '))));
  const q = h('input', { type: 'search', name: 'q', placeholder: 'Search descriptions…' });
  const list = h('div.events');
  const more = h('button.ghost', { type: 'button', hidden: true, onclick: () => load(false) }, 'Older events');
  const status = h('p.muted.small');
  const detail = h('dialog.detail');

  const filters = h('form.filters', { onsubmit: (e) => { e.preventDefault(); load(true); } },
    camera, kind, q, h('button', { type: 'submit' }, 'Filter'));
  camera.addEventListener('change', () => load(true));
  kind.addEventListener('change', () => load(true));

  mount(heading('Events'), filters, status, list, h('div.pad.center-row', more), detail);
  await load(true);

  async function load(reset) {
    if (reset) { next = null; list.replaceChildren(); }
    status.textContent = 'Loading…';
    try {
      const r = await get(`/api/events${qs({ camera: camera.value, kind: kind.value, q: q.value.trim(), before: next, limit: PAGE })}`);
      for (const e of r.events || []) list.append(row(e));
      next = r.next ?? null;
      more.hidden = next === null;
      status.textContent = list.children.length ? '' : 'No events match.';
    } catch (e) {
      status.textContent = e.message;
    }
  }

  function row(e) {
    const thumb = e.has_snapshot
      ? h('img', { src: `/api/events/${encodeURIComponent(e.id)}/snapshot?kind=crop`, alt: '', loading: 'lazy' })
      : h('div.noshot', '—');
    const len = e.end ? fmtDuration((e.end - e.start) / 1000) : 'ongoing';
    return h('button.event', { type: 'button', onclick: () => open(e) },
      h('div.thumb', thumb),
      h('div.info',
        h('div.line1', h('strong', e.description || `${e.kind} ${e.class || ''}`)),
        h('div.line2.muted', `${fmtTime(e.start)} · ${e.camera} · ${e.rule || e.kind} · ${len}`)),
      h('span.tag', e.kind));
  }

  function open(e) {
    detail.replaceChildren(
      h('div.detail-head', h('h2', e.description || e.kind), h('button.ghost', { type: 'button', onclick: () => detail.close() }, '✕')),
      e.has_snapshot ? h('img.full', { src: `/api/events/${encodeURIComponent(e.id)}/snapshot?kind=full`, alt: 'Snapshot' }) : null,
      h('dl',
        h('dt', 'Camera'), h('dd', e.camera),
        h('dt', 'Rule'), h('dd', e.rule || '—'),
        h('dt', 'Kind'), h('dd', e.kind),
        h('dt', 'Class'), h('dd', e.class || '—'),
        h('dt', 'Start'), h('dd', fmtTime(e.start)),
        h('dt', 'End'), h('dd', e.end ? fmtTime(e.end) : 'ongoing')),
      h('a.button', { href: `#/camera/${cam(e.camera)}?t=${Math.round(e.start - 3000)}`, onclick: () => detail.close() }, '▶ Play footage'));
    detail.showModal();
  }
}
