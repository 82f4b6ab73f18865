// views/project.js — one project (#/projects/{p}[/{tab}]).
//
// The heading is the project's name, with a summary (access, repositories,
// artifacts, storage used of the quota) and tabs as links:
// - Repositories: server-paged, filterable (q=name=~…).
// - Members: GET/POST/PUT/DELETE /projects/{p}/members; roles by Harbor id.
// - Robot accounts: GET /robots?q=ProjectID=<id>, POST /robots (the secret is
//   shown once), DELETE /robots/{id}.
// - Policies: retention (/retention and /retention/executions), immutable tag
//   rules (/immutabletagrules), the tag naming rule (/tag-naming-rule) and the
//   storage quota (/quota). Each section shows the server's refusal (403) on
//   its own, so one section the caller may not read does not hide the others.
// - Webhooks: /webhook/policies (create, enable/disable, delete) with each
//   policy's last deliveries (/executions).

import * as api from '../api.js';
import {
  h, announce, pagedList, dataTable, section, field, select, messageSlot, onFilter, busy,
  confirmDialog, copyButton, timeEl, formatBytes, uid,
} from '../dom.js';
import { storageText } from './projects.js';

const TABS = [
  ['repositories', 'Repositories'],
  ['members', 'Members'],
  ['robots', 'Robot accounts'],
  ['policies', 'Policies'],
  ['webhooks', 'Webhooks'],
];

/** Harbor's project roles (api/members.rs). */
export const ROLES = [
  [1, 'Project admin'],
  [4, 'Maintainer'],
  [2, 'Developer'],
  [3, 'Guest'],
  [5, 'Limited guest'],
];

function roleLabel(id, fallback) {
  const r = ROLES.find(([v]) => v === id);
  return r ? r[1] : fallback || String(id);
}

export async function projectView(root, ctx) {
  const { project, tab } = ctx;
  root.append(
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('ol', null, h('li', null, h('a', { href: '#/projects' }, 'Projects')), h('li', null, h('span', { 'aria-current': 'page' }, project)))),
    h('h1', null, project),
  );
  const summary = h('ul', { class: 'summary-line' });
  const headMsg = messageSlot();
  root.append(headMsg.el, summary);
  root.append(
    h(
      'nav',
      { class: 'tabs', 'aria-label': 'Project' },
      h('ul', null, TABS.map(([key, label]) => h('li', null, h('a', { href: api.projectHref(project, key === 'repositories' ? '' : key), 'aria-current': key === tab ? 'page' : null }, label)))),
    ),
  );
  const body = h('div', { class: 'tab-body' });
  root.append(body);

  // The project and its summary load beside the tab.
  const info = loadSummary(project, summary, headMsg);
  ctx.info = info;

  switch (tab) {
    case 'members':
      return membersTab(body, ctx);
    case 'robots':
      return robotsTab(body, ctx);
    case 'policies':
      return policiesTab(body, ctx);
    case 'webhooks':
      return webhooksTab(body, ctx);
    default:
      return repositoriesTab(body, ctx);
  }
}

async function loadSummary(project, summary, msg) {
  let p = null;
  try {
    p = await api.get(api.projectPath(project));
  } catch (err) {
    msg.show(err);
    return null;
  }
  const item = (label, value) => h('li', null, `${label}: `, h('strong', null, value));
  summary.append(item('Access', p.metadata && p.metadata.public === 'true' ? 'Public' : 'Private'));
  try {
    const s = await api.get(`${api.projectPath(project)}/summary`);
    summary.append(
      item('Repositories', String(s.repo_count ?? 0)),
      item('Artifacts', String(s.artifact_count ?? 0)),
      item('Storage', storageText(s)),
    );
  } catch {
    summary.append(item('Repositories', String(p.repo_count ?? 0)));
  }
  return p;
}

// ---------------------------------------------------------------- repositories

async function repositoriesTab(body, { project }) {
  let filter = '';
  const input = h('input', { id: 'filter-repositories', type: 'search', autocomplete: 'off' });
  body.append(h('h2', { class: 'sr-only' }, 'Repositories'));
  body.append(h('div', { class: 'filter field' }, h('label', { for: 'filter-repositories' }, 'Filter repositories'), input));
  const list = pagedList({
    label: 'Repositories',
    columns: ['Name', 'Artifacts', 'Pulls', 'Updated'],
    empty: 'No repositories.',
    load: (page, size) => api.getPage(`${api.projectPath(project)}/repositories`, page, size, { q: api.fuzzy('name', filter) }),
    row: (r) => [
      h('a', { href: api.repoHref(project, api.restOf(project, r.name)) }, r.name),
      String(r.artifact_count ?? 0),
      String(r.pull_count ?? 0),
      timeEl(r.update_time),
    ],
  });
  body.append(list.el);
  onFilter(input, (text) => {
    filter = text;
    list.reload({ reset: true });
  });
  await list.reload({ reset: true });
}

