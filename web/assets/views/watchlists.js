// Watchlists (admins: the faces permission): who is enrolled, enrolment from a photo (shrunk in the
// browser so it fits the API's 64 KiB request limit) or from an event's face crop (the Events page), and
// search by photo ("who is this?").
// Face recognition runs only on cameras opted in with [faces.camera.NAME]; the model's training-data
// caveat is shown here, where people are enrolled.

import { get, post } from '../api.js';
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
    status);
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
