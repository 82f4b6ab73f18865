// app.js — the web UI's entry point: session, header and hash router.
//
// On load it asks /c/session who is signed in (and for the CSRF token), then
// renders the header (brand, main navigation, search, user and "Sign out")
// and the page the hash names. Routes:
//   #/login                                         sign in
//   #/projects                                      projects
//   #/projects/{p}[/repositories|members|robots|policies|webhooks]
//   #/projects/{p}/repositories/{rest}              a repository's artifacts
//   #/projects/{p}/repositories/{rest}/artifacts/{digest}
//   #/search/{text}                                 search results
//   #/admin/users, #/admin/gc, #/admin/audit        system administration
//   #/account                                       your account (CLI secret)
// Path segments are URI-encoded ({rest} "a/b" is "a%2Fb"). After each
// navigation, focus moves to the page's main heading.

import * as api from './api.js';
import { h, announce, messageSlot, section, dataTable, formatTime } from './dom.js';
import { loginView } from './views/login.js';
import { projectsView } from './views/projects.js';
import { projectView } from './views/project.js';
import { repositoryView } from './views/repository.js';
import { artifactView } from './views/artifact.js';
import { usersView, gcView, auditView } from './views/admin.js';
import { accountView } from './views/account.js';

/** The signed-in session ({auth_enabled, username, sysadmin, csrf_token}) or null. */
const state = { session: null, returnTo: null, signedOut: false };

const main = document.getElementById('main');

// ---------------------------------------------------------------- routing

function segments() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path] = raw.split('?');
  return path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
}

const PROJECT_TABS = new Set(['repositories', 'members', 'robots', 'policies', 'webhooks']);

/** The view for the current hash: {key, render(root)} or null. */
function resolve(seg) {
  const [a, b, c, d, e, f] = seg;
  const ctx = { session: state.session, navigate };
  if (a === 'login') return { nav: null, render: (root) => loginView(root, { ...ctx, signedIn }) };
  if (a === 'projects' && seg.length === 1) return { nav: 'projects', render: (root) => projectsView(root, ctx) };
  if (a === 'projects' && b && seg.length === 2) return { nav: 'projects', render: (root) => projectView(root, { ...ctx, project: b, tab: 'repositories' }) };
  if (a === 'projects' && b && seg.length === 3 && PROJECT_TABS.has(c)) return { nav: 'projects', render: (root) => projectView(root, { ...ctx, project: b, tab: c }) };
  if (a === 'projects' && c === 'repositories' && d && seg.length === 4) return { nav: 'projects', render: (root) => repositoryView(root, { ...ctx, project: b, rest: d }) };
  if (a === 'projects' && c === 'repositories' && e === 'artifacts' && f && seg.length === 6) return { nav: 'projects', render: (root) => artifactView(root, { ...ctx, project: b, rest: d, reference: f }) };
  if (a === 'account' && seg.length === 1) return { nav: 'account', render: (root) => accountView(root, ctx) };
  if (a === 'search' && seg.length <= 2) return { nav: null, render: (root) => searchView(root, { ...ctx, text: b || '' }) };
  if (a === 'admin' && b === 'users' && seg.length === 2) return { nav: 'users', render: (root) => usersView(root, ctx) };
  if (a === 'admin' && b === 'gc' && seg.length === 2) return { nav: 'gc', render: (root) => gcView(root, ctx) };
  if (a === 'admin' && b === 'audit' && seg.length === 2) return { nav: 'audit', render: (root) => auditView(root, ctx) };
  return null;
}

/** Goes to a hash route (also when it is the current one: re-renders). */
export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

let routeSeq = 0;

async function route() {
  // "#main" and other non-route hashes (e.g. the skip link) are not pages.
  if (location.hash && !location.hash.startsWith('#/')) return;
  const seg = segments();
  if (!seg.length) {
    history.replaceState(null, '', '#/projects');
    return route();
  }
  const signedIn = state.session !== null;
  if (!signedIn && seg[0] !== 'login') {
    state.returnTo = location.hash;
    history.replaceState(null, '', '#/login');
    return route();
  }
  if (signedIn && seg[0] === 'login' && !state.session.auth_enabled) {
    history.replaceState(null, '', '#/projects');
    return route();
  }
  const mine = ++routeSeq;
  const target = resolve(seg);
  renderHeader(target ? target.nav : null);
  const root = h('div', { class: 'page' });
  main.replaceChildren(root);
  const status = document.getElementById('status');
  if (status) status.textContent = '';
  if (!target) {
    root.append(h('h1', { tabindex: '-1' }, 'Page not found'), h('p', null, 'There is no such page. ', h('a', { href: '#/projects' }, 'Go to the projects')));
    focusHeading(root);
    return;
  }
  try {
    const ready = target.render(root);
    // Views add their heading before they load data: focus it at once.
    focusHeading(root);
    await ready;
  } catch (err) {
    if (mine !== routeSeq) return;
    const slot = messageSlot();
    root.append(slot.el);
    slot.show(err);
  }
  if (mine === routeSeq) {
    const h1 = root.querySelector('h1');
    document.title = h1 ? `${h1.textContent} – berth` : 'berth';
  }
}