// ---------------------------------------------------------------- members

async function membersTab(body, { project }) {
  const base = `${api.projectPath(project)}/members`;
  const actionMsg = messageSlot();
  body.append(h('h2', null, 'Members'), actionMsg.el);
  const list = pagedList({
    label: 'Members',
    columns: ['Name', 'Role', 'Repositories', 'Actions'],
    empty: 'No members.',
    load: (page, size) => api.getPage(base, page, size),
    row: (m) => {
      const roleId = uid('role');
      const roleSel = select(ROLES, m.role_id, { id: roleId, 'aria-label': `Role of ${m.entity_name}` });
      const save = h('button', { type: 'button', class: 'small secondary', 'aria-label': `Save role of ${m.entity_name}` }, 'Save role');
      save.addEventListener('click', () =>
        busy(save, async () => {
          actionMsg.clear();
          try {
            await api.send('PUT', `${base}/${m.id}`, { role_id: Number(roleSel.value) });
            announce(`${m.entity_name} is now ${roleLabel(Number(roleSel.value))}`);
            await list.reload();
          } catch (err) {
            actionMsg.show(err);
          }
        }));
      const remove = h('button', { type: 'button', class: 'small danger', 'aria-label': `Remove member ${m.entity_name}` }, 'Remove');
      remove.addEventListener('click', async () => {
        const ok = await confirmDialog({
          title: 'Remove member?',
          message: `Remove ${m.entity_name} from project ${project}? They lose the access the role ${roleLabel(m.role_id, m.role_name)} gave them.`,
          confirmLabel: 'Remove',
        });
        if (!ok) return;
        actionMsg.clear();
        try {
          await api.send('DELETE', `${base}/${m.id}`);
          announce(`Removed member ${m.entity_name}`);
          await list.reload();
        } catch (err) {
          actionMsg.show(err);
        }
      });
      return [
        m.entity_type === 'g' ? h('span', null, m.entity_name, h('span', { class: 'muted' }, ' (group)')) : m.entity_name,
        h('div', { class: 'actions' }, roleSel, save),
        m.repositories && m.repositories.length ? m.repositories.join(', ') : h('span', { class: 'muted' }, 'all'),
        h('div', { class: 'actions' }, remove),
      ];
    },
  });
  body.append(list.el);

  const msg = messageSlot();
  const username = h('input', { type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  // A user, or a user group registered in /usergroups (docs/identity.md).
  const kind = select([['user', 'User'], ['group', 'User group']], 'user');
  const role = select(ROLES, 2);
  const submit = h('button', { type: 'submit' }, 'Add member');
  const form = h('form', { class: 'form' }, field('Member type', kind), field('Username or group name', username), field('Role', role), submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    msg.clear();
    const name = username.value.trim();
    if (!name) {
      msg.show(new Error('Enter a username or group name.'));
      username.focus();
      return;
    }
    busy(submit, async () => {
      try {
        const member = kind.value === 'group' ? { member_group: { group_name: name } } : { member_user: { username: name } };
        await api.send('POST', base, { role_id: Number(role.value), ...member });
        username.value = '';
        announce(`Added ${name} as ${roleLabel(Number(role.value))}`);
        await list.reload();
      } catch (err) {
        msg.show(err);
      }
    });
  });
  body.append(section('Add a member', msg.el, form));
  await list.reload({ reset: true });
}

// ---------------------------------------------------------------- robots

function robotActions(r) {
  const out = new Set();
  for (const p of r.permissions || []) for (const a of p.access || []) out.add(a.action === '*' ? 'all' : a.action);
  return out.size ? [...out].join(', ') : 'none';
}

function expiryText(expiresAt) {
  if (expiresAt === -1 || expiresAt === undefined || expiresAt === null) return 'never';
  const d = new Date(expiresAt * 1000);
  return timeEl(d.toISOString());
}

async function robotsTab(body, ctx) {
  const { project } = ctx;
  const actionMsg = messageSlot();
  body.append(h('h2', null, 'Robot accounts'), actionMsg.el);
  const p = await ctx.info;
  if (!p) return;
  if (!p.project_id) {
    body.append(h('p', { class: 'note' }, 'This project is only implied by repository names; a system administrator creates it before it can have robot accounts.'));
    return;
  }
  const list = pagedList({
    label: 'Robot accounts',
    columns: ['Name', 'Permissions', 'Expires', 'Status', 'Created', 'Actions'],
    empty: 'No robot accounts.',
    load: (page, size) => api.getPage('/robots', page, size, { q: `ProjectID=${p.project_id}` }),
    row: (r) => {
      const del = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete robot account ${r.name}` }, 'Delete');
      del.addEventListener('click', async () => {
        const ok = await confirmDialog({ title: 'Delete robot account?', message: `Delete robot account ${r.name}? Clients using its secret can no longer sign in.` });
        if (!ok) return;
        actionMsg.clear();
        try {
          await api.send('DELETE', `/robots/${r.id}`);
          announce(`Deleted robot account ${r.name}`);
          await list.reload();
        } catch (err) {
          actionMsg.show(err);
        }
      });
      return [
        h('span', { class: 'mono' }, r.name),
        robotActions(r),
        expiryText(r.expires_at),
        r.disable ? 'Disabled' : 'Enabled',
        timeEl(r.creation_time),
        h('div', { class: 'actions' }, del),
      ];
    },
  });
  body.append(list.el);

  const msg = messageSlot();
  const secretHolder = h('div');
  const name = h('input', { type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const pull = h('input', { type: 'checkbox', checked: true });
  const push = h('input', { type: 'checkbox' });
  const del = h('input', { type: 'checkbox' });
  const days = h('input', { type: 'number', min: '-1', step: '1', inputmode: 'numeric' });
  const submit = h('button', { type: 'submit' }, 'Create robot account');
  const form = h(
    'form',
    { class: 'form' },
    field('Name', name, `Full name: robot$${project}+<name>`),
    h('fieldset', null, h('legend', null, 'Permissions'), field('Pull', pull), field('Push', push), field('Delete', del)),
    field('Expires after (days)', days, 'Empty or -1: never'),
    submit,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    msg.clear();
    const robotName = name.value.trim();
    if (!robotName) {
      msg.show(new Error('Enter a name.'));
      name.focus();
      return;
    }
    const access = [];
    if (pull.checked) access.push({ resource: 'repository', action: 'pull' });
    if (push.checked) access.push({ resource: 'repository', action: 'push' });
    if (del.checked) access.push({ resource: 'repository', action: 'delete' });
    if (!access.length) {
      msg.show(new Error('Choose at least one permission.'));
      pull.focus();
      return;
    }
    const duration = days.value.trim() === '' ? -1 : Number(days.value);
    if (!Number.isInteger(duration) || duration < -1 || duration === 0) {
      msg.show(new Error('Expiry must be a whole number of days, or -1 for never.'));
      days.focus();
      return;
    }
    busy(submit, async () => {
      try {
        const created = await api.send('POST', '/robots', {
          name: robotName,
          level: 'project',
          duration,
          permissions: [{ kind: 'project', namespace: project, access }],
        });
        name.value = '';
        secretHolder.replaceChildren(secretBox(created));
        announce(`Created robot account ${created.name}. Copy its secret now.`);
        secretHolder.querySelector('input').focus();
        await list.reload();
      } catch (err) {
        msg.show(err);
      }
    });
  });
  body.append(section('Create a robot account', msg.el, secretHolder, form));
  await list.reload({ reset: true });
}

function secretBox(created) {
  const id = uid('secret');
  const input = h('input', { id, type: 'text', readOnly: true, value: created.secret, class: 'mono' });
  input.addEventListener('focus', () => input.select());
  const dismiss = h('button', { type: 'button', class: 'small secondary' }, 'I have copied it');
  const box = h(
    'div',
    { class: 'secret-box', role: 'region', 'aria-label': 'New robot secret' },
    h('p', null, h('strong', null, 'Copy this secret now; it will not be shown again.')),
    h('p', null, 'Robot account: ', h('code', null, created.name)),
    h('label', { for: id }, 'Secret'),
    h('div', { class: 'row' }, input, copyButton('Copy secret', created.secret, 'Copy secret', true), dismiss),
  );
  dismiss.addEventListener('click', () => box.remove());
  return box;
}

// ---------------------------------------------------------------- policies

async function policiesTab(body, ctx) {
  const { project, session } = ctx;
  body.append(h('h2', { class: 'sr-only' }, 'Policies'));
  const parts = [retentionSection(project), immutableSection(project), namingSection(project), quotaSection(project, session)];
  await Promise.all(parts.map((p) => {
    body.append(p.el);
    return p.load();
  }));
}

const TEMPLATES = [
  ['latestPushedK', 'Keep the most recently pushed (count)'],
  ['latestPulledN', 'Keep the most recently pulled (count)'],
  ['nDaysSinceLastPush', 'Keep those pushed within (days)'],
  ['nDaysSinceLastPull', 'Keep those pulled within (days)'],
  ['always', 'Always keep'],
];

function selectorText(list, what) {
  if (!list || !list.length) return `any ${what}`;
  return list
    .map((s) => {
      const not = /excludes/i.test(s.decoration || '') ? 'not ' : '';
      const kind = s.kind === 'regex' ? 'regex ' : '';
      return `${what} ${not}matching ${kind}“${s.pattern}”`;
    })
    .join(' and ');
}

function untaggedOf(selectors) {
  return (selectors || []).some((s) => {
    let x = s.extras;
    if (typeof x === 'string') {
      try {
        x = JSON.parse(x);
      } catch {
        x = null;
      }
    }
    return x && x.untagged === true;
  });
}

/** One retention rule in words. */
export function describeRule(rule) {
  const p = rule.params || {};
  const n = p[rule.template];
  const what = {
    latestPushedK: `Keep the ${n} most recently pushed`,
    latestPulledN: `Keep the ${n} most recently pulled`,
    nDaysSinceLastPush: `Keep those pushed within ${n} days`,
    nDaysSinceLastPull: `Keep those pulled within ${n} days`,
    always: 'Always keep',
  }[rule.template] || `Template ${rule.template}`;
  const tags = selectorText(rule.tag_selectors, 'tags');
  const repos = selectorText(rule.scope_selectors && rule.scope_selectors.repository, 'repositories');
  const untagged = untaggedOf(rule.tag_selectors) ? ', and untagged artifacts' : '';
  return `${what}: ${tags}${untagged}, in ${repos}${rule.disabled ? ' (disabled)' : ''}`;
}

function retentionSection(project) {
  const base = `${api.projectPath(project)}/retention`;
  const msg = messageSlot();
  const content = h('div');
  const el = section('Tag retention', msg.el, content);
  let draft = null;

  const render = () => {
    content.replaceChildren();
    const rules = dataTable({ label: 'Retention rules', columns: ['#', 'Rule', 'Actions'], empty: 'No rules: nothing is deleted.' });
    rules.setRows(draft.rules.map((r, i) => {
      const remove = h('button', { type: 'button', class: 'small danger', 'aria-label': `Remove rule ${i + 1}` }, 'Remove');
      remove.addEventListener('click', () => {
        draft.rules.splice(i, 1);
        render();
        announce(`Rule ${i + 1} removed from the draft; save the policy to keep the change.`);
      });
      return [String(i + 1), describeRule(r), remove];
    }));
    content.append(
      h('p', { class: 'note' }, 'Artifacts that no rule keeps are deleted when the policy runs. Changes take effect when you save the policy.'),
      rules.el,
    );

    // Add a rule to the draft.
    const template = select(TEMPLATES, 'latestPushedK');
    const count = h('input', { type: 'number', min: '0', step: '1', value: '10', inputmode: 'numeric' });
    const tags = h('input', { type: 'text', value: '**', spellcheck: 'false' });
    const repos = h('input', { type: 'text', value: '**', spellcheck: 'false' });
    const untagged = h('input', { type: 'checkbox' });
    const add = h('button', { type: 'submit', class: 'secondary' }, 'Add rule');
    const addForm = h('form', { class: 'form' }, field('Rule', template), field('Count or days', count), field('Tags matching', tags, 'Glob; ** is every tag'), field('Repositories matching', repos, 'Within the project; ** is every repository'), field('Include untagged artifacts', untagged), add);
    template.addEventListener('change', () => {
      count.disabled = template.value === 'always';
    });
    addForm.addEventListener('submit', (e) => {
      e.preventDefault();
      msg.clear();
      const t = template.value;
      const params = {};
      if (t !== 'always') {
        const n = Number(count.value);
        if (!Number.isInteger(n) || n < 0) {
          msg.show(new Error('The count or number of days must be a whole number.'));
          count.focus();
          return;
        }
        params[t] = n;
      }
      const tagSel = { kind: 'doublestar', decoration: 'matches', pattern: tags.value.trim() || '**' };
      if (untagged.checked) tagSel.extras = JSON.stringify({ untagged: true });
      draft.rules.push({
        action: 'retain',
        template: t,
        params,
        tag_selectors: [tagSel],
        scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: repos.value.trim() || '**' }] },
      });
      render();
      announce(`Rule ${draft.rules.length} added to the draft; save the policy to keep it.`);
    });

    // Schedule and save.
    const cron = h('input', { type: 'text', spellcheck: 'false', value: draft.trigger && /schedule/i.test(draft.trigger.kind || '') ? (draft.trigger.settings && draft.trigger.settings.cron) || '' : '' });
    const save = h('button', { type: 'submit' }, 'Save retention policy');
    const remove = h('button', { type: 'button', class: 'danger' }, 'Delete retention policy');
    const saveForm = h('form', { class: 'form' }, field('Schedule (cron)', cron, 'Six fields, seconds first, UTC, e.g. 0 0 3 * * *; empty: run only by hand'), save, remove);
    saveForm.addEventListener('submit', (e) => {
      e.preventDefault();
      msg.clear();
      const c = cron.value.trim();
      const policy = { ...draft, algorithm: draft.algorithm || 'or', trigger: c ? { kind: 'Schedule', settings: { cron: c } } : { kind: 'Manual', settings: {} } };
      busy(save, async () => {
        try {
          await api.send('PUT', base, policy);
          announce('Saved the retention policy');
          await load();
        } catch (err) {
          msg.show(err);
        }
      });
    });
    remove.addEventListener('click', async () => {
      const ok = await confirmDialog({ title: 'Delete retention policy?', message: `Delete the retention policy of ${project}? Nothing will be deleted by retention afterwards.` });
      if (!ok) return;
      msg.clear();
      try {
        await api.send('DELETE', base);
        announce('Deleted the retention policy');
        await load();
      } catch (err) {
        msg.show(err);
      }
    });

    // Run now.
    const dry = h('input', { type: 'checkbox', checked: true });
    const run = h('button', { type: 'submit', class: 'secondary' }, 'Run now');
    const report = h('div');
    const runForm = h('form', { class: 'form' }, field('Dry run (only report)', dry), run);
    runForm.addEventListener('submit', (e) => {
      e.preventDefault();
      msg.clear();
      busy(run, async () => {
        try {
          const r = await api.send('POST', `${base}/executions`, { dry_run: dry.checked });
          report.replaceChildren(retentionReport(r));
          announce(dry.checked ? 'Dry run finished' : 'Retention run finished');
        } catch (err) {
          msg.show(err);
        }
      });
    });

    content.append(h('h3', null, 'Add a rule'), addForm, h('h3', null, 'Schedule and save'), saveForm, h('h3', null, 'Run the saved policy'), runForm, report);
  };

  const load = async () => {
    msg.clear();
    try {
      draft = await api.get(base);
    } catch (err) {
      if (err.status === 404) {
        draft = { algorithm: 'or', rules: [] };
        msg.info('This project has no retention policy.');
      } else {
        content.replaceChildren();
        msg.show(err);
        return;
      }
    }
    if (!draft.rules) draft.rules = [];
    render();
  };
  return { el, load };
}

function retentionReport(r) {
  const rows = [];
  for (const repo of (r && r.repositories) || []) {
    for (const k of repo.kept || []) rows.push([repo.repository, k.tag || '(untagged)', h('span', { class: 'mono', title: k.digest }, k.digest ? k.digest.slice(0, 19) : ''), 'kept', k.reason || '']);
    for (const d of repo.deleted || []) rows.push([repo.repository, d.tag || '(untagged)', h('span', { class: 'mono', title: d.digest }, d.digest ? d.digest.slice(0, 19) : ''), d.error ? `not deleted: ${d.error}` : r.dry_run ? 'would be deleted' : 'deleted', d.reason || '']);
  }
  const t = dataTable({ label: 'Retention report', columns: ['Repository', 'Tag', 'Digest', 'Outcome', 'Why'], empty: 'No rule selects any repository.' });
  t.setRows(rows);
  return h('div', null, h('h3', null, r && r.dry_run ? 'Dry run report' : 'Run report'), t.el);
}

function immutableSection(project) {
  const base = `${api.projectPath(project)}/immutabletagrules`;
  const msg = messageSlot();
  const table = dataTable({ label: 'Immutable tag rules', columns: ['Repositories', 'Tags', 'State', 'Actions'], empty: 'No immutable tag rules.' });
  const tag = h('input', { type: 'text', required: true, spellcheck: 'false' });
  const repo = h('input', { type: 'text', value: '**', spellcheck: 'false' });
  const add = h('button', { type: 'submit' }, 'Add rule');
  const form = h('form', { class: 'form' }, field('Repository pattern', repo, '** is every repository'), field('Tag pattern', tag, 'e.g. v* or release-*'), add);
  const el = section('Immutable tags', h('p', { class: 'note' }, 'A tag an enabled rule matches can be neither moved nor deleted.'), msg.el, table.el, h('h3', null, 'Add an immutable tag rule'), form);
  const patterns = (list) => (list || []).map((s) => `${/excludes/i.test(s.decoration || '') ? 'not ' : ''}${s.pattern}`).join(', ') || '**';

  const load = async () => {
    let rules;
    try {
      rules = (await api.get(base)) || [];
    } catch (err) {
      table.setRows([], 'Could not load.');
      msg.show(err);
      return;
    }
    table.setRows(rules.map((r) => {
      const desc = `tags ${patterns(r.tag_selectors)} in ${patterns(r.scope_selectors && r.scope_selectors.repository)}`;
      const toggle = h('button', { type: 'button', class: 'small secondary', 'aria-label': `${r.disabled ? 'Enable' : 'Disable'} rule ${desc}` }, r.disabled ? 'Enable' : 'Disable');
      toggle.addEventListener('click', () =>
        busy(toggle, async () => {
          msg.clear();
          try {
            await api.send('PUT', `${base}/${r.id}`, { ...r, disabled: !r.disabled });
            announce(`${r.disabled ? 'Enabled' : 'Disabled'} the rule for ${desc}`);
            await load();
          } catch (err) {
            msg.show(err);
          }
        }));
      const del = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete rule ${desc}` }, 'Delete');
      del.addEventListener('click', async () => {
        const ok = await confirmDialog({ title: 'Delete immutable tag rule?', message: `Delete the rule protecting ${desc}?` });
        if (!ok) return;
        msg.clear();
        try {
          await api.send('DELETE', `${base}/${r.id}`);
          announce(`Deleted the rule for ${desc}`);
          await load();
        } catch (err) {
          msg.show(err);
        }
      });
      return [
        patterns(r.scope_selectors && r.scope_selectors.repository),
        patterns(r.tag_selectors),
        r.disabled ? 'Disabled' : 'Enabled',
        h('div', { class: 'actions' }, toggle, del),
      ];
    }));
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    msg.clear();
    if (!tag.value.trim()) {
      msg.show(new Error('Enter a tag pattern.'));
      tag.focus();
      return;
    }
    busy(add, async () => {
      try {
        await api.send('POST', base, {
          tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: tag.value.trim() }],
          scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: repo.value.trim() || '**' }] },
          disabled: false,
        });
        announce(`Added an immutable tag rule for ${tag.value.trim()}`);
        tag.value = '';
        await load();
      } catch (err) {
        msg.show(err);
      }
    });
  });
  return { el, load };
}

