// The hub's single page: login (with the TOTP code when the account has MFA, and enrolment when the role
// requires it), then the pages by hash route: #/ sites, #/events, #/site/NAME, #/users, #/audit.

import { ApiError, el, get, post, setCsrf, setUnauthorizedHandler, toast } from './api.js';
import { auditPage, eventsPage, sitesPage, usersPage } from './views.js';
import { sitePage } from './site.js';

const main = document.getElementById('main');
let me = null;
let leaving = [];

/** Registers what to stop (timers) when the page changes. */
export function onLeave(f) { leaving.push(f); }

function leave() {
  for (const f of leaving) {
    try { f(); } catch { /* already stopped */ }
  }
  leaving = [];
}

/** The logged-in user's permissions. */
export function can(perm) { return !!me && me.permissions.includes(perm); }

function showLogin(message) {
  leave();
  me = null;
  document.getElementById('topbar').hidden = true;
  const err = el('p', { class: 'error', id: 'login-error', role: 'alert' }, message || '');
  const user = el('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true });
  const pass = el('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const totp = el('input', { id: 'login-totp', name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code' });
  const totpRow = el('label', { hidden: true }, 'Code from your authenticator app', totp);
  const form = el('form', { class: 'card login', id: 'login-form' },
    el('h1', {}, 'Vigil hub'),
    el('label', {}, 'User name', user),
    el('label', {}, 'Password', pass),
    totpRow,
    err,
    el('button', { type: 'submit', id: 'login-submit' }, 'Log in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const body = { username: user.value, password: pass.value };
      if (totp.value.trim()) body.totp = totp.value.trim();
      const r = await post('/api/login', body);
      loggedIn(r);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'mfa_required') {
        totpRow.hidden = false;
        totp.focus();
        err.textContent = e.message;
      } else {
        err.textContent = e.message;
      }
    }
  });
  main.replaceChildren(el('div', { class: 'center-row' }, form));
  user.focus();
}

function showEnrol() {
  leave();
  const err = el('p', { class: 'error', role: 'alert' });
  const box = el('div', { class: 'card login', id: 'mfa-enrol' },
    el('h1', {}, 'Set up two-factor login'),
    el('p', { class: 'muted' }, 'Your role needs a second factor. Scan the code with an authenticator app, then type the code it shows.'));
  main.replaceChildren(el('div', { class: 'center-row' }, box));
  post('/api/me/mfa/enroll').then((e) => {
    const code = el('input', { id: 'mfa-code', inputmode: 'numeric', autocomplete: 'one-time-code' });
    const form = el('form', {},
      el('img', { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(e.qr_svg)}`, alt: 'QR code of the authenticator secret', width: 200, height: 200 }),
      el('p', {}, 'Secret: ', el('code', { id: 'mfa-secret' }, e.secret)),
      el('label', {}, 'Code', code), err,
      el('button', { type: 'submit', id: 'mfa-confirm' }, 'Turn on'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const r = await post('/api/me/mfa/confirm', { code: code.value.trim() });
        toast('Two-factor login is on');
        loggedIn(r);
      } catch (x) { err.textContent = x.message; }
    });
    box.append(form);
  }).catch((x) => { err.textContent = x.message; box.append(err); });
}

function loggedIn(r) {
  me = { ...r.user, permissions: r.permissions || [] };
  setCsrf(r.csrf);
  document.getElementById('topbar').hidden = false;
  document.getElementById('who-name').textContent = `${me.username} (${me.role})`;
  for (const a of document.querySelectorAll('#nav a[data-perm]')) a.hidden = !can(a.dataset.perm);
  if (r.mfa_enrollment_required) {
    showEnrol();
    return;
  }
  route();
}

async function route() {
  if (!me) return;
  leave();
  const hash = location.hash.replace(/^#/, '') || '/';
  const parts = hash.split('/').filter(Boolean).map(decodeURIComponent);
  const page = parts[0] || 'sites';
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.page === page || (page === 'site' && a.dataset.page === 'sites'));
  }
  const view = el('div', { class: 'page' });
  main.replaceChildren(view);
  try {
    if (page === 'events') await eventsPage(view);
    else if (page === 'site' && parts[1]) await sitePage(view, parts[1]);
    else if (page === 'users') await usersPage(view);
    else if (page === 'audit') await auditPage(view);
    else await sitesPage(view);
  } catch (e) {
    view.append(el('p', { class: 'error' }, e.message));
  }
}

setUnauthorizedHandler(() => showLogin('Your session has ended: log in again.'));
window.addEventListener('hashchange', route);
document.getElementById('logout').addEventListener('click', async () => {
  try { await post('/api/logout'); } catch { /* ended anyway */ }
  setCsrf(null);
  showLogin('Logged out.');
});

get('/api/me').then(loggedIn).catch(() => showLogin());
