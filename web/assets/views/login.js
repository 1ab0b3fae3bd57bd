// Login: username and password; when the server answers mfa_required, a second step asks for the
// authenticator code (or a recovery code).

import { post } from '../api.js';
import { setSession, home } from '../app.js';
import { h, mount, formData } from '../util.js';

export function render({ go }) {
  let creds = null;
  const error = h('p.error', { role: 'alert' });
  const button = h('button', { type: 'submit' }, 'Log in');

  const userFields = h('div',
    h('label', 'Username', h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true })),
    h('label', 'Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })));
  const codeField = h('div', { hidden: true },
    h('p.muted', 'Enter the 6-digit code from your authenticator app, or a recovery code.'),
    h('label', 'Code', h('input', { name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 32 })));

  const form = h('form.card.auth', { onsubmit: submit },
    h('h1', 'Sign in to Vigil'), userFields, codeField, error, button);

  async function submit(e) {
    e.preventDefault();
    error.textContent = '';
    button.disabled = true;
    const f = formData(form);
    const body = creds ? { ...creds, totp: f.totp.trim() } : { username: f.username, password: f.password };
    try {
      const data = await post('/api/login', body);
      setSession(data);
      go(home());
    } catch (err) {
      if (err.code === 'mfa_required' && !creds) {
        creds = { username: f.username, password: f.password };
        userFields.hidden = true;
        codeField.hidden = false;
        button.textContent = 'Verify';
        form.querySelector('[name=totp]').focus();
      } else {
        error.textContent = err.message;
        if (creds) form.querySelector('[name=totp]').select();
      }
    } finally {
      button.disabled = false;
    }
  }

  mount(h('div.center', form));
}
