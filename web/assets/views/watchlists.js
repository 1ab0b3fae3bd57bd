// Watchlists (admins: the faces permission): who is enrolled, enrolment from a photo (shrunk in the
// browser so it fits the API's 64 KiB request limit) or from an event's face crop (the Events page), and
// search by photo ("who is this?"). Plate lists (the plate_lists permission): vigil.toml's, read-only, and
// those made here, where plates are added and removed.
// Face recognition runs only on cameras opted in with [faces.camera.NAME]; the model's training-data
// caveat is shown here, where people are enrolled.

import { get, post, del } from '../api.js';
import { h, mount, heading, fmtTime, toast } from '../util.js';

const CAVEAT = 'The face model (MobileFaceNet) was trained on MS-Celeb-1M, a research-only data set withdrawn by its '
  + 'authors; its accuracy differs across groups of people and is low on faces under 60 pixels. Check that face '
  + 'recognition is lawful where you use it before enrolling anyone.';

// A photo file as base64 JPEG at most 480 pixels on its longer side.
async function shrunk(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 480 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL('image/jpeg', 0.85).split(',')[1];
}

export async function render() {
  const body = h('tbody');
  const status = h('p.muted.small');
  const name = h('input', { name: 'name', required: true, maxlength: 100, placeholder: 'Name', 'aria-label': 'Name' });
  const list = h('input', { name: 'list', maxlength: 100, placeholder: 'watchlist', 'aria-label': 'Watchlist' });
  const photo = h('input', { name: 'photo', type: 'file', accept: 'image/jpeg,image/png', required: true, 'aria-label': 'Photo' });
  const form = h('form.inline', { onsubmit: async (e) => {
    e.preventDefault();
    const file = photo.files && photo.files[0];
    if (!file) return;
    try {
      const done = await post('/api/faces/people', { name: name.value, list: list.value || undefined, photo: await shrunk(file) });
      toast(`${done.name} enrolled on ${done.list}`);
      form.reset();
      await refresh();
    } catch (err) { toast(err.message, 'error'); }
  } }, name, list, photo, h('button', { type: 'submit' }, 'Enrol'));
  const probe = h('input', { name: 'probe', type: 'file', accept: 'image/jpeg,image/png', required: true, 'aria-label': 'Photo to identify' });
  const answer = h('p.small.identify-answer');
  const identify = h('form.inline.identify', { onsubmit: async (e) => {
    e.preventDefault();
    const file = probe.files && probe.files[0];
    if (!file) return;
    answer.textContent = 'Looking…';
    try {
      const r = await post('/api/faces/identify', { photo: await shrunk(file) });
      answer.textContent = r.match
        ? `${r.match.name} (watchlist ${r.match.list}), similarity ${r.match.score.toFixed(2)} (threshold ${r.threshold})`
        : `Nobody enrolled (threshold ${r.threshold}).`;
    } catch (err) { answer.textContent = err.message; }
  } }, probe, h('button.ghost', { type: 'submit' }, 'Who is this?'));
  mount(heading('Watchlists'),
    h('section.card', h('h2', 'Enrol a person'),
      h('p.muted.small', 'One photo holding exactly one face at least 30 pixels wide (60 or more is better). The face is kept as a sealed template only, never as a picture. Every enrolment is audited; erasure is the auditor\'s (Privacy page).'),
      h('p.small.warn', CAVEAT),
      form),
    h('section.card', h('h2', 'Search by photo'),
      h('p.muted.small', 'The one face of a photo compared with everyone enrolled. Every search is audited.'),
      identify, answer),
    h('div.card.scroll', h('h2', 'Enrolled'), h('table.data',
      h('thead', h('tr', ['Name', 'Watchlist', 'Templates', 'Enrolled', 'By'].map((t) => h('th', t)))), body)),
    status,
    plateLists());
  await refresh();

  async function refresh() {
    try {
      const { people } = await get('/api/faces/people');
      body.replaceChildren(...people.map((p) => h('tr', h('td', p.name), h('td', p.list), h('td', String(p.templates)),
        h('td.nowrap', fmtTime(p.enrolled)), h('td', p.by))));
      status.textContent = people.length ? '' : 'Nobody is enrolled.';
    } catch (err) { status.textContent = err.message; }
  }
}

// Plate lists: add a plate (a new list name makes the list, with the chosen alert level), remove one.
// vigil.toml's plates cannot be removed here; the analysis sees a change at its next read.
function plateLists() {
  const lists = h('div.plate-lists');
  const known = h('datalist#plate-list-names');
  const list = h('input', { name: 'list', required: true, maxlength: 100, placeholder: 'list (deny, staff…)', list: 'plate-list-names', 'aria-label': 'Plate list' });
  const plate = h('input', { name: 'plate', required: true, maxlength: 32, placeholder: 'plate', 'aria-label': 'Plate' });
  const note = h('input', { name: 'note', maxlength: 200, placeholder: 'why (optional)', 'aria-label': 'Note' });
  const alert = h('select', { name: 'alert', 'aria-label': 'Alert level of a new list' },
    ['high', 'normal', 'low', 'none'].map((a) => h('option', { value: a }, `alert: ${a}`)));
  let current = [];
  const form = h('form.inline.plate-add', { onsubmit: async (e) => {
    e.preventDefault();
    const isNew = !current.some((l) => l.name === list.value.trim());
    try {
      await post(`/api/plates/lists/${encodeURIComponent(list.value.trim())}/plates`,
        { plate: plate.value, note: note.value, alert: isNew ? alert.value : undefined });
      toast(`${plate.value} is on ${list.value.trim()}`);
      plate.value = ''; note.value = '';
      await load();
    } catch (err) { toast(err.message, 'error'); }
  } }, list, known, plate, note, alert, h('button', { type: 'submit' }, 'Add plate'));
  const status = h('p.muted.small');

  async function load() {
    try {
      ({ lists: current } = await get('/api/plates/lists'));
    } catch (err) { status.textContent = err.message; return; }
    known.replaceChildren(...current.map((l) => h('option', { value: l.name })));
    status.textContent = current.length ? '' : 'No plate list yet.';
    lists.replaceChildren(...current.map((l) => h('div.scroll',
      h('h3', `${l.name} `, h('span.muted.small', `alert ${l.alert}${l.source === 'config' ? ' · from vigil.toml' : ''}`)),
      h('table.data', h('thead', h('tr', ['Plate', 'Note', 'Added', 'By', ''].map((t) => h('th', t)))),
        h('tbody', l.plates.map((p) => h('tr', h('td.plate', p.plate), h('td', p.note),
          h('td.nowrap', p.added ? fmtTime(p.added) : 'vigil.toml'), h('td', p.by || ''),
          h('td', p.source === 'config'
            ? h('span.muted.small', { title: 'Set in vigil.toml: change it there' }, 'in vigil.toml')
            : h('button.ghost', { type: 'button', onclick: async () => {
              try {
                await del(`/api/plates/lists/${encodeURIComponent(l.name)}/plates/${encodeURIComponent(p.plate)}`);
                toast(`${p.plate} taken off ${l.name}`);
                await load();
              } catch (err) { toast(err.message, 'error'); }
            } }, 'Remove')))))))));
  }
  load();
  return h('section.card', h('h2', 'Plate lists'),
    h('p.muted.small', 'Plates read on cameras with plate reading are checked against these lists; a read on a list raises a plate_read event with the list\'s alert level. Spelling, separators and look-alike characters (O and 0, I and 1…) do not matter. Every change is audited.'),
    form, status, lists);
}
