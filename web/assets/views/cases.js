// Evidence cases (users who may export): open a case, see its exports, notes and chain of custody (who
// created, exported, downloaded, annotated and viewed it, from the hash-chained audit log).

import { get, post } from '../api.js';
import { h, mount, heading, fmtTime, fmtBytes, toast, formData, toLocalInput, fromLocalInput } from '../util.js';

export async function render(ctx, id) {
  if (id) return detail(Number(id));
  const body = h('tbody');
  const status = h('p.muted.small', 'Loading…');
  const form = h('form.inline', { onsubmit: async (e) => {
    e.preventDefault();
    const f = formData(form);
    try {
      const c = await post('/api/cases', { title: f.title, description: f.description || '' });
      ctx.go(`/cases/${c.id}`);
    } catch (err) { toast(err.message, 'error'); }
  } },
  h('input', { name: 'title', placeholder: 'Title or reference', required: true, maxlength: 200 }),
  h('input', { name: 'description', placeholder: 'What it is about', maxlength: 4000 }),
  h('button', { type: 'submit' }, 'Open case'));
  mount(heading('Cases'), h('section.card', form),
    h('div.card.scroll', h('table.data',
      h('thead', h('tr', ['Case', 'Opened', 'By', 'Exports'].map((t) => h('th', t)))), body)), status,
    holdsCard());
  try {
    const { cases } = await get('/api/cases');
    for (const c of cases) {
      body.append(h('tr', h('td', h('a', { href: `#/cases/${c.id}` }, c.title)), h('td.nowrap', fmtTime(c.created)),
        h('td', c.created_by), h('td', String(c.exports))));
    }
    status.textContent = cases.length ? '' : 'No cases yet.';
  } catch (e) { status.textContent = e.message; }
}

async function detail(id) {
  const status = h('p.muted.small', 'Loading…');
  mount(heading('Case'), status);
  let d;
  try { d = await get(`/api/cases/${id}`); } catch (e) { status.textContent = e.message; return; }
  const note = h('textarea', { name: 'text', rows: 2, maxlength: 4000, required: true, placeholder: 'Add a note' });
  const noteForm = h('form', { onsubmit: async (e) => {
    e.preventDefault();
    try { await post(`/api/cases/${id}/notes`, { text: note.value }); detail(id); } catch (err) { toast(err.message, 'error'); }
  } }, note, h('button', { type: 'submit' }, 'Add note'));
  mount(heading(h('span', h('a.back', { href: '#/cases', 'aria-label': 'Back to cases' }, '‹'), ' ', d.case.title)),
    h('p.muted', d.case.description || ''),
    h('p.small', `Opened ${fmtTime(d.case.created)} by ${d.case.created_by}`),
    h('section.card', h('h2', 'Exports'),
      d.exports.length ? h('ul', d.exports.map((x) => h('li', `${x.camera} ${fmtTime(x.start)} – ${fmtTime(x.end)} · ${x.state}`,
        x.state === 'done' ? [' · ', h('a', { href: `/api/exports/${encodeURIComponent(x.id)}/file` }, `Download (${fmtBytes(x.bytes)})`)] : null)))
        : h('p.muted.small', 'No export yet: choose this case in a camera\'s export form.')),
    h('section.card', h('h2', 'Notes'),
      h('ul', d.notes.map((n) => h('li', h('span.small.muted', `${fmtTime(n.at)} ${n.author}: `), n.text))), noteForm),
    h('section.card', h('h2', 'Chain of custody'),
      h('table.data', h('thead', h('tr', ['When', 'Who', 'From', 'What', 'Detail'].map((t) => h('th', t)))),
        h('tbody', d.custody.map((e) => h('tr', h('td.nowrap', fmtTime(e.at)), h('td', e.user), h('td.mono', e.ip),
          h('td', h('span.tag', e.action)), h('td.small', e.detail)))))));
}

// Evidence holds: footage kept from retention and erasure until released (the same holds `vigil hold` manages).
function holdsCard() {
  const body = h('tbody');
  const status = h('p.muted.small', 'Loading…');
  const camera = h('select', { name: 'camera', required: true, 'aria-label': 'Camera' });
  const from = h('input', { type: 'datetime-local', step: 1, required: true, value: toLocalInput(Date.now() - 3600e3), 'aria-label': 'Hold from' });
  const to = h('input', { type: 'datetime-local', step: 1, required: true, value: toLocalInput(Date.now()), 'aria-label': 'Hold until' });
  const note = h('input', { name: 'note', required: true, maxlength: 200, placeholder: 'Case or reference' });
  const form = h('form.inline', { onsubmit: async (e) => {
    e.preventDefault();
    try {
      await post('/api/holds', { camera: camera.value, start: fromLocalInput(from.value), end: fromLocalInput(to.value), note: note.value });
      toast('Footage held');
      load();
    } catch (err) { toast(err.message, 'error'); }
  } }, camera, from, to, note, h('button', { type: 'submit' }, 'Hold footage'));
  async function load() {
    try {
      const { holds } = await get('/api/holds');
      body.replaceChildren(...holds.map((x) => h('tr', h('td', x.camera || 'all cameras'),
        h('td.small', `${fmtTime(x.start)} – ${fmtTime(x.end)}`), h('td', x.note),
        h('td', h('button.ghost', { type: 'button', onclick: async () => {
          if (!confirm(`Release the hold "${x.note}"? Retention may then delete this footage.`)) return;
          try { await post(`/api/holds/${x.id}/release`); load(); } catch (err) { toast(err.message, 'error'); }
        } }, 'Release')))));
      status.textContent = holds.length ? '' : 'No footage is held.';
    } catch (e) { status.textContent = e.message; }
  }
  get('/api/cameras').then((list) => { for (const c of list) camera.append(h('option', { value: c.name }, c.name)); }).catch(() => {});
  load();
  return h('section.card', h('h2', 'Evidence holds'),
    h('p.muted.small', 'Held footage is never deleted by retention or erasure until released.'), form,
    h('table.data', h('thead', h('tr', ['Camera', 'Range', 'Note', ''].map((t) => h('th', t)))), body), status);
}
