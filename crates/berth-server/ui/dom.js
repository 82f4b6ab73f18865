// dom.js — small DOM helpers and formatters shared by every view.
//
// - h(tag, attrs, ...children): builds elements with createElement and
//   textContent only (never innerHTML), so data from the API cannot inject
//   markup.
// - Formatters: human bytes (1000-based, one decimal), times ("never" for
//   Harbor's zero time), short digests, platforms.
// - Widgets: tables in a horizontally scrolling wrapper, a pager
//   ("Previous" / "Page N of M" / "Next"), a paged list that loads one page at
//   a time from the server, a <dialog> confirmation, error alerts, the status
//   region announcer and a copy-to-clipboard button with a fallback.

// Properties set as DOM properties rather than attributes.
const PROPS = new Set(['value', 'checked', 'selected', 'disabled', 'readOnly', 'multiple', 'required']);

/** Creates an element. attrs: attributes; `class`; `on<event>` functions; PROPS. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (PROPS.has(k)) el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

/** Appends children: nodes, strings, numbers, arrays; skips null/false. */
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

let idCounter = 0;
/** A fresh element id with a readable prefix. */
export function uid(prefix = 'id') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

// ---------------------------------------------------------------- formatters

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes, 1024-based as the server's messages and the GiB quota field: "812 B", "2.0 MiB". */
export function formatBytes(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
  let v = Number(n);
  if (v < 1024) return `${v} B`;
  let i = -1;
  do {
    v /= 1024;
    i += 1;
  } while (v >= 1024 && i < UNITS.length - 1);
  return `${v.toFixed(1)} ${UNITS[i]}`;
}

/** True for Harbor's "never" time (0001-01-01…) or an empty value. */
export function isNever(t) {
  return !t || String(t).startsWith('0001-01-01');
}

function pad(n) {
  return String(n).padStart(2, '0');
}

/** A time as local "YYYY-MM-DD hh:mm", or "never". */
export function formatTime(t) {
  if (isNever(t)) return 'never';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A <time> element (full value in datetime and title), or "never". */
export function timeEl(t) {
  if (isNever(t)) return h('span', { class: 'muted' }, 'never');
  return h('time', { datetime: t, title: t }, formatTime(t));
}

/** "sha256:abcdef012345" from a full digest. */
export function shortDigest(d) {
  if (!d) return '';
  const i = d.indexOf(':');
  return i < 0 ? d.slice(0, 12) : d.slice(0, i + 1 + 12);
}

/** "linux/arm64/v8" from an image-spec platform. */
export function platformText(p) {
  if (!p) return 'unknown platform';
  const parts = [p.os || '?', p.architecture || '?'];
  if (p.variant) parts.push(p.variant);
  return parts.join('/');
}

/** Whether a manifest media type is an image index (OCI or Docker list). */
export function isIndexType(mt) {
  return /image\.index|manifest\.list/.test(mt || '');
}

/** A user-facing message from an error. */
export function errorText(err) {
  if (!err) return 'Unknown error';
  return err.message || String(err);
}

// ---------------------------------------------------------------- messages

/** A slot for errors of one section; `show(err)` puts a role=alert in it. */
export function messageSlot() {
  const el = h('div', { class: 'msg-slot' });
  return {
    el,
    show(err) {
      // An older success message must not stand beside the new error.
      const region = document.getElementById('status');
      if (region) region.textContent = '';
      el.replaceChildren(h('p', { role: 'alert', class: 'alert' }, errorText(err)));
    },
    info(text) {
      el.replaceChildren(h('p', { class: 'note' }, text));
    },
    clear() {
      el.replaceChildren();
    },
  };
}

/** Announces a message in the page's status region. */
export function announce(text) {
  const region = document.getElementById('status');
  if (!region) return;
  region.textContent = '';
  // A short delay so that the same message twice is announced twice.
  setTimeout(() => {
    region.textContent = text;
  }, 30);
}

// ---------------------------------------------------------------- tables

/** A table in a scrolling wrapper. columns: header labels; rows: arrays of cells. */
export function dataTable({ label, columns, rows = [], empty = 'Nothing to show.' }) {
  const tbody = h('tbody');
  const table = h(
    'table',
    null,
    label ? h('caption', { class: 'sr-only' }, label) : null,
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col' }, c)))),
    tbody,
  );
  const wrap = h('div', { class: 'table-wrap', role: 'region', 'aria-label': label || 'Table', tabindex: '0' }, table);
  const setRows = (list, emptyText = empty) => {
    tbody.replaceChildren();
    if (!list.length) {
      tbody.appendChild(h('tr', null, h('td', { colspan: String(columns.length), class: 'empty' }, emptyText)));
      return;
    }
    for (const r of list) {
      if (r instanceof Node) tbody.appendChild(r);
      else tbody.appendChild(h('tr', null, r.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : h('td', null, c)))));
    }
  };
  setRows(rows);
  return { el: wrap, table, tbody, setRows };
}

// ---------------------------------------------------------------- paging

/** Previous / "Page N of M" / Next. onChange(newPage). */
export function pager(label, onChange) {
  const prev = h('button', { type: 'button', class: 'secondary' }, 'Previous');
  const next = h('button', { type: 'button', class: 'secondary' }, 'Next');
  const text = h('span', { class: 'page-text' });
  const el = h('nav', { class: 'pager', 'aria-label': `${label} pages` }, prev, text, next);
  let page = 1;
  let last = 1;
  prev.addEventListener('click', () => page > 1 && onChange(page - 1));
  next.addEventListener('click', () => page < last && onChange(page + 1));
  return {
    el,
    update(p, pageSize, total) {
      page = p;
      last = Math.max(1, Math.ceil(total / pageSize));
      text.textContent = `Page ${page} of ${last} (${total} ${total === 1 ? 'item' : 'items'})`;
      const focused = document.activeElement;
      prev.disabled = page <= 1;
      next.disabled = page >= last;
      // Keep keyboard focus on a usable button when one becomes disabled.
      if (focused === prev && prev.disabled && !next.disabled) next.focus();
      if (focused === next && next.disabled && !prev.disabled) prev.focus();
    },
  };
}

