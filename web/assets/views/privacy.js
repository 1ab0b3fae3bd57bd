// Privacy (the auditor): erasure requests — a camera's footage over a range erased with its events and
// snapshots, or a person's biometric data (face templates), after a confirmation — and the report of every
// erasure, ready to print.

import { get, post } from '../api.js';
import { h, mount, heading, fmtTime, fmtBytes, toast, fromLocalInput, toLocalInput } from '../util.js';
import { go } from '../app.js';

export async function render(_ctx, id) {
  if (id) return renderReport(id);
  const status = h('p.muted.small', 'Loading…');
  const body = h('tbody');
  const camSelect = h('select', { name: 'camera', required: true, 'aria-label': 'Camera' });
  const now = Date.now();
  const from = h('input', { type: 'datetime-local', step: 1, name: 'from', required: true, 'aria-label': 'From', value: toLocalInput(now - 3600e3) });
  const to = h('input', { type: 'datetime-local', step: 1, name: 'to', required: true, 'aria-label': 'To', value: toLocalInput(now - 3000e3) });
  const reason = h('input', { name: 'reason', required: true, maxlength: 200, placeholder: 'Request reference (e.g. GDPR-2026-014)', 'aria-label': 'Reason' });
  const form = h('form.inline', { onsubmit: async (e) => {
    e.preventDefault();
    const start = fromLocalInput(from.value), end = fromLocalInput(to.value);
    if (!(end > start)) { toast('The end must be after the start', 'error'); return; }
    const ok = window.confirm(`Erase every recording of ${camSelect.value} from ${fmtTime(start)} to ${fmtTime(end)}, `
      + 'with its events and snapshots? Whole segments go, so a little more may be erased at either end. This cannot be undone.');
    if (!ok) return;
    try {
      const done = await post('/api/erasures', { camera: camSelect.value, start, end, reason: reason.value });
      toast('Erased: the report follows');
      go(`/privacy/erasures/${done.id}`);
    } catch (err) { toast(err.message, 'error'); }
  } }, camSelect, from, to, reason, h('button.danger', { type: 'submit' }, 'Erase…'));
  const person = h('input', { name: 'person', required: true, maxlength: 100, placeholder: 'Enrolled name', 'aria-label': 'Person' });
  const personReason = h('input', { name: 'reason', required: true, maxlength: 200, placeholder: 'Request reference', 'aria-label': 'Reason' });
  const personForm = h('form.inline.biometric', { onsubmit: async (e) => {
    e.preventDefault();
    if (!window.confirm(`Erase every face template of ${person.value} and their enrolment? This cannot be undone.`)) return;
    try {
      const done = await post('/api/erasures/person', { name: person.value, reason: personReason.value });
      toast('Erased: the report follows');
      go(`/privacy/erasures/${done.id}`);
    } catch (err) { toast(err.message, 'error'); }
  } }, person, personReason, h('button.danger', { type: 'submit' }, 'Erase biometric data…'));
  mount(heading('Privacy'),
    h('section.card', h('h2', 'Erasure request: footage'),
      h('p.muted.small', 'Deletes a camera\'s footage over a time range with its events and snapshots. Footage under an evidence hold is refused until the hold is released. Every erasure is audited and has a printable report.'),
      form),
    h('section.card', h('h2', 'Erasure request: biometric data'),
      h('p.muted.small', 'Deletes the face templates of a person enrolled on a watchlist, and their enrolment.'),
      personForm),
    h('div.card.scroll', h('h2', 'Erasures'), h('table.data',
      h('thead', h('tr', ['When', 'By', 'What', 'Requested range', 'Erased', 'Events', 'Reason', ''].map((t) => h('th', t)))), body)),
    status);
  try {
    // The auditor does not watch cameras: their names come from the system status.
    const { cameras = [] } = await get('/api/system');
    for (const c of cameras) camSelect.append(h('option', { value: c.name }, c.name));
    const { erasures } = await get('/api/erasures');
    for (const e of erasures) {
      const r = e.report || {};
      if (e.kind === 'biometric') {
        body.append(h('tr', h('td.nowrap', fmtTime(e.at)), h('td', e.by), h('td', `biometric data of ${e.person}`),
          h('td.small', '—'), h('td.small', `${r.templates ?? 0} face template(s)`), h('td', '—'), h('td.small', r.reason || ''),
          h('td', h('a', { href: `#/privacy/erasures/${e.id}` }, 'Report'))));
        continue;
      }
      body.append(h('tr', h('td.nowrap', fmtTime(e.at)), h('td', e.by), h('td', e.camera),
        h('td.small', `${fmtTime(r.from)} – ${fmtTime(r.to)}`),
        h('td.small', r.erased ? `${(r.segments || []).length || r.segment_count || 0} segment(s), ${fmtBytes(r.bytes || 0)}` : 'no footage'),
        h('td', String(r.events ?? '—')), h('td.small', r.reason || ''),
        h('td', h('a', { href: `#/privacy/erasures/${e.id}` }, 'Report'))));
    }
    status.textContent = erasures.length ? '' : 'No erasure yet.';
  } catch (e) { status.textContent = e.message; }
}