function namingSection(project) {
  const base = `${api.projectPath(project)}/tag-naming-rule`;
  const msg = messageSlot();
  const current = h('p');
  const pattern = h('input', { type: 'text', spellcheck: 'false' });
  const save = h('button', { type: 'submit' }, 'Save tag naming rule');
  const clear = h('button', { type: 'button', class: 'secondary' }, 'Remove tag naming rule');
  const form = h('form', { class: 'form' }, field('Tag pattern (regular expression)', pattern, 'Pushed tags must match it, e.g. v[0-9]+\\.[0-9]+\\.[0-9]+'), save, clear);
  const el = section('Tag naming rule', msg.el, current, form);
  const load = async () => {
    try {
      const r = await api.get(base);
      const p = r && r.pattern;
      current.replaceChildren(p ? ['Pushed tags must match ', h('code', null, p), '.'] : 'No rule: any valid tag may be pushed.');
      pattern.value = p || '';
    } catch (err) {
      current.replaceChildren();
      msg.show(err);
    }
  };
  const put = (value, done) => async () => {
    msg.clear();
    try {
      await api.send('PUT', base, { pattern: value });
      announce(done);
      await load();
    } catch (err) {
      msg.show(err);
    }
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = pattern.value.trim();
    busy(save, put(v || null, v ? 'Saved the tag naming rule' : 'Removed the tag naming rule'));
  });
  clear.addEventListener('click', () => busy(clear, put(null, 'Removed the tag naming rule')));
  return { el, load };
}

