// views/repository.js — one repository's artifacts
// (#/projects/{p}/repositories/{rest}).
//
// The heading is the full repository name. The artifacts come one server
// page at a time from GET …/artifacts with tags, accessories (signatures,
// SBOMs), the vulnerability scan overview and the SBOM overview. Each row
// shows the tags (each with "Copy pull command" and "Delete tag"), the short
// digest linking to the artifact page, the type (image, image index with its
// platforms, or other), size, push and pull times, pulls and badges.
// Deleting a tag or an artifact asks in a <dialog>, then refreshes the list
// and announces the result; a refusal shows the server's message.

import * as api from '../api.js';
import {
  h, announce, pagedList, messageSlot, confirmDialog, copyButton, timeEl, formatBytes,
  shortDigest, platformText, isIndexType,
} from '../dom.js';

/** `docker pull host/repo:tag` (or @digest). */
export function pullCommand(repoName, ref) {
  // A tag never contains ':'; a digest always does.
  const sep = ref.includes(':') ? '@' : ':';
  return `docker pull ${location.host}/${repoName}${sep}${ref}`;
}

/** The type cell: "image", "image index" with its platforms, or another kind. */
export function typeCell(a) {
  if (isIndexType(a.manifest_media_type)) {
    const platforms = (a.references || []).map((r) => platformText(r.platform));
    return h('div', null, 'image index', platforms.length ? h('ul', { class: 'platforms', 'aria-label': 'Platforms' }, platforms.map((p) => h('li', null, p))) : null);
  }
  if (a.type === 'IMAGE') {
    const os = a.extra_attrs && a.extra_attrs.os;
    const arch = a.extra_attrs && a.extra_attrs.architecture;
    return h('div', null, 'image', os || arch ? h('ul', { class: 'platforms' }, h('li', null, platformText({ os, architecture: arch, variant: a.extra_attrs.variant }))) : null);
  }
  const kind = { CHART: 'Helm chart', CNAB: 'CNAB', WASM: 'WebAssembly' }[a.type] || 'other';
  return h('span', { title: a.artifact_type || a.media_type || '' }, kind);
}

/** The scan overview's summary in words: "Critical 2 · High 5", "No vulnerabilities", … */
export function vulnerabilityBadge(scanOverview) {
  if (!scanOverview) return null;
  const report = Object.values(scanOverview)[0];
  if (!report) return null;
  if (report.scan_status === 'Pending' || report.scan_status === 'Running') return h('span', { class: 'badge info' }, `Scan ${report.scan_status.toLowerCase()}`);
  if (report.scan_status === 'Error') return h('span', { class: 'badge warn', title: report.detail || '' }, 'Scan failed');
  const counts = (report.summary && report.summary.summary) || {};
  const order = ['Critical', 'High', 'Medium', 'Low', 'Unknown', 'None'];
  const parts = order.filter((k) => counts[k] > 0).map((k) => `${k} ${counts[k]}`);
  for (const [k, v] of Object.entries(counts)) if (!order.includes(k) && v > 0) parts.push(`${k} ${v}`);
  if (!parts.length) return h('span', { class: 'badge ok' }, 'No vulnerabilities');
  const bad = counts.Critical > 0 || counts.High > 0;
  return h('span', { class: `badge ${bad ? 'bad' : 'warn'}`, title: `${report.summary.total} findings, ${report.summary.fixable} fixable` }, parts.join(' · '));
}

/** Signature and SBOM badges from accessories and the SBOM overview. */
export function supplyBadges(a) {
  const out = [];
  const acc = a.accessories || [];
  const sigs = acc.filter((x) => (x.type || '').startsWith('signature.'));
  if (sigs.length) {
    const statuses = sigs.map((s) => s.verification && s.verification.status).filter(Boolean);
    const verified = statuses.includes('verified');
    const status = verified ? 'verified' : statuses[0];
    const cls = verified ? 'ok' : status === 'failed' || status === 'invalid' ? 'bad' : 'info';
    out.push(h('span', { class: `badge ${cls}`, title: sigs.map((s) => `${s.type}: ${(s.verification && s.verification.detail) || 'not verified'}`).join('\n') }, status ? `Signed (${status.replace('_', ' ')})` : 'Signed'));
  }
  // Only an SBOM document that exists earns the badge (a scan that found
  // no package database attaches none).
  const hasSbom = acc.some((x) => x.type === 'harbor.sbom') || Boolean(a.sbom_overview && a.sbom_overview.sbom_digest);
  if (hasSbom) out.push(h('span', { class: 'badge info', title: a.sbom_overview && a.sbom_overview.package_count !== undefined ? `${a.sbom_overview.package_count} packages` : '' }, 'SBOM'));
  const v = vulnerabilityBadge(a.scan_overview);
  if (v) out.push(v);
  return out.length ? h('div', { class: 'badges' }, out) : h('span', { class: 'muted' }, '—');
}

