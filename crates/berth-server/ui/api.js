// api.js — the one place that talks to the server.
//
// - Management API calls go to /api/v2.0/… with the session cookie
//   (credentials: 'same-origin'); every call that changes something carries
//   the session's CSRF token in X-Berth-CSRF-Token.
// - Errors come back as Harbor's {"errors":[{"code","message"}]}: they are
//   thrown as ApiError with the server's message, status and code.
// - A 401 from the management API calls the handler set by the app (which
//   shows the sign-in page).
// - Lists are paged on the server: getPage() sends page and page_size and
//   reads the total from X-Total-Count.
// - Path helpers encode project, repository (the part after the project, with
//   '/' encoded twice, as Harbor's clients do) and artifact references.

const BASE = '/api/v2.0';
let csrfToken = '';
let unauthorizedHandler = null;

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || '';
  }
}

/** Sets the CSRF token sent with every change. */
export function setCsrfToken(token) {
  csrfToken = token || '';
}

/** Sets what happens on a 401 from the management API. */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

function queryString(query) {
  if (!query) return '';
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `?${s}` : '';
}

async function errorFrom(res) {
  let message = '';
  let code = '';
  const text = await res.text().catch(() => '');
  if (text) {
    try {
      const body = JSON.parse(text);
      const first = body && Array.isArray(body.errors) ? body.errors[0] : null;
      if (first) {
        message = first.message || first.detail || '';
        code = first.code || '';
      } else if (body && body.message) {
        message = body.message;
      }
    } catch {
      message = text.length < 500 ? text.trim() : '';
    }
  }
  if (!message) message = `${res.status} ${res.statusText || 'error'}`.trim();
  return new ApiError(res.status, message, code);
}

/**
 * A request. path: under /api/v2.0, or absolute when it starts with "/c/".
 * Resolves to the Response when it is 2xx; throws ApiError otherwise.
 */
export async function request(method, path, { query, body, accept = 'application/json' } = {}) {
  const management = !path.startsWith('/c/');
  const url = (management ? BASE : '') + path + queryString(query);
  const headers = { Accept: accept };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-Berth-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, `The server could not be reached (${e.message || e}).`, 'NETWORK');
  }
  if (!res.ok) {
    const err = await errorFrom(res);
    if (res.status === 401 && management && unauthorizedHandler) unauthorizedHandler(err);
    throw err;
  }
  return res;
}

async function jsonOf(res) {
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** GET, JSON body. */
export async function get(path, query) {
  return jsonOf(await request('GET', path, { query }));
}

/** GET, text body. */
export async function getText(path, query) {
  const res = await request('GET', path, { query, accept: 'text/plain, */*' });
  return res.text();
}

/** One page of a list: {items, total} (total from X-Total-Count). */
export async function getPage(path, page, pageSize, query = {}) {
  const res = await request('GET', path, { query: { ...query, page, page_size: pageSize } });
  const items = (await jsonOf(res)) || [];
  const header = res.headers.get('X-Total-Count');
  const total = header === null ? items.length + (page - 1) * pageSize : Number(header);
  return { items: Array.isArray(items) ? items : [], total };
}

/** POST/PUT/DELETE/PATCH with an optional JSON body; resolves to the JSON answer or null. */
export async function send(method, path, body) {
  return jsonOf(await request(method, path, { body }));
}

// ---------------------------------------------------------------- sign-in

/** GET /c/session: the session, or null when not signed in (401). */
export async function session() {
  try {
    return await jsonOf(await request('GET', '/c/session'));
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

/** POST /c/login. */
export async function login(principal, password) {
  return jsonOf(await request('POST', '/c/login', { body: { principal, password } }));
}

/** POST /c/log_out. */
export async function logout() {
  await request('POST', '/c/log_out');
}

// ---------------------------------------------------------------- paths

/** Harbor's `q` item for a "contains" match: the value is encoded once more. */
export function fuzzy(key, text) {
  return text ? `${key}=~${encodeURIComponent(text)}` : '';
}

/** /projects/{p} */
export function projectPath(p) {
  return `/projects/${encodeURIComponent(p)}`;
}

/** /projects/{p}/repositories/{rest, '/' encoded twice} */
export function repoPath(p, rest) {
  return `${projectPath(p)}/repositories/${encodeURIComponent(encodeURIComponent(rest))}`;
}

/** …/artifacts/{reference} */
export function artifactPath(p, rest, reference) {
  return `${repoPath(p, rest)}/artifacts/${encodeURIComponent(reference)}`;
}

/** The part of a full repository name after its project ("team/a/b" → "a/b"). */
export function restOf(project, fullName) {
  return fullName.startsWith(`${project}/`) ? fullName.slice(project.length + 1) : fullName;
}

// ---------------------------------------------------------------- UI links

/** #/projects/{p}[/tab] */
export function projectHref(p, tab) {
  return `#/projects/${encodeURIComponent(p)}${tab ? `/${tab}` : ''}`;
}

/** #/projects/{p}/repositories/{rest} */
export function repoHref(p, rest) {
  return `#/projects/${encodeURIComponent(p)}/repositories/${encodeURIComponent(rest)}`;
}

/** #/projects/{p}/repositories/{rest}/artifacts/{digest} */
export function artifactHref(p, rest, digest) {
  return `${repoHref(p, rest)}/artifacts/${encodeURIComponent(digest)}`;
}
