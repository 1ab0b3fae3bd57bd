// The hub's pages: every site at a glance, one event list across sites, users, the audit log.

import { ago, del, el, get, patch, post, qs, seg, toast, when } from './api.js';
import { can, onLeave } from './hub.js';

/** Refreshes `f` every `ms` while the page is shown. */
export function every(ms, f) {
  const t = setInterval(f, ms);
  onLeave(() => clearInterval(t));
}

function siteCard(s) {
  const state = s.online
    ? el('span', { class: 'badge ok site-state' }, 'online')
    : el('span', { class: 'badge bad site-state' }, s.offline_since_ms ? `offline since ${when(s.offline_since_ms)}` : 'never seen');
  const cams = s.cameras.length;
  const problems = s.cameras_with_problems.length;
  const days = s.days_until_full;
  return el('a', { class: 'card site-card', href: `#/site/${seg(s.name)}`, 'data-site': s.name },
    el('div', { class: 'row' }, el('h2', {}, s.name), state),
    el('dl', { class: 'facts' },
      el('dt', {}, 'Cameras'), el('dd', { class: 'site-cameras' }, `${cams - s.cameras_offline} of ${cams} online`,
        s.cameras_offline ? el('span', { class: 'bad' }, ` · ${s.cameras_offline} offline`) : ''),
      el('dt', {}, 'Problems'), el('dd', { class: problems ? 'warn' : 'muted' },
        problems ? s.cameras_with_problems.join(', ') : 'none'),
      el('dt', {}, 'Storage'), el('dd', { class: days !== null && days < 7 ? 'warn' : '' },
        days === null || days === undefined ? 'no forecast' : `full in ${days.toFixed(1)} days`),
      el('dt', {}, 'Version'), el('dd', {}, s.version || '—'),
      el('dt', {}, 'Backlog'), el('dd', { class: s.backlog ? 'warn' : '' },
        s.backlog === null || s.backlog === undefined ? '—' : `${s.backlog} waiting`),
      el('dt', {}, 'Last seen'), el('dd', { class: 'muted' }, s.last_seen_ms ? ago(s.last_seen_ms) : '—')),
    el('ul', { class: 'cams' }, s.cameras.map((c) => el('li', { class: c.online ? '' : 'bad' },
      el('span', { class: `dot ${c.online ? 'ok' : 'bad'}` }), c.name,
      (c.problems.length || c.health_events.length) ? el('span', { class: 'warn' }, ` (${[...c.problems, ...c.health_events].join('; ')})`) : ''))));
}

/** Every site's health at a glance, refreshed every 5 s. */
export async function sitesPage(view) {
  const grid = el('div', { class: 'grid', id: 'sites' });
  view.append(el('div', { class: 'row' }, el('h1', {}, 'Sites')), grid);
  const draw = async () => {
    const r = await get('/api/sites');
    grid.replaceChildren(...(r.sites.length ? r.sites.map(siteCard)
      : [el('p', { class: 'muted' }, 'No sites yet: add one with `vigil hub site add`.')]));
  };
  await draw();
  every(5000, () => draw().catch(() => {}));
}

function eventRow(e) {
  const thumb = e.snapshot
    ? el('img', { class: 'thumb', loading: 'lazy', alt: `snapshot of ${e.kind} on ${e.camera}`, src: `/api/events/${seg(e.id)}/snapshot`, onerror: (ev) => { ev.target.replaceWith(el('span', { class: 'thumb none' })); } })
    : el('span', { class: 'thumb none' });
  return el('tr', { class: 'event-row', 'data-id': e.id, 'data-site': e.site },
    el('td', {}, thumb),
    el('td', { class: 'nowrap' }, when(e.start_ms), e.open ? el('span', { class: 'badge warn' }, 'open') : ''),
    el('td', {}, el('a', { href: `#/site/${seg(e.site)}` }, e.site)),
    el('td', {}, e.camera),
    el('td', {}, e.kind),
    el('td', { class: 'desc' }, e.description));
}

