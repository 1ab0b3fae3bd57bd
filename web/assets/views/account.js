// Account: two-factor authentication. Enrolment shows the QR code and secret, confirms with a first code,
// then shows the recovery codes once. Replacing an enrolled authenticator asks for the password and a
// current code first (the server refuses it otherwise) and ends the account's other sessions.

import { post, get } from '../api.js';
import { setSession, user, mfaRequired, go, home } from '../app.js';
import { h, mount, heading, formData } from '../util.js';

export function render() {
  const u = user();
  const box = h('section.card.mfa');
  mount(heading('Account'),
    mfaRequired() ? h('p.banner', 'Your role requires two-factor authentication. Set it up to continue.') : null,
    h('section.card', h('h2', u.username), h('p.muted', `Role: ${u.role} · cameras: ${u.cameras ? u.cameras.join(', ') : 'all'}`)),
    box);
  if (u.mfa) showEnabled(); else showOff();

  function showEnabled() {
    box.replaceChildren(h('h2', 'Two-factor authentication'),
      h('p', h('span.dot.ok', 'On'), ' — logging in needs a code from your authenticator app.'),
      h('button#mfa-replace.ghost', { type: 'button', onclick: askToReplace }, 'Replace authenticator'));
  }

  function askToReplace() {
    const error = h('p.error', { role: 'alert' });
    const form = h('form.inline#mfa-reauth', { onsubmit: (ev) => {
      ev.preventDefault();
      const f = formData(form);
      enroll({ password: f.password, code: f.code.trim() }, error);
    } },
    h('label', 'Password', h('input', { name: 'password', type: 'password', required: true, autocomplete: 'current-password' })),
    h('label', 'Current code', h('input', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, maxlength: 11, title: 'a code from your authenticator app, or a recovery code' })),
    h('button', { type: 'submit' }, 'Continue'));
    box.replaceChildren(h('h2', 'Replace your authenticator'),
      h('p.muted', 'Confirm it is you: your password and a code from your current authenticator app (or a recovery code). Your other sessions will be logged out.'),
      form, error);
    form.querySelector('input').focus();
  }

  function showOff() {
    box.replaceChildren(h('h2', 'Two-factor authentication'),
      h('p.muted', 'Protect this account with a code from an authenticator app (TOTP) in addition to the password.'),
      h('button#mfa-start', { type: 'button', onclick: () => enroll() }, 'Set up two-factor authentication'));
  }

  async function enroll(proof, shownError) {
    const error = shownError || h('p.error', { role: 'alert' });
    try {
      const e = await post('/api/me/mfa/enroll', proof && proof.password ? proof : {});
      const img = h('img.qr', { alt: 'QR code for your authenticator app', src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(e.qr_svg)}` });
      const form = h('form.inline', { onsubmit: confirmCode },
        h('label', 'Code from the app', h('input', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, maxlength: 6, pattern: '[0-9]{6}' })),
        h('button', { type: 'submit' }, 'Confirm'));
      box.replaceChildren(h('h2', 'Scan with your authenticator app'),
        h('div.enrol', img, h('div',
          h('p', 'Scan the code, or enter this secret by hand:'),
          h('code#mfa-secret.secret', e.secret),
          h('p.muted.small', 'Then type the 6-digit code the app shows to finish.'),
          form, error)));
      form.querySelector('input').focus();
    } catch (err) {
      if (!error.isConnected) box.append(error);
      error.textContent = err.message;
    }

    async function confirmCode(ev) {
      ev.preventDefault();
      error.textContent = '';
      try {
        const r = await post('/api/me/mfa/confirm', { code: formData(ev.target).code.trim() });
        showCodes(r.recovery_codes || []);
        try { setSession(await get('/api/me')); } catch { /* the codes are what matters now */ }
      } catch (err) {
        error.textContent = err.message;
      }
    }
  }

  function showCodes(codes) {
    box.replaceChildren(h('h2', 'Two-factor authentication is on'),
      h('p', 'Keep these recovery codes somewhere safe. Each works once if you lose your phone; they are not shown again.'),
      h('ol#recovery-codes.codes', codes.map((c) => h('li', h('code', c)))),
      h('button', { type: 'button', onclick: () => navigator.clipboard?.writeText(codes.join('\n')) }, 'Copy'),
      ' ',
      h('button.ghost', { type: 'button', onclick: () => { showEnabled(); go(home()); } }, 'I have saved them'));
  }
}