function focusHeading(root) {
  const h1 = root.querySelector('h1');
  if (!h1) return;
  if (!h1.hasAttribute('tabindex')) h1.setAttribute('tabindex', '-1');
  h1.focus({ preventScroll: false });
  document.title = `${h1.textContent} – berth`;
}

// ---------------------------------------------------------------- header

function renderHeader(active) {
  const nav = document.getElementById('nav-links');
  const user = document.getElementById('user-box');
  const search = document.getElementById('search-form');
  const s = state.session;
  nav.replaceChildren();
  user.replaceChildren();
  const link = (key, href, text) =>
    h('li', null, h('a', { href, 'aria-current': active === key ? 'page' : null }, text));
  if (s) {
    nav.append(link('projects', '#/projects', 'Projects'));
    if (s.sysadmin) {
      nav.append(
        link('users', '#/admin/users', 'Users'),
        link('gc', '#/admin/gc', 'Garbage collection'),
        link('audit', '#/admin/audit', 'Audit log'),
      );
    }
    search.hidden = false;
    if (s.auth_enabled) {
      const out = h('button', { type: 'button', class: 'secondary small' }, 'Sign out');
      out.addEventListener('click', signOut);
      const me = h('a', { class: 'username', href: '#/account', title: s.sysadmin ? 'Your account (system administrator)' : 'Your account', 'aria-current': active === 'account' ? 'page' : null }, s.username);
      user.append(me, out);
    } else {
      user.append(h('span', { class: 'muted' }, 'Authentication is off'));
    }
  } else {
    search.hidden = true;
  }
  nav.parentElement.hidden = !s;
}

async function signOut() {
  try {
    await api.logout();
  } catch {
    // Signed out or not, the page forgets the session.
  }
  state.session = null;
  api.setCsrfToken('');
  state.returnTo = null;
  // The next person to sign in here starts at Projects, not on the page
  // the previous user was on.
  state.signedOut = true;
  announce('Signed out');
  navigate('#/login');
}

/** Called by the sign-in view with the new session. */
function signedIn(session) {
  state.session = session;
  api.setCsrfToken(session.csrf_token);
  const back = state.returnTo && !state.signedOut && !state.returnTo.startsWith('#/login') ? state.returnTo : '#/projects';
  state.signedOut = false;
  state.returnTo = null;
  announce(`Signed in as ${session.username}`);
  navigate(back);
}

function setUpSearch() {
  const form = document.getElementById('search-form');
  const input = document.getElementById('search-input');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (text) navigate(`#/search/${encodeURIComponent(text)}`);
  });
}

// ---------------------------------------------------------------- search

async function searchView(root, { text }) {
  root.append(h('h1', null, text ? `Search results for “${text}”` : 'Search'));
  if (!text) {
    root.append(h('p', null, 'Type a name in the Search box.'));
    return;
  }
  const msg = messageSlot();
  root.append(msg.el);
  let result;
  try {
    result = await api.get('/search', { q: text });
  } catch (err) {
    msg.show(err);
    return;
  }
  const projects = (result && result.project) || [];
  const repos = (result && result.repository) || [];
  const pt = dataTable({ label: 'Projects found', columns: ['Name', 'Access', 'Repositories'], empty: 'No project matches.' });
  pt.setRows(projects.map((p) => [
    h('a', { href: api.projectHref(p.name) }, p.name),
    p.metadata && p.metadata.public === 'true' ? 'Public' : 'Private',
    String(p.repo_count ?? ''),
  ]));
  const rt = dataTable({ label: 'Repositories found', columns: ['Name', 'Project', 'Artifacts', 'Pulls', 'Created'], empty: 'No repository matches.' });
  rt.setRows(repos.map((r) => [
    h('a', { href: api.repoHref(r.project_name, api.restOf(r.project_name, r.repository_name)) }, r.repository_name),
    h('a', { href: api.projectHref(r.project_name) }, r.project_name),
    String(r.artifact_count ?? ''),
    String(r.pull_count ?? ''),
    formatTime(r.creation_time),
  ]));
  root.append(section('Projects', pt.el), section('Repositories', rt.el));
}

// ---------------------------------------------------------------- start

async function start() {
  setUpSearch();
  const skip = document.querySelector('.skip-link');
  if (skip) {
    skip.addEventListener('click', (e) => {
      e.preventDefault();
      const target = main.querySelector('h1') || main;
      if (!target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
      target.focus();
    });
  }
  api.onUnauthorized(() => {
    if (location.hash.startsWith('#/login')) return;
    if (state.session) announce('Your session ended; sign in again');
    state.session = null;
    if (!state.signedOut) state.returnTo = location.hash;
    navigate('#/login');
  });
  try {
    state.session = await api.session();
  } catch (err) {
    state.session = null;
    const slot = messageSlot();
    main.replaceChildren(slot.el);
    slot.show(err);
  }
  if (state.session) api.setCsrfToken(state.session.csrf_token);
  window.addEventListener('hashchange', route);
  route();
}

start();
