// User management (admin): list, add, change role and camera scope, remove.

import { get, post, patch, del } from '../api.js';
import { user as me } from '../app.js';
import { h, mount, heading, toast, formData } from '../util.js';

const ROLES = ['admin', 'operator', 'viewer', 'auditor'];

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
      h('thead', h('tr', ['User', 'Role', 'Cameras', 'Playback', 'Export', 'MFA', ''].map((t) => h('th', t)))),
      table)),
    form);
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
      h('td.right', self ? null : h('button.ghost.danger', { type: 'button', onclick: async () => {
        if (!confirm(`Remove ${u.username}?`)) return;
        try { await del(`/api/users/${u.id}`); await refresh(); } catch (e) { toast(e.message, 'error'); }
      } }, 'Remove')));
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
