// Search: one query box over events and tracks ("red car at the gate last night", "person in black near
// the table yesterday 15:00-17:00"). The server parses the query into filters and says what it understood;
// results come best first with why they matched. A person's result offers "More like this": the people who
// look most like them on every camera (GET /api/search/similar). docs/search.md.

import { get, qs, cam } from '../api.js';
import { h, mount, heading, fmtTime, fmtClock } from '../util.js';
import { routeQuery, go } from '../app.js';

const EXAMPLES = ['person in red', 'car at the gate last night', 'loitering near the table yesterday', 'bike this morning'];

export async function render() {
  const input = h('input', { type: 'search', name: 'q', maxlength: 500, autofocus: true,
    placeholder: 'What are you looking for? e.g. "red car at the gate last night"', 'aria-label': 'Search' });
  const understood = h('p.muted.small.understood');
  const status = h('p.muted.small', { role: 'status' });
  const list = h('div.events.search-results');
  const form = h('form.filters.search', { onsubmit: (e) => {
    e.preventDefault();
    go(`/search${qs({ q: input.value.trim() })}`);
  } }, input, h('button', { type: 'submit' }, 'Search'));
  const examples = h('p.muted.small', 'Try: ', EXAMPLES.map((x, i) => [i ? ' · ' : '',
    h('a', { href: `#/search${qs({ q: x })}` }, x)]));
  mount(heading('Search'), form, examples, understood, status, list);

  const text = routeQuery().get('q') || '';
  const like = routeQuery().get('like');
  input.value = text;
  if (like) await similar(like);
  else if (text) await search(text);

  async function search(q) {
    status.textContent = 'Searching…';
    try {
      const r = await get(`/api/search${qs({ q, limit: 50 })}`);
      understood.textContent = `Understood: ${explain(r.query)}`;
      list.replaceChildren(...r.results.map(row));
      status.textContent = r.results.length
        ? `${r.total} result${r.total === 1 ? '' : 's'}${r.total > r.results.length ? `, the best ${r.results.length} shown` : ''}${r.complete ? '' : ' (the newest events only: add a time or a camera to look further back)'}.`
        : `Nothing found among ${r.looked_at} events and tracks.`;
    } catch (err) {
      understood.textContent = '';
      list.replaceChildren();
      status.textContent = err.message;
      status.classList.add('error');
    }
  }

  async function similar(id) {
    status.textContent = 'Looking for people like this one…';
    understood.textContent = `People who look like the person of event ${id}, on every camera you may see.`;
    try {
      const r = await get(`/api/search/similar${qs({ event: id, limit: 30 })}`);
      list.replaceChildren(...r.results.map((a) => h('div.event.alike',
        h('div.thumb', a.events.length
          ? h('img', { src: `/api/events/${encodeURIComponent(a.events[0])}/snapshot?kind=crop`, alt: '', loading: 'lazy' })
          : h('div.noshot', '—')),
        h('div.info',
          h('div.line1', h('strong', `${a.camera}: similarity ${a.similarity.toFixed(2)}`)),
          h('div.line2.muted', `${fmtTime(a.first_ms)} – ${fmtClock(a.last_ms)} · track ${a.track}`)),
        h('a.button.ghost', { href: `#/camera/${cam(a.camera)}?t=${Math.round(a.first_ms - 3000)}` }, 'Play'))));
      status.textContent = r.results.length ? `${r.results.length} alike among ${r.indexed} people indexed.` : 'Nobody alike.';
    } catch (err) {
      status.textContent = err.message;
      status.classList.add('error');
    }
  }
}

/** What the server understood of the query, in words. */
function explain(q) {
  const parts = [];
  const add = (name, v) => { if (v && v.length) parts.push(`${name} ${v.join(' or ')}`); };
  add('camera', q.cameras);
  add('class', q.classes);
  add('kind', (q.kinds || []).map((k) => k.replace('_', ' ')));
  add('at', q.places);
  add('rule', q.rules);
  for (const c of q.colours || []) parts.push(c.part === 'any' ? c.colour : `${c.colour} ${c.part === 'upper' ? 'top' : 'trousers'}`);
  if (q.plate) parts.push(`plate ${q.plate}`);
  if (q.person) parts.push(q.person);
  if (q.time) parts.push(`${fmtTime(q.time.from_ms)} – ${fmtTime(q.time.to_ms)}`);
  for (const m of q.meanings || []) parts.push(`"${m.word}" as ${m.means.join(' or ')}`);
  add('words', q.words);
  return parts.length ? parts.join('; ') : 'nothing';
}

function row(hit) {
  const isEvent = hit.type === 'event';
  const thumb = isEvent
    ? h('img', { src: `/api/events/${encodeURIComponent(hit.id)}/snapshot?kind=crop`, alt: '', loading: 'lazy',
      onerror: (ev) => { ev.target.replaceWith(h('div.noshot', '—')); } })
    : h('div.noshot', 'track');
  return h('div.event.hit', { dataset: { id: hit.id, type: hit.type } },
    h('div.thumb', thumb),
    h('div.info',
      h('div.line1', h('strong', hit.description)),
      h('div.line2.muted', `${fmtTime(hit.start_ms)} · ${hit.camera}${hit.rule ? ` · ${hit.rule}` : ''} · score ${hit.score.toFixed(2)}`),
      h('div.line2.small.why', hit.why.join(' · '))),
    h('div.actions',
      h('a.button.ghost', { href: `#/camera/${cam(hit.camera)}?t=${Math.round(hit.start_ms - 3000)}` }, 'Play'),
      isEvent && hit.class === 'person'
        ? h('a.button.ghost', { href: `#/search${qs({ like: hit.id })}` }, 'More like this')
        : null));
}
