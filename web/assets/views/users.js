// User management (admin): list, add, change role and camera scope, set a password, disable, remove; and
// API tokens: list, create (the secret shown once), revoke.

import { get, post, patch, del } from '../api.js';
import { user as me } from '../app.js';
import { h, mount, heading, toast, formData, fmtTime } from '../util.js';

const ROLES = ['admin', 'operator', 'viewer', 'auditor', 'analyst'];
// What an API token may be given (administration never).
const TOKEN_SCOPES = ['cameras', 'live', 'playback', 'export', 'export_unredacted', 'events', 'system', 'metrics', 'audit', 'plate_lists', 'ptz'];

export async function render() {
  let cameras = [];
  try { cameras = (await get('/api/cameras')).map((c) => c.name); } catch { /* free text still works */ }
  const table = h('tbody');
  const error = h('p.error', { role: 'alert' });

  const scopeHint = cameras.length ? `Cameras: ${cameras.join(', ')}` : '';
  const form = h('form.card.grid-form', { onsubmit: add },
    h('h2', 'Add a user'),
    h('label', 'Username', h('input', { name: 'username', required: true, autocomplete: 'off' })),
    h('label', 'Password', h('input', { name: 'password', type: 'password', required: true, minlength: 12, autocomplete: 'new-password' })),
    h('label', 'Role', h('select', { name: 'role' }, ROLES.map((r) => h('option', { value: r, selected: r === 'viewer' }, r)))),
    h('label', 'Camera scope', h('input', { name: 'cameras', placeholder: 'all cameras', title: scopeHint, list: 'camera-names' })),
    h('datalist#camera-names', cameras.map((c) => h('option', { value: c }))),
    h('div.checks',
      h('label.check', h('input', { type: 'checkbox', name: 'playback' }), 'Viewer may watch recordings'),
      h('label.check', h('input', { type: 'checkbox', name: 'export' }), 'Viewer may export')),
    h('p.muted.small', 'Camera scope: comma-separated camera names; empty means all cameras. Operators and admins always have playback and export.'),
    error,
    h('button', { type: 'submit' }, 'Add user'));

  mount(heading('Users'),
    h('div.card.scroll', h('table.data',
      h('thead', h('tr', ['User', 'Role', 'Cameras', 'Playback', 'Export', 'MFA', 'State', ''].map((t) => h('th', t)))),
      table)),
    form,
    tokensCard());
  await refresh();

  async function refresh() {
    const users = await get('/api/users');
    table.replaceChildren(...(users.users || users).map(row));
  }

  function scope(text) {
    const list = text.split(',').map((s) => s.trim()).filter(Boolean);
    return list.length ? list : null;
  }

  function row(u) {
    // Nobody changes their own role, cameras or grants (the server refuses it too).
    const self = me() && me().id === u.id;
    const own = self ? 'you cannot change your own account' : '';
    const role = h('select', { 'aria-label': `Role of ${u.username}`, disabled: self, title: own, onchange: async () => {
      try { await patch(`/api/users/${u.id}`, { role: role.value }); toast(`${u.username} is now ${role.value}`); } catch (e) { toast(e.message, 'error'); role.value = u.role; }
    } }, ROLES.map((r) => h('option', { value: r, selected: r === u.role }, r)));
    const cams = h('input', { value: (u.cameras || []).join(', '), placeholder: 'all', 'aria-label': `Cameras of ${u.username}`, disabled: self, title: own });
    cams.addEventListener('change', async () => {
      try { await patch(`/api/users/${u.id}`, { cameras: scope(cams.value) }); toast(`Camera scope of ${u.username} saved`); } catch (e) { toast(e.message, 'error'); }
    });
    const flag = (key, label) => {
      const box = h('input', { type: 'checkbox', checked: !!u[key], 'aria-label': `${label} (${u.username})`,
        disabled: self || u.role !== 'viewer', title: own || (u.role === 'viewer' ? '' : 'always allowed for this role') });
      box.addEventListener('change', async () => {
        try { await patch(`/api/users/${u.id}`, { [key]: box.checked }); toast(`${label} ${box.checked ? 'allowed' : 'withdrawn'} for ${u.username}`); } catch (e) { toast(e.message, 'error'); box.checked = !box.checked; }
      });
      return box;
    };
    return h('tr',
      h('td', h('strong', u.username), self ? h('span.muted', ' (you)') : null),
      h('td', role), h('td', cams),
      h('td', flag('playback', 'Playback')), h('td', flag('export', 'Export')),
      h('td', u.mfa ? 'on' : h('span.muted', 'off')),
      h('td', u.disabled ? h('span.badge.offline', 'disabled') : 'active'),
      h('td.right.row-actions', self ? null : [
        h('button.ghost', { type: 'button', 'aria-label': `Set a new password for ${u.username}`, onclick: async () => {
          const pw = prompt(`New password for ${u.username} (at least 12 characters; their sessions end):`);
          if (!pw) return;
          try { await patch(`/api/users/${u.id}`, { password: pw }); toast(`Password of ${u.username} changed`); } catch (e) { toast(e.message, 'error'); }
        } }, 'Set password'),
        h('button.ghost', { type: 'button', 'aria-label': `${u.disabled ? 'Enable' : 'Disable'} ${u.username}`, onclick: async () => {
          if (!u.disabled && !confirm(`Disable ${u.username}? Their sessions end at once.`)) return;
          try { await patch(`/api/users/${u.id}`, { disabled: !u.disabled }); toast(`${u.username} ${u.disabled ? 'enabled' : 'disabled'}`); await refresh(); } catch (e) { toast(e.message, 'error'); }
        } }, u.disabled ? 'Enable' : 'Disable'),
        h('button.ghost.danger', { type: 'button', 'aria-label': `Remove ${u.username}`, onclick: async () => {
          if (!confirm(`Remove ${u.username}?`)) return;
          try { await del(`/api/users/${u.id}`); await refresh(); } catch (e) { toast(e.message, 'error'); }
        } }, 'Remove')]));
  }

  async function add(e) {
    e.preventDefault();
    error.textContent = '';
    const f = formData(form);
    try {
      await post('/api/users', {
        username: f.username, password: f.password, role: f.role, cameras: scope(f.cameras || ''),
        playback: f.playback === 'on', export: f.export === 'on',
      });
      form.reset();
      toast(`User ${f.username} added`);
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  }
}

// API tokens act for the user who made them, limited to their scopes; the secret is shown once.
function tokensCard() {
  const body = h('tbody');
  const status = h('p.muted.small');
  const secret = h('div.token-secret', { hidden: true });
  const name = h('input', { name: 'token_name', required: true, maxlength: 100, placeholder: 'name (e.g. home-assistant)', 'aria-label': 'Token name' });
  const boxes = TOKEN_SCOPES.map((sc) => h('label.check', h('input', { type: 'checkbox', name: 'scope', value: sc, 'aria-label': `Scope ${sc}` }), sc));
  const form = h('form.token-form', { onsubmit: async (e) => {
    e.preventDefault();
    const scopes = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    if (!scopes.length) { toast('Choose at least one scope.', 'warn'); return; }
    try {
      const r = await post('/api/tokens', { name: name.value, scopes });
      secret.hidden = false;
      secret.replaceChildren(h('p.small', `Token “${r.token.name}”: copy the secret now, it is not shown again.`), h('code.secret', r.secret));
      form.reset();
      await load();
    } catch (err) { toast(err.message, 'error'); }
  } }, name, h('div.checks', boxes), h('button', { type: 'submit' }, 'Create token'));

  async function load() {
    let tokens;
    try { tokens = await get('/api/tokens'); } catch (e) { status.textContent = e.message; return; }
    tokens = tokens.tokens || tokens;
    status.textContent = tokens.length ? '' : 'No API token.';
    body.replaceChildren(...tokens.map((t) => h('tr', h('td', h('strong', t.name)), h('td', t.user), h('td.small', t.scopes.join(', ')),
      h('td.nowrap', fmtTime(t.created_ms)), h('td.nowrap', t.last_used_ms ? fmtTime(t.last_used_ms) : '—'),
      h('td.right', h('button.ghost.danger', { type: 'button', 'aria-label': `Revoke token ${t.name}`, onclick: async () => {
        if (!confirm(`Revoke the token ${t.name}? Whatever uses it stops working.`)) return;
        try { await del(`/api/tokens/${t.id}`); toast(`Token ${t.name} revoked`); await load(); } catch (err) { toast(err.message, 'error'); }
      } }, 'Revoke')))));
  }
  load();
  return h('section.card.tokens', h('h2', 'API tokens'),
    h('p.muted.small', 'For Home Assistant, scripts and gate systems: a token acts for you, limited to its scopes, and never administers users or tokens. Every use is audited.'),
    h('div.scroll', h('table.data', h('thead', h('tr', ['Name', 'Owner', 'Scopes', 'Created', 'Last used', ''].map((t) => h('th', t)))), body)),
    status, form, secret);
}