const GIB = 1024 * 1024 * 1024;

function quotaSection(project) {
  const msg = messageSlot();
  const current = h('p');
  const gib = h('input', { type: 'number', min: '-1', step: 'any', inputmode: 'decimal' });
  const save = h('button', { type: 'submit' }, 'Set quota');
  const reset = h('button', { type: 'button', class: 'secondary' }, 'Use the default quota');
  const form = h('form', { class: 'form' }, field('Storage quota (GiB)', gib, 'Empty or -1: unlimited'), save, reset);
  const el = section('Storage quota', msg.el, current, form, h('p', { class: 'note' }, 'Only system administrators change quotas.'));
  const load = async () => {
    try {
      const s = await api.get(`${api.projectPath(project)}/summary`);
      const hard = s.quota && s.quota.hard ? s.quota.hard.storage : -1;
      current.replaceChildren('Used: ', h('strong', null, storageText(s)), s.quota_is_custom ? ' (set for this project)' : ' (the default)');
      gib.value = hard === -1 ? '' : String(Math.round((hard / GIB) * 1000) / 1000);
    } catch (err) {
      msg.show(err);
    }
  };
  const put = (storage, done) => async () => {
    msg.clear();
    try {
      await api.send('PUT', `${api.projectPath(project)}/quota`, { storage });
      announce(done);
      await load();
    } catch (err) {
      msg.show(err);
    }
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = gib.value.trim();
    const n = v === '' ? -1 : Number(v);
    if (Number.isNaN(n) || (n < 0 && n !== -1)) {
      msg.show(new Error('The quota must be a number of GiB, or -1 for unlimited.'));
      gib.focus();
      return;
    }
    const bytes = n === -1 ? -1 : Math.round(n * GIB);
    busy(save, put(bytes, bytes === -1 ? 'Quota set to unlimited' : `Quota set to ${formatBytes(bytes)}`));
  });
  reset.addEventListener('click', () => busy(reset, put(null, 'Quota reset to the default')));
  return { el, load };
}