/** One event list across sites: search words, site, camera and kind filters, newest first. */
export async function eventsPage(view) {
  const sites = (await get('/api/sites')).sites;
  const q = el('input', { id: 'event-search', type: 'search', placeholder: 'Search words (camera, rule, kind, class, description)', 'aria-label': 'Search events' });
  const site = el('select', { id: 'event-site', 'aria-label': 'Site' }, el('option', { value: '' }, 'All sites'),
    sites.map((s) => el('option', { value: s.name }, s.name)));
  const camera = el('select', { id: 'event-camera', 'aria-label': 'Camera' });
  const kind = el('input', { id: 'event-kind', placeholder: 'kind', 'aria-label': 'Kind', size: 14 });
  const fillCameras = () => {
    const names = new Set();
    for (const s of sites) if (!site.value || s.name === site.value) for (const c of s.cameras) names.add(c.name);
    const keep = camera.value;
    camera.replaceChildren(el('option', { value: '' }, 'All cameras'), [...names].sort().map((n) => el('option', { value: n }, n)));
    if (names.has(keep)) camera.value = keep;
  };
  fillCameras();
  const body = el('tbody', { id: 'events' });
  const more = el('button', { class: 'ghost', type: 'button', hidden: true }, 'Older events');
  const count = el('span', { class: 'muted small', id: 'event-count' });
  view.append(
    el('div', { class: 'row' }, el('h1', {}, 'Events'), count),
    el('form', { class: 'filters', onsubmit: (ev) => { ev.preventDefault(); load(); } }, q, site, camera, kind,
      el('button', { type: 'submit' }, 'Search')),
    el('table', { class: 'events' },
      el('thead', {}, el('tr', {}, ['', 'Start', 'Site', 'Camera', 'Kind', 'Description'].map((h) => el('th', {}, h)))),
      body),
    more);
  let next = null;
  let shown = 0;
  const params = () => ({ q: q.value.trim(), site: site.value, camera: camera.value, kind: kind.value.trim() });
  async function load() {
    const r = await get(`/api/events${qs({ ...params(), limit: 50 })}`);
    body.replaceChildren(...r.events.map(eventRow));
    if (!r.events.length) body.append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No events.')));
    shown = r.events.length;
    next = r.next;
    more.hidden = !next;
    delete more.dataset.paged;
    count.textContent = `${shown} shown`;
  }
  more.addEventListener('click', async () => {
    more.dataset.paged = '1';
    const r = await get(`/api/events${qs({ ...params(), limit: 50, before: next })}`);
    body.append(...r.events.map(eventRow));
    shown += r.events.length;
    next = r.next;
    more.hidden = !next;
    count.textContent = `${shown} shown`;
  });
  site.addEventListener('change', () => { fillCameras(); load(); });
  camera.addEventListener('change', load);
  q.addEventListener('input', () => { clearTimeout(q.timer); q.timer = setTimeout(load, 300); });
  await load();
  // New events appear while the first page is shown.
  every(4000, () => { if (!more.dataset.paged) load().catch(() => {}); });
}

