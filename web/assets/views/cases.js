// Evidence cases (users who may export): open a case, see its exports, notes and chain of custody (who
// created, exported, downloaded, annotated and viewed it, from the hash-chained audit log).

import { get, post } from '../api.js';
import { h, mount, heading, fmtTime, fmtBytes, toast, formData } from '../util.js';

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
      h('thead', h('tr', ['Case', 'Opened', 'By', 'Exports'].map((t) => h('th', t)))), body)), status);
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