// ---------------------------------------------------------------- webhooks

async function webhooksTab(body, { project }) {
  const base = `${api.projectPath(project)}/webhook/policies`;
  const actionMsg = messageSlot();
  const executions = h('div');
  body.append(h('h2', null, 'Webhooks'), actionMsg.el);

  const list = pagedList({
    label: 'Webhooks',
    columns: ['Name', 'Endpoint', 'Events', 'Format', 'State', 'Actions'],
    empty: 'No webhooks.',
    load: (page, size) => api.getPage(base, page, size),
    row: (w) => {
      const target = (w.targets && w.targets[0]) || {};
      const toggle = h('button', { type: 'button', class: 'small secondary', 'aria-label': `${w.enabled ? 'Disable' : 'Enable'} webhook ${w.name}` }, w.enabled ? 'Disable' : 'Enable');
      toggle.addEventListener('click', () =>
        busy(toggle, async () => {
          actionMsg.clear();
          try {
            await api.send('PUT', `${base}/${w.id}`, { enabled: !w.enabled });
            announce(`${w.enabled ? 'Disabled' : 'Enabled'} webhook ${w.name}`);
            await list.reload();
          } catch (err) {
            actionMsg.show(err);
          }
        }));
      const show = h('button', { type: 'button', class: 'small secondary', 'aria-label': `Show deliveries of webhook ${w.name}` }, 'Deliveries');
      show.addEventListener('click', () => {
        executions.replaceChildren(deliveries(base, w));
        executions.querySelector('h2').focus();
      });
      const del = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete webhook ${w.name}` }, 'Delete');
      del.addEventListener('click', async () => {
        const ok = await confirmDialog({ title: 'Delete webhook?', message: `Delete webhook ${w.name} and its delivery history?` });
        if (!ok) return;
        actionMsg.clear();
        try {
          await api.send('DELETE', `${base}/${w.id}`);
          announce(`Deleted webhook ${w.name}`);
          executions.replaceChildren();
          await list.reload();
        } catch (err) {
          actionMsg.show(err);
        }
      });
      return [
        w.name,
        h('span', { class: 'mono' }, target.address || ''),
        (w.event_types || []).join(', '),
        target.payload_format || 'Default',
        w.enabled ? 'Enabled' : 'Disabled',
        h('div', { class: 'actions' }, toggle, show, del),
      ];
    },
  });
  body.append(list.el, executions);

  // Creation form, with the event types the server supports.
  const msg = messageSlot();
  const name = h('input', { type: 'text', required: true, autocomplete: 'off' });
  const url = h('input', { type: 'url', required: true, placeholder: 'https://example.com/hook', spellcheck: 'false' });
  const events = h('fieldset', null, h('legend', null, 'Event types'));
  const format = select([['Default', 'Default'], ['CloudEvents', 'CloudEvents']], 'Default');
  const authHeader = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const secret = h('input', { type: 'password', autocomplete: 'new-password' });
  const skip = h('input', { type: 'checkbox' });
  const submit = h('button', { type: 'submit' }, 'Create webhook');
  const form = h(
    'form',
    { class: 'form' },
    field('Name', name),
    field('Endpoint URL', url),
    events,
    field('Payload format', format),
    field('Auth header (optional)', authHeader, 'Sent as the Authorization header'),
    field('Secret (optional)', secret, 'Signs each delivery with HMAC-SHA256'),
    field('Skip certificate verification', skip),
    submit,
  );
  body.append(section('Create a webhook', msg.el, form));

  try {
    const supported = await api.get(`${api.projectPath(project)}/webhook/events`);
    for (const t of (supported && supported.event_type) || []) {
      events.append(field(t, h('input', { type: 'checkbox', value: t, checked: t === 'PUSH_ARTIFACT' })));
    }
  } catch (err) {
    msg.show(err);
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    msg.clear();
    const chosen = [...events.querySelectorAll('input[type=checkbox]:checked')].map((c) => c.value);
    if (!name.value.trim() || !url.value.trim()) {
      msg.show(new Error('Enter a name and an endpoint URL.'));
      (name.value.trim() ? url : name).focus();
      return;
    }
    if (!chosen.length) {
      msg.show(new Error('Choose at least one event type.'));
      return;
    }
    const req = {
      name: name.value.trim(),
      enabled: true,
      event_types: chosen,
      targets: [{ type: 'http', address: url.value.trim(), payload_format: format.value, skip_cert_verify: skip.checked, auth_header: authHeader.value.trim() || undefined }],
    };
    if (secret.value) req.secret = secret.value;
    busy(submit, async () => {
      try {
        await api.send('POST', base, req);
        announce(`Created webhook ${req.name}`);
        name.value = '';
        url.value = '';
        secret.value = '';
        authHeader.value = '';
        await list.reload();
      } catch (err) {
        msg.show(err);
      }
    });
  });
  await list.reload({ reset: true });
}

function deliveries(base, w) {
  const id = uid('deliveries');
  const list = pagedList({
    label: `Deliveries of ${w.name}`,
    columns: ['ID', 'Event type', 'Status', 'Last attempt', 'Started', 'Finished'],
    empty: 'No deliveries yet.',
    load: (page, size) => api.getPage(`${base}/${w.id}/executions`, page, size),
    row: (x) => [
      String(x.id),
      (x.extra_attrs && x.extra_attrs.event_type) || '',
      h('span', { class: `badge ${x.status === 'Success' ? 'ok' : x.status === 'Error' ? 'bad' : 'info'}` }, x.status || ''),
      h('span', { class: 'mono' }, x.status_message || ''),
      timeEl(x.start_time),
      x.end_time ? timeEl(x.end_time) : h('span', { class: 'muted' }, '—'),
    ],
  });
  const refresh = h('button', { type: 'button', class: 'small secondary' }, 'Refresh');
  refresh.addEventListener('click', () => list.reload());
  const el = h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id, tabindex: '-1' }, `Deliveries of ${w.name}`), refresh, list.el);
  list.reload({ reset: true });
  return el;
}