/** Central users: list, add, change role and scope, reset MFA, disable, delete. */
export async function usersPage(view) {
  if (!can('users')) { view.append(el('p', { class: 'error' }, 'Only administrators manage users.')); return; }
  const list = el('tbody', { id: 'users' });
  const err = el('p', { class: 'error', role: 'alert' });
  const f = {
    username: el('input', { id: 'user-name', required: true, autocomplete: 'off' }),
    password: el('input', { id: 'user-password', type: 'password', required: true, autocomplete: 'new-password' }),
    role: el('select', { id: 'user-role' }, ['viewer', 'operator', 'admin', 'auditor', 'analyst'].map((r) => el('option', { value: r }, r))),
    sites: el('input', { id: 'user-sites', placeholder: 'all (or a,b)' }),
    cameras: el('input', { id: 'user-cameras', placeholder: 'all (or site/camera,…)' }),
  };
  const split = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const draw = async () => {
    const r = await get('/api/users');
    list.replaceChildren(...r.users.map((u) => el('tr', { 'data-user': u.username },
      el('td', {}, u.username), el('td', {}, u.role),
      el('td', {}, u.sites ? u.sites.join(', ') : 'all'), el('td', {}, u.cameras ? u.cameras.join(', ') : 'all'),
      el('td', {}, u.mfa ? 'on' : 'off'), el('td', {}, u.disabled ? 'disabled' : 'enabled'),
      el('td', { class: 'actions' },
        el('button', { class: 'ghost', type: 'button', onclick: async () => {
          const role = prompt(`New role of ${u.username}`, u.role);
          if (!role) return;
          const sites = prompt('Sites (comma-separated; empty: all)', u.sites ? u.sites.join(',') : '');
          if (sites === null) return;
          try { await patch(`/api/users/${u.id}`, { role, sites: split(sites) }); draw(); } catch (x) { toast(x.message, true); }
        } }, 'Change'),
        el('button', { class: 'ghost', type: 'button', onclick: async () => {
          try { await post(`/api/users/${u.id}/reset-mfa`); toast(`MFA of ${u.username} reset`); draw(); } catch (x) { toast(x.message, true); }
        } }, 'Reset MFA'),
        el('button', { class: 'ghost', type: 'button', onclick: async () => {
          try { await patch(`/api/users/${u.id}`, { disabled: !u.disabled }); draw(); } catch (x) { toast(x.message, true); }
        } }, u.disabled ? 'Enable' : 'Disable'),
        el('button', { class: 'ghost bad', type: 'button', onclick: async () => {
          if (!confirm(`Delete ${u.username}?`)) return;
          try { await del(`/api/users/${u.id}`); draw(); } catch (x) { toast(x.message, true); }
        } }, 'Delete')))));
  };
  const form = el('form', { class: 'card filters', id: 'user-add' },
    el('label', {}, 'User name', f.username), el('label', {}, 'Password', f.password),
    el('label', {}, 'Role', f.role), el('label', {}, 'Sites', f.sites), el('label', {}, 'Cameras', f.cameras),
    el('button', { type: 'submit' }, 'Add user'), err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      await post('/api/users', { username: f.username.value, password: f.password.value, role: f.role.value,
        sites: split(f.sites.value), cameras: split(f.cameras.value) });
      toast(`${f.username.value} added`);
      form.reset();
      draw();
    } catch (x) { err.textContent = x.message; }
  });
  view.append(el('h1', {}, 'Users'),
    el('table', {}, el('thead', {}, el('tr', {}, ['User', 'Role', 'Sites', 'Cameras', 'MFA', 'State', ''].map((h) => el('th', {}, h)))), list),
    el('h2', {}, 'Add a user'), form);
  await draw();
}

/** The hub's audit log, newest first. */
export async function auditPage(view) {
  const body = el('tbody', { id: 'audit' });
  const action = el('input', { placeholder: 'action (login.failure, relay.live, …)', 'aria-label': 'Action' });
  const draw = async () => {
    const r = await get(`/api/audit${qs({ action: action.value.trim(), limit: 300 })}`);
    body.replaceChildren(...r.entries.map((e) => el('tr', {},
      el('td', { class: 'nowrap' }, when(e.at_ms)), el('td', {}, e.actor), el('td', {}, e.action),
      el('td', {}, e.target || ''), el('td', { class: 'mono small' }, e.detail ? JSON.stringify(e.detail) : ''),
      el('td', {}, e.ip || ''))));
  };
  view.append(el('h1', {}, 'Audit log'),
    el('form', { class: 'filters', onsubmit: (ev) => { ev.preventDefault(); draw(); } }, action, el('button', { type: 'submit' }, 'Filter')),
    el('table', {}, el('thead', {}, el('tr', {}, ['When', 'Who', 'Action', 'Target', 'Detail', 'From'].map((h) => el('th', {}, h)))), body));
  await draw();
}
