// Events: what the rules saw, newest first, with snapshots; filter by camera, kind and free text; open one
// for the full frame and a jump to its footage. New events appear as they happen (WebSocket
// /api/events/live): a row is added on an event's start and updated in place until its end.

import { get, post, qs, cam } from '../api.js';
import { h, mount, heading, fmtTime, fmtClock, fmtDuration, toast } from '../util.js';
import { hasRole } from '../app.js';
import { subscribe, onState, prefs, setPrefs } from '../alerts.js';
import { showSummary } from './summary.js';

const PAGE = 50;

export async function render() {
  let cameras = [];
  try { cameras = await get('/api/cameras'); } catch { /* the list still works without camera names */ }
  let next = null;

  const camera = h('select', { name: 'camera', 'aria-label': 'Camera' }, h('option', { value: '' }, 'All cameras'),
    cameras.map((c) => h('option', { value: c.name }, c.name)));
  const kind = h('select', { name: 'kind', 'aria-label': 'Kind' }, h('option', { value: '' }, 'All kinds'),
    ['intrusion', 'unclassified_motion', 'line_crossing', 'loitering', 'crowding', 'queue', 'plate_read', 'camera_health', 'onvif_event', 'activity_anomaly', 'scene_anomaly']
      // Face events are biometric: only admins (the faces permission) are given them.
      .concat(hasRole('admin') ? ['face_recognized', 'face_unknown'] : [])
      .map((k) => h('option', { value: k }, k.replace('_', ' '))));
  const q = h('input', { type: 'search', name: 'q', placeholder: 'Search descriptions…', 'aria-label': 'Search descriptions' });
  const list = h('div.events');
  const more = h('button.ghost', { type: 'button', hidden: true, onclick: () => load(false) }, 'Older events');
  const status = h('p.muted.small');
  const liveBadge = h('span.tag.live-badge', { title: 'New events appear as they happen' }, 'connecting…');
  const detail = h('dialog.detail');

  const filters = h('form.filters', { onsubmit: (e) => { e.preventDefault(); load(true); } },
    camera, kind, q, h('button', { type: 'submit' }, 'Filter'),
    h('button.ghost', { type: 'button', onclick: () => summarise(), title: 'What happened over the listed events (the last 24 hours when none)' }, 'Summary'));
  camera.addEventListener('change', () => load(true));
  kind.addEventListener('change', () => load(true));

  // Plate search: the plate_read events whose plate is the text, starts with it, or is one character off.
  const plate = h('input', { type: 'search', name: 'plate', maxlength: 32, placeholder: 'Plate (KX58 RTY)…', 'aria-label': 'Plate' });
  const how = h('select', { name: 'match', 'aria-label': 'Plate match' },
    ['exact', 'prefix', 'fuzzy'].map((m) => h('option', { value: m }, m === 'fuzzy' ? 'one character off' : m)));
  const plates = h('form.filters.plates', { onsubmit: async (e) => {
    e.preventDefault();
    if (!plate.value.trim()) { load(true); return; }
    next = null;
    more.hidden = true;
    list.replaceChildren();
    status.textContent = 'Searching…';
    try {
      const r = await get(`/api/plates${qs({ q: plate.value.trim(), match: how.value, camera: camera.value })}`);
      for (const ev of r.events) list.append(row(ev));
      status.textContent = r.events.length
        ? (r.complete ? '' : `The newest ${r.events.length} matches (${r.scanned} plate reads looked at).`)
        : `No plate matches (${r.scanned} plate reads looked at).`;
    } catch (err) { status.textContent = err.message; }
  } }, plate, how, h('button', { type: 'submit' }, 'Find plate'));

  mount(heading('Events', liveBadge, alertToggles()), filters, plates, status, list, h('div.pad.center-row', more), detail);
  await load(true);
  const rows = () => new Map([...list.children].map((el) => [el.dataset.id, el]));
  const unsubscribe = subscribe((e) => {
    if ((camera.value && e.camera !== camera.value) || (kind.value && e.kind !== kind.value)) return;
    if (q.value.trim() && !(e.description || '').toLowerCase().includes(q.value.trim().toLowerCase())) return;
    const existing = rows().get(e.id);
    if (existing) {
      // A later message of the same event: keep the snapshot a row already shows.
      if (!e.has_snapshot && existing.dataset.snapshot === '1') e.has_snapshot = true;
      existing.replaceWith(row(e));
    } else if (e.phase === 'start') {
      const r = row(e);
      r.classList.add('fresh');
      list.prepend(r);
      status.textContent = '';
    }
  });
  const unwatch = onState((state) => { liveBadge.textContent = state; liveBadge.classList.toggle('on', state === 'live'); });

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

  // Summary of the range the list shows: from its oldest loaded event (or 24 h ago) to now.
  function summarise() {
    const starts = [...list.children].map((el) => Number(el.dataset.start)).filter((t) => t > 0);
    const to = Date.now();
    const from = starts.length ? Math.min(...starts) : to - 86400000;
    showSummary(detail, { from, to: Math.max(to, from + 1), camera: camera.value }, () => detail.close());
    detail.showModal();
  }

  function row(e) {
    // A pushed event's snapshot may reach the store a moment after the event: retry a failed load once.
    const retry = (ev) => {
      const img = ev.target;
      if (img.dataset.retried) return;
      img.dataset.retried = '1';
      setTimeout(() => { img.src = `${img.src}&retry=1`; }, 1500);
    };
    const thumb = e.has_snapshot
      ? h('img', { src: `/api/events/${encodeURIComponent(e.id)}/snapshot?kind=crop`, alt: '', loading: 'lazy', onerror: retry })
      : h('div.noshot', '—');
    const len = e.end ? fmtDuration((e.end - e.start) / 1000) : 'ongoing';
    return h('button.event', { type: 'button', onclick: () => open(e), dataset: { id: e.id, snapshot: e.has_snapshot ? '1' : '0', start: e.start } },
      h('div.thumb', thumb),
      h('div.info',
        h('div.line1', h('strong', e.description || `${e.kind} ${e.class || ''}`)),
        h('div.line2.muted', `${fmtTime(e.start)} · ${e.camera} · ${e.rule || e.kind} · ${len}`)),
      h('span.tag', e.kind));
  }

  function open(e) {
    detail.replaceChildren(
      h('div.detail-head', h('h2', e.description || e.kind), h('button.ghost', { type: 'button', onclick: () => detail.close() }, '✕')),
      e.has_snapshot ? h('div.shot', h('img.full', { src: `/api/events/${encodeURIComponent(e.id)}/snapshot?kind=full`, alt: 'Snapshot' })) : null,
      h('dl',
        h('dt', 'Camera'), h('dd', e.camera),
        h('dt', 'Rule'), h('dd', e.rule || '—'),
        h('dt', 'Kind'), h('dd', e.kind),
        h('dt', 'Class'), h('dd', e.class || '—'),
        h('dt', 'Start'), h('dd', fmtTime(e.start)),
        h('dt', 'End'), h('dd', e.end ? fmtTime(e.end) : 'ongoing'),
        ...looks(e.attributes)),
      h('a.button', { href: `#/camera/${cam(e.camera)}?t=${Math.round(e.start - 3000)}`, onclick: () => detail.close() }, '▶ Play footage'),
      h('button.ghost', { type: 'button', onclick: () => showSummary(detail, { incident: e.id }, () => detail.close()) }, 'Summary of this incident'),
      e.class ? lifecycle(e) : null,
      e.class === 'person' ? elsewhere(e) : null,
      e.class === 'person' ? h('a.button.ghost', { href: `#/search${qs({ like: e.id })}`, onclick: () => detail.close() }, 'More like this (every camera, any time)') : null,
      e.class === 'person' && e.has_snapshot && hasRole('admin') ? enrolFrom(e) : null);
    detail.showModal();
  }

  // What the event's main object looked like and how it moved (its attributes): "red top, black trousers",
  // "moving right", the zones it visited; nothing when unknown.
  function looks(a) {
    if (!a) return [];
    const out = [];
    const clothes = [a.upper_colour && `${a.upper_colour} top`, a.lower_colour && `${a.lower_colour} trousers`].filter(Boolean);
    if (clothes.length) out.push(h('dt', 'Wearing'), h('dd.attr-clothes', clothes.join(', ')));
    if (a.colour) out.push(h('dt', 'Colour'), h('dd.attr-colour', a.colour));
    const moves = [a.direction && (a.direction === 'still' ? 'staying put' : `moving ${a.direction}`),
      a.speed != null && `${a.speed} frame heights/s`, a.size != null && `${Math.round(a.size * 100)}% of the frame's height`].filter(Boolean);
    if (moves.length) out.push(h('dt', 'Movement'), h('dd', moves.join(', ')));
    if (a.zones && a.zones.length) out.push(h('dt', 'Zones'), h('dd', a.zones.join(' → ')));
    return out;
  }

  // Enrol the person of this event on a watchlist from its face crop (admins: the faces permission).
  function enrolFrom(e) {
    const name = h('input', { name: 'name', required: true, maxlength: 100, placeholder: 'Name', 'aria-label': 'Name' });
    const list = h('input', { name: 'list', maxlength: 100, placeholder: 'watchlist', 'aria-label': 'Watchlist' });
    return h('form.inline.enrol', { onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const done = await post('/api/faces/people', { name: name.value, list: list.value || undefined, event: e.id });
        toast(`${done.name} enrolled on ${done.list}`);
      } catch (err) { toast(err.message, 'error'); }
    } }, name, list, h('button.ghost', { type: 'submit' }, 'Enrol this face'));
  }

  // How a sighting's timing fits the camera links (no link configured: nothing to say).
  const TRANSIT = { fits: 'fits the walk', too_soon: 'too soon', late: 'later than usual', unlinked: '', same_camera: '' };

  // "Seen elsewhere": the people of the user's cameras within an hour who look most like this event's
  // person (re-identification), each a link to its footage.
  // The object's lifecycle: the path it took over the snapshot, and every event it took part in, in order.
  function lifecycle(e) {
    const list = h('ol.lifecycle-steps');
    const box = h('section.lifecycle', h('h3', 'Lifecycle'), list);
    const secs = (ms) => new Date(ms).toTimeString().slice(0, 8);
    get(`/api/events/${encodeURIComponent(e.id)}/lifecycle`).then((life) => {
      const paths = life.paths || [];
      const first = Math.min(...paths.map((p) => p.first_ms), e.start);
      const last = Math.max(...paths.map((p) => p.last_ms), e.end || e.start);
      const steps = [];
      steps.push(h('li', `${secs(first)} first seen${paths.length ? ` (${paths[0].class}, track ${paths.map((p) => p.track).join(', ')})` : ''}`));
      for (const ev of life.events) {
        const where = ev.zone ? ` in ${ev.zone}` : ev.line ? ` at ${ev.line}` : '';
        const span = ev.end ? `${secs(ev.start)}–${secs(ev.end)}` : `${secs(ev.start)}–now`;
        steps.push(h('li', { class: ev.id === e.id ? 'this' : '' }, `${span} ${ev.rule || ev.kind}${where}: ${ev.description}`));
      }
      steps.push(h('li', `${secs(last)} last seen`));
      list.replaceChildren(...steps);
      const img = detail.querySelector('.shot img.full');
      if (!img || !paths.length) return;
      const canvas = h('canvas.lifecycle-path', { 'aria-label': `Path of the object across the picture, ${paths.length} track(s)`, role: 'img' });
      img.parentElement.append(canvas);
      const draw = () => {
        const w = img.clientWidth, hgt = img.clientHeight, dpr = window.devicePixelRatio || 1;
        canvas.width = Math.round(w * dpr); canvas.height = Math.round(hgt * dpr);
        canvas.style.width = `${w}px`; canvas.style.height = `${hgt}px`;
        const g = canvas.getContext('2d');
        g.setTransform(dpr, 0, 0, dpr, 0, 0);
        g.lineWidth = 3; g.lineJoin = 'round';
        for (const p of paths) {
          g.strokeStyle = '#4fc3f7';
          g.beginPath();
          p.points.forEach((q, i) => { if (i) g.lineTo(q.x * w, q.y * hgt); else g.moveTo(q.x * w, q.y * hgt); });
          g.stroke();
          const a = p.points[0], b = p.points[p.points.length - 1];
          g.fillStyle = '#81c784'; g.beginPath(); g.arc(a.x * w, a.y * hgt, 6, 0, 2 * Math.PI); g.fill();
          g.fillStyle = '#ef5350'; g.beginPath(); g.arc(b.x * w, b.y * hgt, 6, 0, 2 * Math.PI); g.fill();
        }
        canvas.dataset.points = String(paths.reduce((n, p) => n + p.points.length, 0));
      };
      if (img.complete) draw(); else img.addEventListener('load', draw, { once: true });
    }).catch((err) => { list.replaceChildren(h('li.muted', `No lifecycle: ${err.message}`)); });
    return box;
  }

  function elsewhere(e) {
    const out = h('div.elsewhere');
    const button = h('button.ghost', { type: 'button', onclick: async () => {
      button.disabled = true;
      out.replaceChildren(h('p.muted.small', 'Looking…'));
      try {
        const { sightings } = await get(`/api/events/${encodeURIComponent(e.id)}/elsewhere`);
        // A timeline across cameras: this event and each sighting in the order they happened, with the
        // crop of the sighting's first event; the best matches (as ranked) are marked.
        const rows = sightings.map((s, rank) => ({ ...s, rank }))
          .concat([{ camera: e.camera, first_ms: e.start, last_ms: e.end || e.start, here: true, events: [e.id] }])
          .sort((a, b) => a.first_ms - b.first_ms);
        const crop = (ids) => (ids && ids.length
          ? h('img.crop', { src: `/api/events/${encodeURIComponent(ids[0])}/snapshot?kind=crop`, alt: '', loading: 'lazy', onerror: (ev) => { ev.target.replaceWith(h('span.noshot', '—')); } })
          : h('span.noshot', '—'));
        out.replaceChildren(sightings.length
          ? h('table.data.elsewhere-timeline', h('thead', h('tr', ['', 'Camera', 'Seen', 'Similarity', 'Timing', ''].map((t) => h('th', t)))),
            h('tbody', rows.map((s) => h(s.here ? 'tr.here' : 'tr', h('td', crop(s.events)), h('td', s.camera),
              h('td.nowrap', `${fmtTime(s.first_ms)} – ${fmtClock(s.last_ms)}`),
              h('td', s.here ? 'this event' : `${s.similarity.toFixed(2)}${s.rank === 0 ? ' · best' : ''}`),
              h('td.transit', { title: 'How the time between fits the walk between the cameras ([[links.camera]])' }, s.here ? '' : (TRANSIT[s.transit] || '')),
              h('td', h('a', { href: `#/camera/${cam(s.camera)}?t=${Math.round(s.first_ms - 3000)}`, onclick: () => detail.close() }, 'Play'))))))
          : h('p.muted.small', 'Nobody alike was seen within an hour (or this person was not followed long enough to tell).'));
      } catch (err) { out.replaceChildren(h('p.error.small', err.message)); }
    } }, 'Seen elsewhere?');
    return h('div', button, out);
  }

  return () => { unsubscribe(); unwatch(); };
}

// Sound and browser notifications when an alert starts (this browser's choice; notifications need the
// browser's permission, asked when switched on).
function alertToggles() {
  const box = (key, label) => {
    const input = h('input', { type: 'checkbox', name: key, checked: prefs()[key], onchange: async () => {
      const now = await setPrefs({ [key]: input.checked });
      input.checked = now[key];
      if (key === 'notify' && !now.notify && input.checked === false && 'Notification' in window && Notification.permission === 'denied') {
        toast('The browser blocks notifications for this site.', 'warn');
      }
    } });
    return h('label.check.small', input, ` ${label}`);
  };
  return h('span.alert-toggles', box('sound', 'Sound'), box('notify', 'Notify'));
}
