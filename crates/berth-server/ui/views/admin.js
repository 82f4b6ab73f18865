// views/admin.js — system administration pages.
//
// - Users (#/admin/users): server-paged GET /users (q=username=~…), create
//   (POST /users), administrator flag (PUT /users/{id}/sysadmin), delete.
// - Garbage collection (#/admin/gc): the configured schedule
//   (GET /system/gc/schedule), "Run now" with dry run / delete untagged
//   (POST /system/gc/schedule, type Manual), the paged run history
//   (GET /system/gc) and each run's log (GET /system/gc/{id}/log) in a <pre>.
// - Audit log (#/admin/audit): server-paged GET /audit-logs with Harbor's q
//   filters (operation, username, resource_type, repository, op_time range).
// The server decides who may do what; refusals show its message.

import * as api from '../api.js';
import {
  h, announce, pagedList, section, field, select, messageSlot, onFilter, busy, confirmDialog,
  timeEl, formatBytes, uid,
} from '../dom.js';

// ---------------------------------------------------------------- users

export async function usersView(root, { session }) {
  root.append(h('h1', null, 'Users'));
  const actionMsg = messageSlot();
  let filter = '';
  const input = h('input', { id: 'filter-users', type: 'search', autocomplete: 'off' });
  root.append(actionMsg.el, h('div', { class: 'filter field' }, h('label', { for: 'filter-users' }, 'Filter users'), input));

  const list = pagedList({
    label: 'Users',
    columns: ['Username', 'Email', 'Full name', 'Signs in with', 'Administrator', 'Created', 'Actions'],
    empty: 'No users.',
    load: (page, size) => api.getPage('/users', page, size, { q: api.fuzzy('username', filter) }),
    row: (u) => {
      const toggle = h('button', { type: 'button', class: 'small secondary', 'aria-label': `${u.sysadmin_flag ? 'Remove administrator' : 'Make administrator'}: ${u.username}` }, u.sysadmin_flag ? 'Remove administrator' : 'Make administrator');
      toggle.addEventListener('click', () =>
        busy(toggle, async () => {
          actionMsg.clear();
          try {
            await api.send('PUT', `/users/${u.user_id}/sysadmin`, { sysadmin_flag: !u.sysadmin_flag });
            announce(u.sysadmin_flag ? `${u.username} is no longer an administrator` : `${u.username} is now an administrator`);
            await list.reload();
          } catch (err) {
            actionMsg.show(err);
          }
        }));
      const del = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete user ${u.username}` }, 'Delete');
      del.addEventListener('click', async () => {
        const ok = await confirmDialog({ title: 'Delete user?', message: `Delete user ${u.username}? Their memberships and access tokens go with them.` });
        if (!ok) return;
        actionMsg.clear();
        try {
          await api.send('DELETE', `/users/${u.user_id}`);
          announce(`Deleted user ${u.username}`);
          await list.reload();
        } catch (err) {
          actionMsg.show(err);
        }
      });
      return [
        h('span', null, u.username, session && u.username === session.username ? h('span', { class: 'muted' }, ' (you)') : null),
        u.email || h('span', { class: 'muted' }, '—'),
        u.realname || h('span', { class: 'muted' }, '—'),
        ({ ldap: 'LDAP directory', oidc: 'OpenID Connect' })[u.source] || 'berth password',
        u.sysadmin_flag ? 'Yes' : 'No',
        timeEl(u.creation_time),
        h('div', { class: 'actions' }, toggle, del),
      ];
    },
  });
  root.append(list.el);
  onFilter(input, (text) => {
    filter = text;
    list.reload({ reset: true });
  });

  const msg = messageSlot();
  const username = h('input', { type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const email = h('input', { type: 'email', autocomplete: 'off' });
  const realname = h('input', { type: 'text', autocomplete: 'off' });
  const password = h('input', { type: 'password', required: true, autocomplete: 'new-password' });
  const submit = h('button', { type: 'submit' }, 'Create user');
  const form = h('form', { class: 'form' }, field('Username', username), field('Email', email), field('Full name', realname), field('Password', password), submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    msg.clear();
    const name = username.value.trim();
    if (!name || !password.value) {
      msg.show(new Error('Enter a username and a password.'));
      (name ? password : username).focus();
      return;
    }
    busy(submit, async () => {
      try {
        await api.send('POST', '/users', { username: name, email: email.value.trim(), realname: realname.value.trim(), password: password.value });
        for (const i of [username, email, realname, password]) i.value = '';
        announce(`Created user ${name}`);
        await list.reload();
      } catch (err) {
        msg.show(err);
      }
    });
  });
  root.append(section('Create a user', msg.el, form));
  await list.reload({ reset: true });
}

// ---------------------------------------------------------------- garbage collection

function params(text) {
  try {
    return JSON.parse(text || '{}') || {};
  } catch {
    return {};
  }
}

export async function gcView(root) {
  root.append(h('h1', null, 'Garbage collection'));
  root.append(h('p', { class: 'note' }, 'Garbage collection deletes blobs no manifest references any longer (and, when asked, untagged manifests), and frees their storage.'));

  // Schedule.
  const schedMsg = messageSlot();
  const sched = h('p');
  root.append(section('Schedule', schedMsg.el, sched, h('p', { class: 'note' }, 'The schedule is gc.schedule in the server configuration.')));

  // Run now.
  const runMsg = messageSlot();
  // Dry run is the default: a real run deletes, and asks first.
  const dry = h('input', { type: 'checkbox', checked: true });
  const untagged = h('input', { type: 'checkbox' });
  const run = h('button', { type: 'submit' }, 'Run now');
  const form = h('form', { class: 'form' }, field('Dry run', dry, 'Only report what would be deleted'), field('Delete untagged', untagged, 'Also delete manifests without tags'), run);
  root.append(section('Run now', runMsg.el, form));

  // History.
  const logHolder = h('div');
  const list = pagedList({
    label: 'Garbage collection runs',
    columns: ['Run', 'Started by', 'Status', 'Started', 'Finished', 'Options', 'Deleted', 'Log'],
    empty: 'No runs yet.',
    load: (page, size) => api.getPage('/system/gc', page, size),
    row: (r) => {
      const p = params(r.job_parameters);
      const opts = [p.dry_run ? 'dry run' : null, p.delete_untagged ? 'delete untagged' : null].filter(Boolean).join(', ') || '—';
      const cls = r.job_status === 'Success' ? 'ok' : r.job_status === 'Error' ? 'bad' : 'info';
      const logBtn = h('button', { type: 'button', class: 'small secondary', 'aria-label': `Show log of run ${r.id}` }, 'Show log');
      logBtn.addEventListener('click', () => busy(logBtn, () => showLog(r.id, logHolder)));
      return [
        String(r.id),
        r.cli ? 'command line' : r.job_kind === 'SCHEDULE' ? 'schedule' : 'manual',
        h('span', { class: `badge ${cls}` }, r.job_status),
        timeEl(r.creation_time),
        r.job_status === 'Running' ? h('span', { class: 'muted' }, 'running') : timeEl(r.update_time),
        opts,
        `${r.blobs_deleted} blobs, ${formatBytes(r.bytes_deleted)}; ${r.manifests_deleted} manifests`,
        logBtn,
      ];
    },
  });
  const refresh = h('button', { type: 'button', class: 'secondary small' }, 'Refresh');
  refresh.addEventListener('click', () => list.reload());
  root.append(section('History', refresh, list.el, logHolder));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    runMsg.clear();
    busy(run, async () => {
      if (!dry.checked) {
        const sure = await confirmDialog({
          title: 'Run garbage collection?',
          message: `This deletes every blob no manifest references${untagged.checked ? ' and every untagged manifest' : ''}, in all projects. It cannot be undone.`,
          confirmLabel: 'Run garbage collection',
        });
        if (!sure) return;
      }
      try {
        await api.send('POST', '/system/gc/schedule', {
          schedule: { type: 'Manual' },
          parameters: { dry_run: dry.checked, delete_untagged: untagged.checked },
        });
        announce(dry.checked ? 'Garbage collection dry run started' : 'Garbage collection started');
        await list.reload({ reset: true });
      } catch (err) {
        runMsg.show(err);
      }
    });
  });

  const loadSchedule = async () => {
    try {
      const s = await api.get('/system/gc/schedule');
      const kind = s && s.schedule ? s.schedule.type : 'None';
      sched.replaceChildren(kind === 'None' || !s.schedule.cron ? 'No schedule: garbage collection runs only when started.' : ['Runs on the schedule ', h('code', null, s.schedule.cron), ' (cron, UTC).']);
    } catch (err) {
      schedMsg.show(err);
    }
  };
  await Promise.all([loadSchedule(), list.reload({ reset: true })]);
}

async function showLog(id, holder) {
  const hid = uid('log');
  const msg = messageSlot();
  const pre = h('pre', { tabindex: '0', 'aria-labelledby': hid });
  const heading = h('h3', { id: hid, tabindex: '-1' }, `Log of run ${id}`);
  holder.replaceChildren(heading, msg.el, pre);
  try {
    pre.textContent = await api.getText(`/system/gc/${id}/log`);
    if (!pre.textContent) pre.textContent = '(empty)';
  } catch (err) {
    pre.remove();
    msg.show(err);
  }
  heading.focus();
}

// ---------------------------------------------------------------- audit log

const OPERATIONS = [['', 'Any'], ['create', 'create'], ['update', 'update'], ['delete', 'delete'], ['pull', 'pull'], ['login', 'login']];
const RESOURCE_TYPES = [
  '', 'artifact', 'tag', 'repository', 'blob', 'user', 'token', 'project', 'project_member', 'robot', 'permission',
  'retention_policy', 'retention_execution', 'immutable_rule', 'tag_naming_rule', 'quota', 'registry',
  'replication_policy', 'replication_execution', 'gc', 'access_token', 'signature', 'trusted_key', 'scan', 'sbom', 'cve_allowlist',
].map((t) => [t, t || 'Any']);

/** A datetime-local value (local time) as Harbor's "YYYY-MM-DD hh:mm:ss" in UTC. */
function utcText(local) {
  if (!local) return '';
  const d = new Date(local);
  if (Number.isNaN(d.getTime())) return '';
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

/** Harbor's q for the audit filters; values encoded once more. */
function auditQuery(f) {
  const items = [];
  const enc = encodeURIComponent;
  if (f.operation) items.push(`operation=${enc(f.operation)}`);
  if (f.username) items.push(`username=${enc(f.username)}`);
  if (f.resourceType) items.push(`resource_type=${enc(f.resourceType)}`);
  if (f.repository) items.push(`repository=${enc(f.repository)}`);
  if (f.from || f.to) items.push(`op_time=[${enc(f.from)}~${enc(f.to)}]`);
  return items.join(',');
}

export async function auditView(root) {
  root.append(h('h1', null, 'Audit log'));
  const filters = {};
  const operation = select(OPERATIONS, '');
  const username = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const resourceType = select(RESOURCE_TYPES, '');
  const repository = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const from = h('input', { type: 'datetime-local' });
  const to = h('input', { type: 'datetime-local' });
  const apply = h('button', { type: 'submit' }, 'Apply filters');
  const clear = h('button', { type: 'button', class: 'secondary' }, 'Clear');
  const form = h(
    'form',
    { class: 'form', 'aria-label': 'Audit log filters' },
    field('Operation', operation),
    field('Username', username, 'Exact name'),
    field('Resource type', resourceType),
    field('Repository', repository, 'Exact full name'),
    field('From', from, 'Your local time'),
    field('To', to),
    apply,
    clear,
  );
  root.append(section('Filters', form));

  const list = pagedList({
    label: 'Audit log entries',
    columns: ['Time', 'User', 'Operation', 'Resource type', 'Resource', 'Result', 'Detail', 'Source IP'],
    empty: 'No entries.',
    pageSize: 20,
    load: (page, size) => api.getPage('/audit-logs', page, size, { q: auditQuery(filters) }),
    row: (e) => [
      timeEl(e.op_time),
      e.username || h('span', { class: 'muted' }, '—'),
      h('span', { title: e.action || '' }, e.operation || ''),
      e.resource_type || '',
      h('span', { class: 'mono cell-wide' }, e.resource || ''),
      h('span', { class: `badge ${/success|allow/i.test(e.result || '') ? 'ok' : /fail|den|refus|error/i.test(e.result || '') ? 'bad' : ''}` }, e.result || ''),
      h('span', { class: 'cell-wide' }, e.detail || ''),
      h('span', { class: 'nowrap' }, e.source_ip || ''),
    ],
  });
  root.append(list.el);

  const read = () => {
    filters.operation = operation.value;
    filters.username = username.value.trim();
    filters.resourceType = resourceType.value;
    filters.repository = repository.value.trim();
    filters.from = utcText(from.value);
    filters.to = utcText(to.value);
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    read();
    list.reload({ reset: true });
  });
  clear.addEventListener('click', () => {
    operation.value = '';
    resourceType.value = '';
    for (const i of [username, repository, from, to]) i.value = '';
    read();
    list.reload({ reset: true });
  });
  read();
  await list.reload({ reset: true });
}