// One erasure's report, laid out for printing (the navigation and buttons are left off the paper).
async function renderReport(id) {
  const e = await get(`/api/erasures/${encodeURIComponent(id)}`);
  const r = e.report || {};
  const row = (k, v) => h('tr', h('th', k), h('td', v));
  if (e.kind === 'biometric') {
    mount(heading(`Erasure report ${e.id}`, h('button.no-print', { type: 'button', onclick: () => window.print() }, 'Print'),
      h('a.button.ghost.no-print', { href: '#/privacy' }, 'Back')),
    h('section.card.report', h('table.kv', h('tbody',
      row('Audit entry', String(e.id)),
      row('Carried out', `${fmtTime(e.at)} by ${e.by}`),
      row('Person', e.person),
      row('Watchlist', r.list || ''),
      row('Reason', r.reason || ''),
      row('Face templates deleted', String(r.templates ?? 0)),
      row('Time zone', Intl.DateTimeFormat().resolvedOptions().timeZone || 'local'))),
    h('p.muted.small', 'The templates and the enrolment were deleted in one transaction; the database overwrites deleted pages. The erasure is in the hash-chained audit log.')));
    return;
  }
  const segments = (r.segments || []).map((s) => h('tr', h('td.nowrap', fmtTime(s.start)), h('td.nowrap', fmtTime(s.end)),
    h('td', s.file), h('td', fmtBytes(s.bytes))));
  mount(heading(`Erasure report ${e.id}`, h('button.no-print', { type: 'button', onclick: () => window.print() }, 'Print'),
    h('a.button.ghost.no-print', { href: '#/privacy' }, 'Back')),
  h('section.card.report',
    h('table.kv', h('tbody',
      row('Audit entry', String(e.id)),
      row('Carried out', `${fmtTime(e.at)} by ${e.by}`),
      row('Camera', e.camera),
      row('Reason', r.reason || ''),
      row('Requested range', `${fmtTime(r.from)} – ${fmtTime(r.to)}`),
      row('Footage erased', r.erased ? `${fmtTime(r.erased[0])} – ${fmtTime(r.erased[1])} (whole segments)` : 'none was recorded in the range'),
      row('Segments', String(segments.length || r.segment_count || 0)),
      row('Bytes', fmtBytes(r.bytes || 0)),
      row('Events deleted', String(r.events ?? '—')),
      row('Snapshot files deleted', String(r.snapshots ?? '—')),
      row('Time zone', Intl.DateTimeFormat().resolvedOptions().timeZone || 'local'))),
    segments.length ? h('table.data', h('thead', h('tr', ['Start', 'End', 'File', 'Size'].map((t) => h('th', t)))), h('tbody', segments)) : null,
    h('p.muted.small', 'The deletion is recorded in the recording integrity chain with its reason (vigil verify recordings reports it as an erasure) and in the hash-chained audit log.')));
}
