// Privacy (the auditor): erasure requests — a camera's footage over a range deleted with its events and
// snapshots, or kept with every face and plate in it blurred (a background job whose progress is shown),
// or a person's biometric data (face templates), after a confirmation — and the report of every erasure,
// ready to print.

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
  const mode = h('select', { name: 'mode', 'aria-label': 'How' },
    h('option', { value: 'delete' }, 'Delete the footage'),
    h('option', { value: 'blur' }, 'Blur faces and plates in it'));
  const jobs = h('div.blur-jobs');
  const form = h('form.inline', { onsubmit: async (e) => {
    e.preventDefault();
    const start = fromLocalInput(from.value), end = fromLocalInput(to.value);
    if (!(end > start)) { toast('The end must be after the start', 'error'); return; }
    const blur = mode.value === 'blur';
    const ok = window.confirm(blur
      ? `Blur every face and licence plate in the recordings of ${camSelect.value} from ${fmtTime(start)} to ${fmtTime(end)}, `
        + 'in the recording itself, and delete the events and snapshots there? Whole segments are re-encoded. This cannot be undone.'
      : `Erase every recording of ${camSelect.value} from ${fmtTime(start)} to ${fmtTime(end)}, `
        + 'with its events and snapshots? Whole segments go, so a little more may be erased at either end. This cannot be undone.');
    if (!ok) return;
    try {
      const body = { camera: camSelect.value, start, end, reason: reason.value };
      if (blur) {
        const { id } = await post('/api/erasures/blur', body);
        toast('Blurring started: it runs in the background');
        watchJob(id, jobs);
        return;
      }
      const done = await post('/api/erasures', body);
      toast('Erased: the report follows');
      go(`/privacy/erasures/${done.id}`);
    } catch (err) { toast(err.message, 'error'); }
  } }, camSelect, from, to, mode, reason, h('button.danger', { type: 'submit' }, 'Erase…'));
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
      h('p.muted.small', 'Deletes a camera\'s footage over a time range with its events and snapshots, or keeps it with every face and licence plate blurred in the recording itself (re-encoded in the background while recording goes on; the segment still being recorded is refused until it closes). Footage under an evidence hold is refused until the hold is released. Every erasure is audited and has a printable report.'),
      form, jobs),
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
    const { jobs: recent = [] } = await get('/api/erasures/blur');
    for (const j of recent) if (j.state !== 'done') showJob(j, jobs);
    for (const j of recent) if (j.state === 'running') watchJob(j.id, jobs);
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
        h('td.small', erasedSummary(r)),
        h('td', String(r.events ?? '—')), h('td.small', r.reason || ''),
        h('td', h('a', { href: `#/privacy/erasures/${e.id}` }, 'Report'))));
    }
    status.textContent = erasures.length ? '' : 'No erasure yet.';
  } catch (e) { status.textContent = e.message; }
}

// What a footage erasure did, in a few words.
function erasedSummary(r) {
  if (!r.erased) return 'no footage';
  if (r.mode === 'blur') return `${r.rewritten ?? 0} segment(s) blurred: ${r.faces ?? 0} face(s), ${r.plates ?? 0} plate(s)`;
  return `${(r.segments || []).length || r.segment_count || 0} segment(s), ${fmtBytes(r.bytes || 0)}`;
}

// A blurring's line: where it is, or why it failed.
function showJob(j, into) {
  const line = into.querySelector(`[data-job="${j.id}"]`) || into.appendChild(h('p.small', { 'data-job': String(j.id) }));
  const what = `Blurring ${j.id} (${j.camera}, ${fmtTime(j.start)} – ${fmtTime(j.end)}, by ${j.requested_by}): `;
  if (j.state === 'failed') { line.className = 'small error'; line.textContent = `${what}failed: ${j.error}`; return; }
  const pct = Math.round((j.fraction || 0) * 100);
  line.replaceChildren(what, j.phase === 'verifying' ? 'verifying the recordings first… '
    : j.phase === 'blurring' ? `segment ${j.segment} of ${j.segments} (${pct} %) ` : 'starting… ',
  h('progress', { max: 100, value: j.phase === 'blurring' ? pct : 0, 'aria-label': `Blurring ${j.id}` }));
}

