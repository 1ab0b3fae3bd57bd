// Vigil web UI: session state, role-aware navigation and a hash router (#/path). Each view is a module
// exporting render(ctx, ...params) that fills <main> and may return a cleanup function.

import { get, post, setCsrf, setUnauthorizedHandler } from './api.js';
import { h, toast } from './util.js';
import * as alerts from './alerts.js';
import * as reviewBadge from './review_badge.js';

const session = { user: null, mfaRequired: false };

// Which roles see which pages (the server checks every request again; this only hides dead ends).
const PAGES = [
  { path: '/', label: 'Live', roles: ['admin', 'operator', 'viewer'] },
  { path: '/events', label: 'Events', roles: ['admin', 'operator', 'viewer'] },
  { path: '/search', label: 'Search', roles: ['admin', 'operator', 'viewer'] },
  { path: '/review', label: 'Review', roles: ['admin', 'operator', 'viewer'] },
  { path: '/cases', label: 'Cases', roles: ['admin', 'operator', 'viewer'], may: 'export' },
  { path: '/approvals', label: 'Approvals', roles: ['admin', 'operator', 'viewer'], may: 'playback' },
  { path: '/dashboards', label: 'Dashboards', roles: ['admin', 'operator', 'analyst'] },
  { path: '/users', label: 'Users', roles: ['admin'] },
  { path: '/watchlists', label: 'Watchlists', roles: ['admin'] },
  { path: '/layouts', label: 'Layouts', roles: ['admin'] },
  { path: '/settings', label: 'Settings', roles: ['admin'] },
  { path: '/audit', label: 'Audit', roles: ['admin', 'auditor'] },
  { path: '/privacy', label: 'Privacy', roles: ['auditor'] },
  { path: '/system', label: 'System', roles: ['admin', 'auditor', 'operator', 'viewer', 'analyst'] },
  { path: '/account', label: 'Account', roles: ['admin', 'operator', 'viewer', 'auditor', 'analyst'] },
];

const ROUTES = [
  [/^\/login$/, () => import('./views/login.js'), false],
  [/^\/setup$/, () => import('./views/setup.js'), false],
  [/^\/kiosk(?:\/([^/]+))?$/, () => import('./views/kiosk.js'), false],
  [/^\/layouts$/, () => import('./views/layouts.js'), true],
  [/^\/settings(?:\/([^/]+))?$/, () => import('./views/settings.js'), true],
  [/^\/$/, () => import('./views/grid.js'), true],
  [/^\/camera\/([^/]+)$/, () => import('./views/camera.js'), true],
  [/^\/events$/, () => import('./views/events.js'), true],
  [/^\/search$/, () => import('./views/search.js'), true],
  [/^\/review$/, () => import('./views/review.js'), true],
  [/^\/cases$/, () => import('./views/cases.js'), true],
  [/^\/approvals$/, () => import('./views/approvals.js'), true],
  [/^\/cases\/(\d+)$/, () => import('./views/cases.js'), true],
  [/^\/users$/, () => import('./views/users.js'), true],
  [/^\/watchlists$/, () => import('./views/watchlists.js'), true],
  [/^\/audit$/, () => import('./views/audit.js'), true],
  [/^\/privacy$/, () => import('./views/privacy.js'), true],
  [/^\/privacy\/erasures\/(\d+)$/, () => import('./views/privacy.js'), true],
  [/^\/system$/, () => import('./views/system.js'), true],
  [/^\/dashboards$/, () => import('./views/dashboards.js'), true],
  [/^\/account$/, () => import('./views/account.js'), true],
];

let cleanup = null;

/** Navigates to a hash route, e.g. go('/camera/door'). */
export function go(path) {
  if (location.hash === `#${path}`) route();
  else location.hash = `#${path}`;
}

/** The logged-in user (null when logged out). */
export function user() { return session.user; }

/** True when the logged-in user has one of `roles`. */
export function hasRole(...roles) { return !!session.user && roles.includes(session.user.role); }

/** The first page the user may see. */
export function home() {
  const u = session.user;
  if (!u) return '/login';
  if (session.mfaRequired) return '/account';
  if (u.role === 'analyst') return '/dashboards';
  return u.role === 'auditor' ? '/audit' : '/';
}

/** True when the user's role requires MFA and it is not set up yet (only enrolment is allowed). */
export function mfaRequired() { return session.mfaRequired; }

