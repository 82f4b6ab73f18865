// views/login.js — the sign-in page (#/login).
//
// With OpenID Connect configured (systeminfo auth_mode oidc_auth) it shows a
// "Sign in with <provider>" link to /c/oidc/login, and the reason of a
// failed provider sign-in (#/login?error=…).
//
// Posts the username and password to /c/login as JSON. The server sets an
// HttpOnly session cookie and answers the session with its CSRF token, which
// the app keeps for later changes. Failures (wrong password 401, throttled
// 429, robot accounts 403) show the server's message in a role=alert.

import * as api from '../api.js';
import { h, messageSlot, field } from '../dom.js';

export async function loginView(root, { signedIn }) {
  const msg = messageSlot();
  // A sign-in through the OpenID Connect provider that failed comes back
  // as #/login?error=<reason>.
  const query = new URLSearchParams(location.hash.split('?')[1] || '');
  const failed = query.get('error');
  const user = h('input', { id: 'login-username', type: 'text', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { id: 'login-password', type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { novalidate: true }, msg.el, field('Username', user), field('Password', pass), h('div', null, submit));
  const note = h('p', { class: 'note' }, 'Sign in with your berth account.');
  const provider = h('div', { class: 'provider' });
  root.append(h('div', { class: 'login card' }, h('h1', null, 'Sign in'), provider, note, form));
  if (failed) msg.show(new Error(`Sign-in through the provider failed: ${failed}`));
  // With auth.identity = oidc, people sign in at the provider; local
  // accounts (the administrator, break-glass users) keep the form.
  // Without the cookie: an ended session's cookie would make this 401.
  fetch('/api/v2.0/systeminfo', { credentials: 'omit', headers: { Accept: 'application/json' } })
    .then((r) => (r.ok ? r.json() : null)).then((info) => {
    if (!info || info.auth_mode !== 'oidc_auth') return;
    const name = info.oidc_provider_name || 'OIDC';
    provider.append(h('a', { class: 'button', href: '/c/oidc/login' }, `Sign in with ${name}`));
    note.textContent = `Local accounts (such as the administrator) sign in with their berth password below; everyone else uses ${name}.`;
  }).catch(() => {});

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.clear();
    if (!user.value.trim() || !pass.value) {
      msg.show(new Error('Enter your username and password.'));
      (user.value.trim() ? pass : user).focus();
      return;
    }
    submit.disabled = true;
    try {
      const session = await api.login(user.value.trim(), pass.value);
      pass.value = '';
      signedIn(session);
    } catch (err) {
      msg.show(err);
      pass.select();
      pass.focus();
    } finally {
      submit.disabled = false;
    }
  });
}