// Follows a blurring until it ends, then opens its report.
async function watchJob(id, into) {
  for (;;) {
    let j;
    try { j = await get(`/api/erasures/blur/${id}`); } catch (e) { toast(e.message, 'error'); return; }
    if (!into.isConnected) return;
    if (j.state === 'done') { toast('Blurred: the report follows'); go(`/privacy/erasures/${j.report.id}`); return; }
    showJob(j, into);
    if (j.state === 'failed') return;
    await new Promise((res) => setTimeout(res, 1000));
  }
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
      row('Matches deleted', r.matches === undefined || r.matches === null ? '—' : `${r.matches} face_recognized event(s) naming them`),
      row('Time zone', Intl.DateTimeFormat().resolvedOptions().timeZone || 'local'))),
    h('p.muted.small', 'The templates and the enrolment were deleted in one transaction; the database overwrites deleted pages. The events that recognised the person were deleted with their snapshots (those under an evidence hold stay). The erasure is in the hash-chained audit log.')));
    return;
  }
  const blur = r.mode === 'blur';
  const segments = (r.segments || []).map((s) => h('tr', h('td.nowrap', fmtTime(s.start)), h('td.nowrap', fmtTime(s.end)),
    h('td', s.file), h('td', fmtBytes(s.bytes)),
    blur ? h('td', s.rewritten ? `${s.faces} face(s), ${s.plates} plate(s) blurred` : 'nothing to blur: as recorded') : null));
  mount(heading(`Erasure report ${e.id}`, h('button.no-print', { type: 'button', onclick: () => window.print() }, 'Print'),
    h('a.button.ghost.no-print', { href: '#/privacy' }, 'Back')),
  h('section.card.report',
    h('table.kv', h('tbody',
      row('Audit entry', String(e.id)),
      row('Carried out', `${fmtTime(e.at)} by ${e.by}`),
      row('Camera', e.camera),
      row('Reason', r.reason || ''),
      row('Requested range', `${fmtTime(r.from)} – ${fmtTime(r.to)}`),
      row('How', blur ? 'faces and licence plates blurred in the recording (and privacy masks blacked out)' : 'footage deleted'),
      row(blur ? 'Footage blurred' : 'Footage erased', r.erased ? `${fmtTime(r.erased[0])} – ${fmtTime(r.erased[1])} (whole segments)` : 'none was recorded in the range'),
      row('Segments', blur ? `${r.rewritten ?? 0} rewritten of ${segments.length}` : String(segments.length || r.segment_count || 0)),
      blur ? row('Blurred', `${r.faces ?? 0} face(s) in ${r.frames_with_faces ?? 0} frame(s), ${r.plates ?? 0} plate(s) in ${r.frames_with_plates ?? 0} frame(s), of ${r.frames ?? 0} frame(s)`) : null,
      row('Bytes', fmtBytes(r.bytes || 0)),
      row('Events deleted', String(r.events ?? '—')),
      row('Snapshot files deleted', String(r.snapshots ?? '—')),
      row('Time zone', Intl.DateTimeFormat().resolvedOptions().timeZone || 'local'))),
    segments.length ? h('table.data', h('thead', h('tr', ['Start', 'End', 'File', 'Size'].concat(blur ? ['Blurred'] : []).map((t) => h('th', t)))), h('tbody', segments)) : null,
    h('p.muted.small', blur
      ? 'Each rewritten segment keeps its frames at their times; the recording integrity chain was re-linked and re-signed, and vigil verify recordings lists each as blurred on request with its reason. The erasure is in the hash-chained audit log.'
      : 'The deletion is recorded in the recording integrity chain with its reason (vigil verify recordings reports it as an erasure) and in the hash-chained audit log.')));
}
