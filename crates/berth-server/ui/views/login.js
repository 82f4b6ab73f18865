// views/login.js — the sign-in page (#/login).
//
// Posts the username and password to /c/login as JSON. The server sets an
// HttpOnly session cookie and answers the session with its CSRF token, which
// the app keeps for later changes. Failures (wrong password 401, throttled
// 429, robot accounts 403) show the server's message in a role=alert.

import * as api from '../api.js';
import { h, messageSlot, field } from '../dom.js';

export async function loginView(root, { signedIn }) {
  const msg = messageSlot();
  const user = h('input', { id: 'login-username', type: 'text', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { id: 'login-password', type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { novalidate: true }, msg.el, field('Username', user), field('Password', pass), h('div', null, submit));
  root.append(h('div', { class: 'login card' }, h('h1', null, 'Sign in'), h('p', { class: 'note' }, 'Sign in with your berth account.'), form));

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
