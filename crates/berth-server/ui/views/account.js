// views/account.js — the signed-in user's own page (#/account).
//
// Shows who is signed in (GET /users/current) and how they sign in. A user
// who signs in through the OpenID Connect provider cannot give docker a
// browser: here they make a CLI secret, the password registry clients use
// for them. The page generates 32 random characters in the browser, sends
// them with PUT /users/{id}/cli_secret (the server keeps only a hash) and
// shows them once, with the `docker login` command.

import * as api from '../api.js';
import { h, messageSlot, section, defList, copyButton, uid, announce, busy, confirmDialog } from '../dom.js';

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

function randomSecret(n = 32) {
  const bytes = new Uint8Array(n);
  crypto.getRandomValues(bytes);
  // 256 is not a multiple of the alphabet's size; the slight bias of a
  // modulo over 57 symbols leaves well over 180 bits in 32 characters.
  return Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join('');
}

export async function accountView(root) {
  root.append(h('h1', null, 'Your account'));
  const msg = messageSlot();
  root.append(msg.el);
  const me = await api.get('/users/current');
  const source = me.source || 'local';
  const how = {
    local: 'a berth password',
    ldap: 'the LDAP directory',
    oidc: 'the OpenID Connect provider',
  }[source] || source;
  root.append(section('Profile', defList([
    ['Username', me.username],
    ['E-mail', me.email || '—'],
    ['Name', me.realname || '—'],
    ['Signs in with', how],
    ['System administrator', me.sysadmin_flag ? 'Yes' : 'No'],
  ])));
  if (source !== 'oidc') return;

  const holder = h('div');
  const make = h('button', { type: 'button' }, 'Generate a new CLI secret');
  const registry = location.host;
  make.addEventListener('click', async () => {
    msg.clear();
    const ok = await confirmDialog({
      title: 'Generate a new CLI secret?',
      message: 'A new secret replaces any earlier one: clients signed in with an earlier secret must sign in again.',
      confirmLabel: 'Generate',
    });
    if (!ok) return;
    const secret = randomSecret();
    await busy(make, async () => {
      try {
        await api.send('PUT', `/users/${me.user_id}/cli_secret`, { secret });
        holder.replaceChildren(secretBox(me.username, secret, registry));
        announce('Made a new CLI secret. Copy it now.');
        holder.querySelector('input').focus();
      } catch (err) {
        msg.show(err);
      }
    });
  });
  root.append(section(
    'CLI secret',
    h('p', null, 'docker, podman, skopeo and other registry clients cannot sign in through the provider. Use your username and a CLI secret as the password:'),
    h('pre', { class: 'mono' }, `docker login ${registry} -u ${me.username}`),
    h('p', { class: 'note' }, 'berth keeps only a hash of the secret, so it is shown once, when it is made. It stops working when the provider no longer has you.'),
    holder,
    h('div', null, make),
  ));
}

function secretBox(username, secret, registry) {
  const id = uid('secret');
  const input = h('input', { id, type: 'text', readOnly: true, value: secret, class: 'mono', 'data-testid': 'cli-secret' });
  input.addEventListener('focus', () => input.select());
  const dismiss = h('button', { type: 'button', class: 'small secondary' }, 'I have copied it');
  const box = h(
    'div',
    { class: 'secret-box', role: 'region', 'aria-label': 'New CLI secret' },
    h('p', null, h('strong', null, 'Copy this secret now; it will not be shown again.')),
    h('p', null, 'Sign in with ', h('code', null, `docker login ${registry} -u ${username}`), ' and paste it as the password.'),
    h('label', { for: id }, 'CLI secret'),
    h('div', { class: 'row' }, input, copyButton('Copy secret', secret, 'Copy secret', true), dismiss),
  );
  dismiss.addEventListener('click', () => box.remove());
  return box;
}