/**
 * A server-paged table. load(page, pageSize) → {items, total}; row(item) →
 * array of cells or a <tr>. Returns {el, reload, messages}.
 */
export function pagedList({ label, columns, load, row, empty, pageSize = 10 }) {
  const messages = messageSlot();
  const table = dataTable({ label, columns, empty });
  let page = 1;
  let seq = 0;
  const go = async (p) => {
    page = p;
    const mine = ++seq;
    table.el.setAttribute('aria-busy', 'true');
    try {
      const { items, total } = await load(page, pageSize);
      if (mine !== seq) return;
      const last = Math.max(1, Math.ceil(total / pageSize));
      if (!items.length && page > last) {
        // The last page shrank (e.g. after a deletion): show the new last one.
        await go(last);
        return;
      }
      messages.clear();
      table.setRows(items.map(row), empty);
      pg.update(page, pageSize, total);
    } catch (err) {
      if (mine !== seq) return;
      table.setRows([], 'Could not load.');
      pg.update(page, pageSize, 0);
      messages.show(err);
    } finally {
      if (mine === seq) table.el.removeAttribute('aria-busy');
    }
  };
  const pg = pager(label, go);
  const el = h('div', { class: 'paged' }, messages.el, table.el, pg.el);
  return {
    el,
    messages,
    reload({ reset = false } = {}) {
      return go(reset ? 1 : page);
    },
  };
}

// ---------------------------------------------------------------- dialogs

/**
 * A modal confirmation with "Delete" and "Cancel" buttons (or the given
 * confirm label). Resolves true when confirmed.
 */
export function confirmDialog({ title, message, confirmLabel = 'Delete' }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid('dlg-title');
    const descId = uid('dlg-desc');
    const ok = h('button', { type: 'button', class: 'danger' }, confirmLabel);
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const dlg = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': titleId, 'aria-describedby': descId },
      h('h2', { id: titleId }, title),
      h('p', { id: descId }, message),
      h('div', { class: 'actions' }, ok, cancel),
    );
    let result = false;
    ok.addEventListener('click', () => {
      result = true;
      dlg.close();
    });
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      resolve(result);
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

// ---------------------------------------------------------------- clipboard

/**
 * A button that copies `text`. Uses the Clipboard API; without it (an
 * insecure context) it shows the text selected in a read-only input.
 */
export function copyButton(label, text, accessibleName, secret = false) {
  // A secret is never put in a tooltip or the status region (which screen
  // readers read aloud and which stays on screen).
  const attrs = { type: 'button', class: 'small secondary', 'aria-label': accessibleName || label };
  if (!secret) attrs.title = text;
  const btn = h('button', attrs, label);
  btn.addEventListener('click', async () => {
    try {
      if (!navigator.clipboard || !window.isSecureContext) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
      announce(secret ? 'Copied the secret to the clipboard' : `Copied: ${text}`);
    } catch {
      showCopyFallback(btn, text, secret);
    }
  });
  return btn;
}

function showCopyFallback(btn, text, secret = false) {
  const holder = btn.closest('li, dd, td, .row') || btn.parentElement;
  if (!holder) return;
  const old = holder.querySelector('.copy-fallback');
  if (old) old.remove();
  const id = uid('copy');
  const input = h('input', { id, type: 'text', readOnly: true, value: text, class: 'mono' });
  const close = h('button', { type: 'button', class: 'small secondary' }, 'Done');
  const box = h('div', { class: 'copy-fallback' }, h('label', { for: id }, 'Select and copy (Ctrl+C or ⌘C)'), input, close);
  close.addEventListener('click', () => {
    box.remove();
    btn.focus();
  });
  holder.appendChild(box);
  input.focus();
  input.select();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  const what = secret ? 'the secret' : text;
  announce(copied ? `Copied: ${what}` : 'The text is selected: press Ctrl+C (or ⌘C) to copy it.');
}

// ---------------------------------------------------------------- forms

/** A labelled field: <div class="field"><label for>…</label><input …></div>. */
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid('f');
  const hintEl = hint ? h('span', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: control.type === 'checkbox' ? 'field check' : 'field' }, control.type === 'checkbox' ? [control, h('label', { for: control.id }, labelText)] : [h('label', { for: control.id }, labelText), control], hintEl);
}

/** A <select> from [value, label] pairs. */
export function select(options, value, attrs = {}) {
  return h(
    'select',
    attrs,
    options.map(([v, l]) => h('option', { value: String(v), selected: String(v) === String(value) }, l)),
  );
}

/** Calls fn(input.value) after typing pauses (and at once on Enter). */
export function onFilter(input, fn, delay = 300) {
  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(input.value.trim()), delay);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      clearTimeout(timer);
      fn(input.value.trim());
    }
  });
}

/** Runs an async action with the button disabled meanwhile. */
export async function busy(button, fn) {
  const was = button.disabled;
  button.disabled = true;
  try {
    return await fn();
  } finally {
    if (button.isConnected) button.disabled = was;
  }
}

/** A section with an h2 heading. */
export function section(title, ...children) {
  const id = uid('sec');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), children);
}

/** A definition list from [term, value] pairs (null values skipped). */
export function defList(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs.filter((p) => p && p[1] !== null && p[1] !== undefined).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
  );
}
