// A site's page: its cameras with a live picture (fetched through the hub every 2 s), each camera's
// recordings with a clip player, and the site's configuration with its versions and rollback.

import { ApiError, el, get, post, put, qs, seg, toast, when } from './api.js';
import { can, onLeave } from './hub.js';

/** Keeps `img` showing the camera's latest picture, every 2 s, while the page is shown. */
function livePicture(site, camera, img, note) {
  let url = null;
  let stopped = false;
  async function tick() {
    try {
      const res = await fetch(`/api/sites/${seg(site)}/cameras/${seg(camera)}/live.jpg`, { cache: 'no-store', credentials: 'same-origin' });
      if (!res.ok) {
        let msg = res.statusText;
        try { msg = (await res.json()).message || msg; } catch { /* not JSON */ }
        note.textContent = msg;
        return;
      }
      const blob = await res.blob();
      if (stopped) return;
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(blob);
      img.src = url;
      img.hidden = false;
      note.textContent = `live · ${new Date().toLocaleTimeString()}`;
    } catch (e) { note.textContent = e.message; }
  }
  tick();
  const t = setInterval(tick, 2000);
  onLeave(() => { stopped = true; clearInterval(t); if (url) URL.revokeObjectURL(url); });
}

function recordingsPanel(site, camera) {
  const list = el('ul', { class: 'ranges' });
  const player = el('video', { controls: true, class: 'clip', hidden: true, 'aria-label': `recorded video of ${camera}` });
  const note = el('p', { class: 'muted small' });
  const load = el('button', { class: 'ghost', type: 'button', onclick: async () => {
    note.textContent = 'asking the site…';
    try {
      const r = await get(`/api/sites/${seg(site)}/cameras/${seg(camera)}/recordings${qs({ from: Date.now() - 86400000, to: Date.now() })}`);
      note.textContent = r.ranges.length ? `${r.ranges.length} recorded ranges in the last 24 h` : 'nothing recorded in the last 24 h';
      list.replaceChildren(...r.ranges.slice(-20).reverse().map((g) => {
        const to = Math.min(g.to_ms, g.from_ms + 60000);
        return el('li', {}, `${when(g.from_ms)} – ${when(g.to_ms)} `,
          el('button', { class: 'ghost', type: 'button', onclick: () => playClip(site, camera, Math.max(g.from_ms, to - 60000), to, player, note) }, 'Play 1 min'));
      }));
    } catch (e) { note.textContent = e.message; }
  } }, 'Recordings');
  return el('div', { class: 'recordings' }, load, note, list, player);
}

async function playClip(site, camera, from, to, player, note) {
  note.textContent = 'fetching the clip from the site…';
  const res = await fetch(`/api/sites/${seg(site)}/cameras/${seg(camera)}/clip${qs({ from, to })}`, { credentials: 'same-origin' });
  if (!res.ok) {
    let msg = res.statusText;
    try { msg = (await res.json()).message || msg; } catch { /* not JSON */ }
    note.textContent = msg;
    return;
  }
  const blob = await res.blob();
  if (player.src) URL.revokeObjectURL(player.src);
  player.src = URL.createObjectURL(blob);
  player.hidden = false;
  note.textContent = `clip ${when(from)} – ${when(to)} (${Math.round(blob.size / 1024)} KiB)`;
  player.play().catch(() => {});
}

function configPanel(site) {
  const text = el('textarea', { id: 'config-text', rows: 18, spellcheck: 'false', 'aria-label': `vigil.toml of ${site}` });
  const versions = el('tbody', { id: 'config-versions' });
  const note = el('p', { class: 'muted small', id: 'config-note' });
  const loadVersions = async () => {
    try {
      const r = await get(`/api/sites/${seg(site)}/config/versions`);
      versions.replaceChildren(...r.versions.map((v) => el('tr', {},
        el('td', { class: 'mono' }, v.version), el('td', {}, when(v.pushed_ms)), el('td', {}, v.pushed_by),
        el('td', {}, v.applied ? 'applied' : (v.message || 'not applied')),
        el('td', {}, el('button', { class: 'ghost', type: 'button', onclick: async () => {
          if (!confirm(`Push version ${v.version} to ${site} again?`)) return;
          try { await post(`/api/sites/${seg(site)}/config/rollback`, { version: v.version }); toast(`${site} rolled back to ${v.version}`); load(); } catch (e) { toast(e.message, true); }
        } }, 'Roll back')))));
    } catch (e) { versions.replaceChildren(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, e.message))); }
  };
  const load = async () => {
    note.textContent = 'asking the site…';
    try {
      const r = await get(`/api/sites/${seg(site)}/config`);
      text.value = r.text;
      note.textContent = `version ${r.version}`;
    } catch (e) { note.textContent = e.message; }
    loadVersions();
  };
  const save = el('button', { type: 'button', onclick: async () => {
    try {
      const v = await put(`/api/sites/${seg(site)}/config`, { text: text.value });
      toast(v.applied ? `${site} took version ${v.version}` : `${site} refused: ${v.message}`, !v.applied);
      load();
    } catch (e) {
      toast(e instanceof ApiError ? e.message : String(e), true);
    }
  } }, 'Push to site');
  load();
  return el('section', { class: 'card' }, el('h2', {}, 'Configuration'), note, text,
    el('div', { class: 'row' }, save),
    el('h2', {}, 'Versions'),
    el('table', {}, el('thead', {}, el('tr', {}, ['Version', 'Pushed', 'By', 'State', ''].map((h) => el('th', {}, h)))), versions));
}

/** The drill-down page of one site. */
export async function sitePage(view, name) {
  const r = await get('/api/sites');
  const s = r.sites.find((x) => x.name === name);
  if (!s) { view.append(el('p', { class: 'error' }, `No site ${name}.`)); return; }
  const state = s.online ? el('span', { class: 'badge ok site-state' }, 'online')
    : el('span', { class: 'badge bad site-state' }, s.offline_since_ms ? `offline since ${when(s.offline_since_ms)}` : 'never seen');
  view.id = 'site-page';
  view.append(el('div', { class: 'row' }, el('h1', {}, name), state,
    el('a', { href: `#/events`, class: 'small' }, 'events'), el('span', { class: 'muted small' }, `Vigil ${s.version || '?'}`)));
  const cams = el('div', { class: 'grid cams-grid' });
  for (const c of s.cameras) {
    // Shown from the first picture on (the note says why there is none).
    const img = el('img', { class: 'live', alt: `live picture of ${c.name}`, hidden: true });
    const note = el('p', { class: 'muted small live-note' });
    const card = el('section', { class: 'card cam', 'data-camera': c.name },
      el('div', { class: 'row' }, el('h2', {}, c.name), el('span', { class: `badge ${c.online ? 'ok' : 'bad'}` }, c.online ? 'online' : 'offline')),
      can('live') ? img : '', note,
      c.problems.length || c.health_events.length ? el('p', { class: 'warn' }, [...c.problems, ...c.health_events].join('; ')) : '',
      can('playback') ? recordingsPanel(name, c.name) : '');
    cams.append(card);
    if (can('live')) livePicture(name, c.name, img, note);
  }
  view.append(cams);
  if (can('config')) view.append(configPanel(name));
}