export async function repositoryView(root, { project, rest }) {
  const heading = h('h1', null, `${project}/${rest}`);
  const crumbs = h(
    'nav',
    { class: 'breadcrumb', 'aria-label': 'Breadcrumb' },
    h('ol', null, h('li', null, h('a', { href: '#/projects' }, 'Projects')), h('li', null, h('a', { href: api.projectHref(project) }, project)), h('li', null, h('span', { 'aria-current': 'page' }, rest))),
  );
  const info = h('ul', { class: 'summary-line' });
  const actionMsg = messageSlot();
  root.append(crumbs, heading, info, actionMsg.el);

  // The repository's full name as pushed (for pull commands).
  let repoName = `${project}/${rest}`;
  try {
    const repo = await api.get(api.repoPath(project, rest));
    if (repo && repo.name) {
      repoName = repo.name;
      heading.textContent = repo.name;
      document.title = `${repo.name} – berth`;
    }
    info.append(
      h('li', null, 'Artifacts: ', h('strong', null, String(repo.artifact_count ?? 0))),
      h('li', null, 'Pulls: ', h('strong', null, String(repo.pull_count ?? 0))),
      h('li', null, 'Updated: ', h('strong', null, timeEl(repo.update_time))),
    );
  } catch (err) {
    actionMsg.show(err);
    if (err.status === 404 || err.status === 403) return;
  }

  const deleteTag = async (a, tag) => {
    const ok = await confirmDialog({
      title: 'Delete tag?',
      message: `Delete tag ${tag} from ${repoName}? The artifact ${shortDigest(a.digest)} stays, with its other tags.`,
    });
    if (!ok) return;
    actionMsg.clear();
    try {
      await api.send('DELETE', `${api.artifactPath(project, rest, a.digest)}/tags/${encodeURIComponent(tag)}`);
      announce(`Deleted tag ${tag}`);
      await list.reload();
    } catch (err) {
      actionMsg.show(err);
    }
  };

  const deleteArtifact = async (a) => {
    const tags = (a.tags || []).map((t) => t.name);
    const ok = await confirmDialog({
      title: 'Delete artifact?',
      message: `Delete artifact ${shortDigest(a.digest)} from ${repoName}${tags.length ? ` with its tags ${tags.join(', ')}` : ''}? This cannot be undone.`,
    });
    if (!ok) return;
    actionMsg.clear();
    try {
      await api.send('DELETE', api.artifactPath(project, rest, a.digest));
      announce(`Deleted artifact ${shortDigest(a.digest)}`);
      await list.reload();
    } catch (err) {
      actionMsg.show(err);
    }
  };

  const list = pagedList({
    label: 'Artifacts',
    columns: ['Tags', 'Digest', 'Type', 'Size', 'Pushed', 'Pulled', 'Pulls', 'Security', 'Actions'],
    empty: 'No artifacts.',
    load: (page, size) =>
      api.getPage(`${api.repoPath(project, rest)}/artifacts`, page, size, {
        with_tag: 'true',
        with_scan_overview: 'true',
        with_accessory: 'true',
        with_sbom_overview: 'true',
      }),
    row: (a) => {
      const tags = a.tags || [];
      const tagCell = tags.length
        ? h(
            'ul',
            { class: 'tag-list' },
            tags.map((t) => {
              const cmd = pullCommand(repoName, t.name);
              const del = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete tag ${t.name}` }, 'Delete tag');
              del.addEventListener('click', () => deleteTag(a, t.name));
              return h(
                'li',
                null,
                h('span', { class: 'tag', title: t.immutable ? 'Immutable tag' : null }, t.name),
                t.immutable ? h('span', { class: 'badge' }, 'immutable') : null,
                h('span', { class: 'tag-actions' }, copyButton('Copy pull command', cmd, `Copy pull command for ${t.name}`), del),
              );
            }),
          )
        : h('span', { class: 'muted' }, 'untagged');
      const delArt = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete artifact ${shortDigest(a.digest)}` }, 'Delete artifact');
      delArt.addEventListener('click', () => deleteArtifact(a));
      return [
        tagCell,
        h('a', { href: api.artifactHref(project, rest, a.digest), class: 'mono', title: a.digest }, shortDigest(a.digest)),
        typeCell(a),
        h('span', { class: 'nowrap' }, formatBytes(a.size)),
        timeEl(a.push_time),
        timeEl(a.pull_time),
        String(a.pull_count ?? 0),
        supplyBadges(a),
        h('div', { class: 'actions' }, delArt),
      ];
    },
  });
  root.append(list.el);
  await list.reload({ reset: true });
}
