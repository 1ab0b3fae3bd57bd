// First start: create the first administrator with the one-time setup token printed on the console.

import { post } from '../api.js';
import { setSession, home } from '../app.js';
import { h, mount, formData } from '../util.js';

export function render({ go }) {
  const error = h('p.error', { role: 'alert' });
  const button = h('button', { type: 'submit' }, 'Create administrator');
  const form = h('form.card.auth', { onsubmit: submit },
    h('h1', 'Welcome to Vigil'),
    h('p.muted', 'Create the first administrator. The one-time setup token was printed on the console where Vigil started.'),
    h('label', 'Setup token', h('input', { name: 'token', required: true, autocomplete: 'off', spellcheck: false, autofocus: true })),
    h('label', 'Administrator username', h('input', { name: 'username', required: true, autocomplete: 'username' })),
    h('label', 'Password', h('input', { name: 'password', type: 'password', required: true, minlength: 12, autocomplete: 'new-password' })),
    h('label', 'Repeat password', h('input', { name: 'password2', type: 'password', required: true, autocomplete: 'new-password' })),
    h('p.muted.small', 'At least 12 characters. A passphrase of several words is easiest to remember.'),
    error, button);

  async function submit(e) {
    e.preventDefault();
    error.textContent = '';
    const f = formData(form);
    if (f.password !== f.password2) { error.textContent = 'The passwords differ.'; return; }
    button.disabled = true;
    try {
      await post('/api/setup', { token: f.token.trim(), username: f.username, password: f.password });
      setSession(await post('/api/login', { username: f.username, password: f.password }));
      go(home());
    } catch (err) {
      error.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  }

  mount(h('div.center', form));
}
