// views/projects.js — the list of projects (#/projects).
//
// A server-paged table (GET /projects with page, page_size and
// q=name=~<filter>) with each project's access, repository count and storage
// (used / quota, from GET /projects/{p}/summary, fetched for the rows shown
// only). System administrators also get the "Create project" form
// (POST /projects).

import * as api from '../api.js';
import { h, announce, pagedList, section, field, messageSlot, onFilter, busy, formatBytes, timeEl } from '../dom.js';

/** "1.2 GB of 10.0 GB" / "… of unlimited". */
export function storageText(summary) {
  const q = (summary && summary.quota) || {};
  const used = q.used ? q.used.storage : 0;
  const hard = q.hard ? q.hard.storage : -1;
  return `${formatBytes(used || 0)} of ${hard === -1 || hard === undefined || hard === null ? 'unlimited' : formatBytes(hard)}`;
}

export async function projectsView(root, { session }) {
  root.append(h('h1', null, 'Projects'));
  let filter = '';

  const filterInput = h('input', { id: 'filter-projects', type: 'search', autocomplete: 'off' });
  root.append(h('div', { class: 'filter field' }, h('label', { for: 'filter-projects' }, 'Filter projects'), filterInput));

  const list = pagedList({
    label: 'Projects',
    columns: ['Name', 'Access', 'Repositories', 'Storage', 'Created'],
    empty: 'No projects.',
    load: (page, size) => api.getPage('/projects', page, size, { q: api.fuzzy('name', filter) }),
    row: (p) => {
      const storage = h('td', null, h('span', { class: 'muted' }, '…'));
      api
        .get(`${api.projectPath(p.name)}/summary`)
        .then((s) => storage.replaceChildren(storageText(s)))
        .catch(() => storage.replaceChildren(h('span', { class: 'muted' }, 'not available')));
      return [
        h('a', { href: api.projectHref(p.name) }, p.name),
        p.metadata && p.metadata.public === 'true' ? 'Public' : 'Private',
        String(p.repo_count ?? 0),
        storage,
        timeEl(p.creation_time),
      ];
    },
  });
  root.append(list.el);
  onFilter(filterInput, (text) => {
    filter = text;
    list.reload({ reset: true });
  });

  if (session && session.sysadmin) root.append(createForm(list));
  await list.reload({ reset: true });
}

function createForm(list) {
  const msg = messageSlot();
  const name = h('input', { type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const isPublic = h('input', { type: 'checkbox' });
  const submit = h('button', { type: 'submit' }, 'Create project');
  const form = h(
    'form',
    { class: 'form' },
    field('Project name', name, 'Lowercase letters, digits and . _ -'),
    field('Public', isPublic),
    submit,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    msg.clear();
    const projectName = name.value.trim();
    if (!projectName) {
      msg.show(new Error('Enter a project name.'));
      name.focus();
      return;
    }
    busy(submit, async () => {
      try {
        await api.send('POST', '/projects', {
          project_name: projectName,
          metadata: { public: isPublic.checked ? 'true' : 'false' },
        });
        name.value = '';
        isPublic.checked = false;
        announce(`Created project ${projectName}`);
        await list.reload();
      } catch (err) {
        msg.show(err);
      }
    });
  });
  return section('Create a project', msg.el, form);
}
