// Review: the caller's events grouped into items (one camera, close together in time) as cards with
// snapshot, camera, time and severity, worked through from the keyboard: j/k or the arrow keys move,
// Enter or Space plays the item's footage, r marks it reviewed (again: unreviewed), f marks it a false
// alarm (and reviewed), shift+R marks every item shown reviewed, ? shows the keys. Reviewed marks are the
// user's own. Admins also see the weekly false-alarm table (per camera, rule and ISO week).

import { get, post, qs, cam } from '../api.js';
import { h, mount, heading, toast, fmtTime } from '../util.js';
import { hasRole, go } from '../app.js';
import * as alerts from '../alerts.js';
import * as reviewBadge from '../review_badge.js';

const KEYS = [
  ['j / ↓', 'next item'],
  ['k / ↑', 'previous item'],
  ['Enter / Space', 'play the item\'s footage'],
  ['r', 'mark reviewed (again: unreviewed)'],
  ['f', 'mark a false alarm (and reviewed)'],
  ['shift + R', 'mark every item shown reviewed'],
  ['?', 'show these keys'],
];

export async function render() {
  let cameras = [];
  try { cameras = await get('/api/cameras'); } catch { /* the list still works without camera names */ }
  const camera = h('select', { name: 'camera', 'aria-label': 'Camera' }, h('option', { value: '' }, 'All cameras'),
    cameras.map((c) => h('option', { value: c.name }, c.name)));
  const severity = h('select', { name: 'severity', 'aria-label': 'Severity' },
    h('option', { value: '' }, 'All severities'), h('option', { value: 'alert' }, 'Alerts'),
    h('option', { value: 'detection' }, 'Detections'));
  const unreviewed = h('input', { type: 'checkbox', name: 'unreviewed', checked: true });
  const filters = h('form.filters', { onsubmit: (e) => { e.preventDefault(); load(true); } },
    camera, severity, h('label.check', unreviewed, ' Unreviewed only'));
  for (const f of [camera, severity, unreviewed]) f.addEventListener('change', () => load(true));

  const list = h('div.review-list', { role: 'listbox', 'aria-label': 'Review items (j/k to move, ? for keys)', tabindex: 0 });
  const more = h('button.ghost', { type: 'button', hidden: true, onclick: () => load(false) }, 'Older items');
  const status = h('p.muted.small', { role: 'status' });
  const keys = h('dialog.detail.review-keys', { 'aria-label': 'Keyboard shortcuts' },
    h('h2', 'Keys'), h('table', h('tbody', KEYS.map(([k, what]) => h('tr', h('td', h('kbd', k)), h('td', what))))),
    h('form', { method: 'dialog' }, h('button', { type: 'submit' }, 'Close')));
  const report = h('div');

  let items = [];
  let selected = -1;
  let next = null;
  const cards = [];

  function card(it, i) {
    const img = it.snapshot
      ? h('img', { src: `/api/events/${encodeURIComponent(it.snapshot)}/snapshot`, alt: `Snapshot of ${it.camera}`, loading: 'lazy' })
      : h('div.noshot', 'no snapshot');
    const el = h('div.review-card', {
      role: 'option', tabindex: -1, id: `review-${i}`,
      'aria-selected': 'false',
      dataset: { id: it.id, severity: it.severity },
      onclick: () => select(i),
      ondblclick: () => open(i),
    }, img, h('div.review-body',
      h('div', h(`span.tag.sev-${it.severity}`, it.severity), ' ', h('strong', it.camera), ' ',
        h('span.muted', fmtTime(it.start)), it.open ? h('span.tag', 'in progress') : null),
      h('div', it.description),
      h('div.muted.small', `${it.count} event${it.count === 1 ? '' : 's'} · ${it.classes.join(', ')} · ${it.rules.join(', ')}`),
      h('div.review-state.small', stateText(it))));
    el.classList.toggle('reviewed', it.reviewed);
    return el;
  }

  function stateText(it) {
    return [it.reviewed ? 'reviewed' : 'not reviewed', it.falseAlarm ? 'false alarm' : null].filter(Boolean).join(' · ');
  }

  function redrawCard(i) {
    const it = items[i];
    const el = cards[i];
    el.classList.toggle('reviewed', it.reviewed);
    el.querySelector('.review-state').textContent = stateText(it);
  }

  function select(i) {
    if (!items.length) return;
    i = Math.max(0, Math.min(items.length - 1, i));
    if (selected >= 0 && cards[selected]) {
      cards[selected].setAttribute('aria-selected', 'false');
      cards[selected].classList.remove('selected');
    }
    selected = i;
    const el = cards[i];
    el.setAttribute('aria-selected', 'true');
    el.classList.add('selected');
    list.setAttribute('aria-activedescendant', el.id);
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: 'nearest' });
  }

  function open(i) {
    const it = items[i];
    if (it) go(`/camera/${cam(it.camera)}?t=${Math.round(it.start - 3000)}`);
  }

  async function setReviewed(idx, reviewed) {
    const chosen = idx.map((i) => items[i]);
    const events = chosen.flatMap((it) => it.events);
    if (!events.length) return;
    await post('/api/review/reviewed', { events, reviewed });
    for (const i of idx) { items[i].reviewed = reviewed; redrawCard(i); }
    reviewBadge.refresh();
  }

  async function falseAlarm(i) {
    const it = items[i];
    for (const id of it.events) await post(`/api/events/${encodeURIComponent(id)}/feedback`, { verdict: 'false_alarm', note: '' });
    it.falseAlarm = true;
    await setReviewed([i], true);
    toast(`${it.camera} ${fmtTime(it.start)}: marked a false alarm`);
    if (hasRole('admin')) loadReport();
  }

  async function onKey(e) {
    const t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    if (e.ctrlKey || e.metaKey || e.altKey || keys.open) return;
    const k = e.key;
    try {
      if (k === 'j' || k === 'ArrowDown') { e.preventDefault(); select(selected + 1); }
      else if (k === 'k' || k === 'ArrowUp') { e.preventDefault(); select(selected - 1); }
      else if ((k === 'Enter' || k === ' ') && selected >= 0 && t.tagName !== 'BUTTON' && t.tagName !== 'A') { e.preventDefault(); open(selected); }
      else if (k === 'r' && selected >= 0) { e.preventDefault(); await setReviewed([selected], !items[selected].reviewed); select(selected + 1); }
      else if (k === 'R') { e.preventDefault(); await setReviewed(items.map((_, i) => i), true); toast(`${items.length} item(s) marked reviewed`); }
      else if (k === 'f' && selected >= 0) { e.preventDefault(); await falseAlarm(selected); select(selected + 1); }
      else if (k === '?') { e.preventDefault(); keys.showModal(); }
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  async function load(reset) {
    if (reset) { items = []; cards.length = 0; next = null; selected = -1; list.replaceChildren(); }
    status.textContent = 'Loading…';
    try {
      const page = await get(`/api/review${qs({
        camera: camera.value, severity: severity.value, reviewed: unreviewed.checked ? 'false' : '',
        cursor: reset ? '' : next, limit: 50,
      })}`);
      for (const it of page.items) {
        const i = items.length;
        items.push(it);
        const el = card(it, i);
        cards.push(el);
        list.append(el);
      }
      next = page.next_cursor;
      more.hidden = !next;
      status.textContent = items.length
        ? `${items.length} item(s). Keys: j/k move, Enter plays, r reviewed, f false alarm, shift+R all reviewed, ? help.`
        : 'Nothing to review.';
      if (reset && items.length) select(0);
    } catch (err) {
      status.textContent = err.message;
    }
  }

  async function loadReport() {
    try {
      const r = await get('/api/review/feedback?weeks=8');
      report.replaceChildren(h('section.card',
        h('h2', 'False alarms per week'),
        h('p.muted.small', 'Per camera and rule, per ISO week (the site\'s time zone): events the rule raised, how many people marked false or true alarms, and the false-alarm rate — the evidence to tune thresholds on.'),
        r.rows.length ? h('table.review-report',
          h('thead', h('tr', ['Week', 'Camera', 'Rule', 'Events', 'False alarms', 'True alarms', 'Rate'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', r.rows.map((w) => h('tr', h('td', w.week), h('td', w.camera), h('td', w.rule),
            h('td.num', w.events), h('td.num', w.false_alarms), h('td.num', w.true_alarms),
            h('td.num', `${(w.rate * 100).toFixed(1)}%`))))) : h('p', 'No events in the last 8 weeks.')));
    } catch (err) {
      report.replaceChildren(h('p.error', err.message));
    }
  }

  mount(h('div.pad',
    heading('Review', h('button.ghost', { type: 'button', onclick: () => keys.showModal(), 'aria-keyshortcuts': '?' }, 'Keys (?)')),
    filters, status, list, more, report, keys));
  document.addEventListener('keydown', onKey);
  // New events: the count on the Review link follows (review_badge.js); the page offers a reload.
  const off = alerts.subscribe((e) => {
    if (e.phase === 'start') status.textContent = `New events since this list was loaded — ${items.length} item(s) shown. Change a filter or reload to see them.`;
  });
  await load(true);
  if (hasRole('admin')) loadReport();
  return () => { document.removeEventListener('keydown', onKey); off(); };
}