/** True when the user may watch recordings / export (operators and admins always; viewers by flag). */
export function may(what) {
  const u = session.user;
  if (!u) return false;
  if (u.role === 'admin' || u.role === 'operator') return true;
  // Viewers never approve or export unredacted; playback and export follow their flags.
  return u.role === 'viewer' && (what === 'playback' || what === 'export') && !!u[what];
}

/** Stores a fresh session from a login / me answer and shows the navigation. */
export function setSession(data) {
  session.user = data ? data.user : null;
  session.mfaRequired = !!(data && data.mfa_enrollment_required);
  setCsrf(data ? data.csrf : null);
  if (session.user && ['admin', 'operator', 'viewer'].includes(session.user.role) && !session.mfaRequired) {
    alerts.start();
    reviewBadge.start();
  } else {
    alerts.stop();
    reviewBadge.stop();
  }
  renderChrome();
}

function renderChrome() {
  const bar = document.getElementById('topbar');
  const u = session.user;
  bar.hidden = !u;
  if (!u) return;
  document.getElementById('who-name').textContent = `${u.username} · ${u.role}`;
  document.getElementById('time-zone').textContent = `times: ${timeZoneName()}`;
  const nav = document.getElementById('nav');
  nav.replaceChildren(...PAGES.filter((p) => p.roles.includes(u.role) && (!p.may || may(p.may))).map((p) =>
    h('a', { href: `#${p.path}`, dataset: { path: p.path } }, p.label)));
  alerts.redraw();
  reviewBadge.redraw();
  markActive();
}

function markActive() {
  const path = currentPath();
  for (const a of document.querySelectorAll('#nav a')) {
    const p = a.dataset.path;
    const active = p === '/' ? path === '/' || path.startsWith('/camera/') : path.startsWith(p);
    a.classList.toggle('active', active);
  }
}

function currentPath() {
  const raw = location.hash.replace(/^#/, '') || '/';
  return raw.split('?')[0];
}

/** Query parameters of the current hash route. */
export function routeQuery() {
  const q = location.hash.split('?')[1] || '';
  return new URLSearchParams(q);
}

async function route() {
  if (cleanup) { try { cleanup(); } catch { /* view already gone */ } cleanup = null; }
  const path = currentPath();
  const found = ROUTES.find(([re]) => re.test(path));
  if (!found) { go(home()); return; }
  const [re, load, needsLogin] = found;
  if (needsLogin && !session.user) { go('/login'); return; }
  if (session.mfaRequired && path !== '/account') { go('/account'); return; }
  markActive();
  const params = re.exec(path).slice(1).map((p) => (p === undefined ? p : decodeURIComponent(p)));
  try {
    const view = await load();
    const c = await view.render({ session, go }, ...params);
    if (typeof c === 'function') cleanup = c;
  } catch (e) {
    document.getElementById('main').replaceChildren(
      h('div.pad', h('p.error', e.message || String(e))));
  }
  document.getElementById('main').focus({ preventScroll: true });
}

async function logout() {
  try { await post('/api/logout'); } catch { /* the session may already be gone */ }
  setSession(null);
  go('/login');
}

async function boot() {
  document.getElementById('logout').addEventListener('click', logout);
  setUnauthorizedHandler(() => {
    if (!session.user || currentPath().startsWith('/kiosk')) return;
    setSession(null);
    toast('Your session has ended. Please log in again.', 'warn');
    go('/login');
  });
  window.addEventListener('hashchange', route);
  // A wall display logs in with its own link, never as a user.
  if (currentPath().startsWith('/kiosk')) { route(); return; }
  try {
    const setup = await get('/api/setup');
    if (setup && setup.needed) { go('/setup'); return; }
  } catch { /* not fatal: the login page reports connection problems */ }
  try {
    setSession(await get('/api/me'));
  } catch {
    setSession(null);
  }
  const path = currentPath();
  if (!session.user && path !== '/login') go('/login');
  else if (session.user && (path === '/login' || path === '/setup')) go(home());
  else route();
}

boot();

/** The browser's time zone, as the pages show times in it: "Europe/Berlin (UTC+1)". */
export function timeZoneName() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local';
  const off = -new Date().getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const h = Math.floor(Math.abs(off) / 60), m = Math.abs(off) % 60;
  if (off === 0 && /^(UTC|Etc\/UTC|Etc\/GMT|GMT)$/.test(zone)) return 'UTC';
  return `${zone} (UTC${off === 0 ? '' : `${sign}${h}${m ? `:${String(m).padStart(2, '0')}` : ''}`})`;
}
