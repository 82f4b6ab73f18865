// views/artifact.js — one artifact
// (#/projects/{p}/repositories/{rest}/artifacts/{digest or tag}).
//
// The heading is repo@sha256:short. Shows the digest, media types, size,
// tags (with pull commands), push and pull times; then, by kind:
// - an image: its platform, "Configuration" (Entrypoint, Cmd, Env, Labels,
//   WorkingDir, User, ExposedPorts from extra_attrs.config), "Layers"
//   (…/additions/layers) and "Build history" (…/additions/build_history);
// - an image index: "Platforms" (its references, each child linking to its
//   own page);
// and for all: "Referrers" (…/referrers), "Accessories" (signatures with
// their verification, SBOMs), annotations and "Vulnerabilities" (the scan
// overview, and the full report from …/additions/vulnerabilities on demand,
// shown a page at a time).

import * as api from '../api.js';
import {
  h, messageSlot, section, dataTable, defList, pager, timeEl, formatBytes, shortDigest,
  platformText, isIndexType, copyButton, busy,
} from '../dom.js';
import { pullCommand, supplyBadges, vulnerabilityBadge } from './repository.js';

const QUERY = { with_tag: 'true', with_accessory: 'true', with_scan_overview: 'true', with_sbom_overview: 'true' };

export async function artifactView(root, { project, rest, reference }) {
  const short = reference.includes(':') ? shortDigest(reference) : reference;
  const heading = h('h1', null, `${project}/${rest}@${short}`);
  root.append(
    h(
      'nav',
      { class: 'breadcrumb', 'aria-label': 'Breadcrumb' },
      h(
        'ol',
        null,
        h('li', null, h('a', { href: '#/projects' }, 'Projects')),
        h('li', null, h('a', { href: api.projectHref(project) }, project)),
        h('li', null, h('a', { href: api.repoHref(project, rest) }, rest)),
        h('li', null, h('span', { 'aria-current': 'page' }, short)),
      ),
    ),
    heading,
  );
  const msg = messageSlot();
  root.append(msg.el);

  const path = api.artifactPath(project, rest, reference);
  let a;
  try {
    a = await api.get(path, QUERY);
  } catch (err) {
    msg.show(err);
    return;
  }
  const repoName = a.repository_name || `${project}/${rest}`;
  heading.textContent = `${repoName}@${shortDigest(a.digest)}`;
  document.title = `${heading.textContent} – berth`;
  const index = isIndexType(a.manifest_media_type);
  const image = !index && a.type === 'IMAGE';
  const attrs = a.extra_attrs || {};

  // Overview.
  const tags = a.tags || [];
  const tagList = tags.length
    ? h('ul', { class: 'tag-list' }, tags.map((t) => h('li', null, h('span', { class: 'tag' }, t.name), copyButton('Copy pull command', pullCommand(repoName, t.name), `Copy pull command for ${t.name}`))))
    : h('span', { class: 'muted' }, 'untagged');
  root.append(
    section(
      'Overview',
      defList([
        ['Digest', h('div', { class: 'actions' }, h('code', null, a.digest), copyButton('Copy pull command', pullCommand(repoName, a.digest), 'Copy pull command by digest'))],
        ['Kind', index ? 'image index' : image ? 'image' : (a.type || 'other').toLowerCase()],
        ['Media type', h('code', null, a.manifest_media_type || '')],
        a.artifact_type && a.artifact_type !== a.manifest_media_type ? ['Artifact type', h('code', null, a.artifact_type)] : null,
        image && (attrs.os || attrs.architecture) ? ['Platform', platformText({ os: attrs.os, architecture: attrs.architecture, variant: attrs.variant })] : null,
        ['Size', formatBytes(a.size)],
        ['Tags', tagList],
        ['Pushed', timeEl(a.push_time)],
        ['Last pulled', timeEl(a.pull_time)],
        ['Pulls', String(a.pull_count ?? 0)],
        image && attrs.created ? ['Created', timeEl(attrs.created)] : null,
        image && attrs.author ? ['Author', attrs.author] : null,
        a.subject ? ['Subject', h('a', { href: api.artifactHref(project, rest, a.subject), class: 'mono' }, shortDigest(a.subject))] : null,
        ['Signatures and scans', supplyBadges(a)],
      ]),
    ),
  );

  const loaders = [];
  if (image) {
    root.append(configurationSection(attrs.config || {}));
    const layers = layersSection(path);
    const history = historySection(path);
    root.append(layers.el, history.el);
    loaders.push(layers.load(), history.load());
  }
  if (index) root.append(platformsSection(project, rest, a));
  const referrers = referrersSection(project, rest, path);
  root.append(referrers.el);
  loaders.push(referrers.load());
  root.append(accessoriesSection(project, rest, a));
  if (a.annotations && Object.keys(a.annotations).length) root.append(mapSection('Annotations', a.annotations));
  root.append(vulnerabilitiesSection(path, a));
  await Promise.all(loaders);
}

// ---------------------------------------------------------------- image

function listOrNone(v) {
  if (v === undefined || v === null || (Array.isArray(v) && !v.length) || v === '') return h('span', { class: 'muted' }, 'none');
  if (Array.isArray(v)) return h('code', null, JSON.stringify(v));
  return h('code', null, String(v));
}

function configurationSection(cfg) {
  const env = cfg.Env || [];
  const labels = cfg.Labels || {};
  const ports = cfg.ExposedPorts ? Object.keys(cfg.ExposedPorts) : [];
  const volumes = cfg.Volumes ? Object.keys(cfg.Volumes) : [];
  const labelTable = dataTable({ label: 'Labels', columns: ['Label', 'Value'], empty: 'No labels.' });
  labelTable.setRows(Object.entries(labels).map(([k, v]) => [h('span', { class: 'mono' }, k), h('span', { class: 'mono' }, String(v))]));
  return section(
    'Configuration',
    defList([
      ['Entrypoint', listOrNone(cfg.Entrypoint)],
      ['Cmd', listOrNone(cfg.Cmd)],
      ['WorkingDir', listOrNone(cfg.WorkingDir)],
      ['User', listOrNone(cfg.User)],
      ['ExposedPorts', ports.length ? h('code', null, ports.join(', ')) : h('span', { class: 'muted' }, 'none')],
      volumes.length ? ['Volumes', h('code', null, volumes.join(', '))] : null,
      cfg.StopSignal ? ['StopSignal', h('code', null, cfg.StopSignal)] : null,
    ]),
    h('h3', null, 'Env'),
    env.length ? h('ul', { class: 'plain-list mono' }, env.map((e) => h('li', null, e))) : h('p', { class: 'muted' }, 'No environment variables.'),
    h('h3', null, 'Labels'),
    labelTable.el,
  );
}

function layersSection(path) {
  const msg = messageSlot();
  const table = dataTable({ label: 'Layers', columns: ['#', 'Size', 'Command', 'Digest'], empty: 'No layers.' });
  const total = h('p', { class: 'note' });
  const el = section('Layers', msg.el, total, table.el);
  const load = async () => {
    try {
      const layers = (await api.get(`${path}/additions/layers`)) || [];
      const sum = layers.reduce((n, l) => n + (l.size || 0), 0);
      total.textContent = `${layers.length} ${layers.length === 1 ? 'layer' : 'layers'}, ${formatBytes(sum)} compressed.`;
      table.setRows(layers.map((l, i) => [
        String(i + 1),
        h('span', { title: `${l.size} bytes` }, formatBytes(l.size)),
        l.created_by ? h('code', { class: 'mono' }, l.created_by) : h('span', { class: 'muted' }, '—'),
        h('span', { class: 'mono', title: `${l.digest}\n${l.media_type || ''}` }, shortDigest(l.digest)),
      ]));
    } catch (err) {
      table.setRows([], 'Could not load.');
      msg.show(err);
    }
  };
  return { el, load };
}

function historySection(path) {
  const msg = messageSlot();
  const list = h('ol', { class: 'plain-list' });
  const el = section('Build history', msg.el, list);
  const load = async () => {
    try {
      const steps = (await api.get(`${path}/additions/build_history`)) || [];
      if (!steps.length) {
        list.replaceWith(h('p', { class: 'muted' }, 'The image records no build history.'));
        return;
      }
      list.append(
        ...steps.map((s) =>
          h(
            'li',
            null,
            h('code', null, s.created_by || '(no command)'),
            ' ',
            h('span', { class: 'muted' }, [s.created ? timeEl(s.created) : null, s.empty_layer ? ' · no layer' : null, s.comment ? ` · ${s.comment}` : null]),
          ),
        ),
      );
    } catch (err) {
      msg.show(err);
    }
  };
  return { el, load };
}

// ---------------------------------------------------------------- index

function platformsSection(project, rest, a) {
  const table = dataTable({ label: 'Platforms', columns: ['Platform', 'OS version', 'Digest'], empty: 'The index lists no manifests.' });
  table.setRows((a.references || []).map((r) => [
    platformText(r.platform),
    (r.platform && r.platform['os.version']) || h('span', { class: 'muted' }, '—'),
    h('a', { href: api.artifactHref(project, rest, r.child_digest), class: 'mono', title: r.child_digest }, shortDigest(r.child_digest)),
  ]));
  return section('Platforms', table.el);
}

// ---------------------------------------------------------------- all kinds

function referrersSection(project, rest, path) {
  const msg = messageSlot();
  const table = dataTable({ label: 'Referrers', columns: ['Artifact type', 'Digest', 'Size', 'Annotations'], empty: 'No referrers.' });
  const el = section('Referrers', h('p', { class: 'note' }, 'Manifests whose subject is this artifact: signatures, SBOMs, attestations.'), msg.el, table.el);
  const load = async () => {
    try {
      const refs = (await api.get(`${path}/referrers`)) || [];
      table.setRows(refs.map((r) => [
        h('code', null, r.artifact_type || r.media_type || ''),
        h('a', { href: api.artifactHref(project, rest, r.digest), class: 'mono', title: r.digest }, shortDigest(r.digest)),
        formatBytes(r.size),
        r.annotations && Object.keys(r.annotations).length
          ? h('ul', { class: 'plain-list mono' }, Object.entries(r.annotations).map(([k, v]) => h('li', null, `${k}: ${v}`)))
          : h('span', { class: 'muted' }, '—'),
      ]));
    } catch (err) {
      table.setRows([], 'Could not load.');
      msg.show(err);
    }
  };
  return { el, load };
}

function accessoriesSection(project, rest, a) {
  const table = dataTable({ label: 'Accessories', columns: ['Type', 'Digest', 'Size', 'Verification', 'Created'], empty: 'No signatures or SBOMs.' });
  table.setRows((a.accessories || []).map((x) => {
    const v = x.verification;
    const cls = !v ? '' : v.status === 'verified' ? 'ok' : v.status === 'failed' || v.status === 'invalid' ? 'bad' : 'info';
    return [
      x.type,
      h('a', { href: api.artifactHref(project, rest, x.digest), class: 'mono', title: x.digest }, shortDigest(x.digest)),
      formatBytes(x.size),
      v ? h('div', null, h('span', { class: `badge ${cls}` }, v.status.replace('_', ' ')), v.key ? ` key ${v.key}` : null, v.detail ? h('div', { class: 'muted' }, v.detail) : null) : h('span', { class: 'muted' }, '—'),
      timeEl(x.creation_time),
    ];
  }));
  return section('Accessories', table.el);
}

function mapSection(title, map) {
  const table = dataTable({ label: title, columns: ['Key', 'Value'] });
  table.setRows(Object.entries(map).map(([k, v]) => [h('span', { class: 'mono' }, k), h('span', { class: 'mono' }, String(v))]));
  return section(title, table.el);
}

const VULN_PAGE = 25;

function vulnerabilitiesSection(path, a) {
  const msg = messageSlot();
  const badge = vulnerabilityBadge(a.scan_overview);
  const report = a.scan_overview ? Object.values(a.scan_overview)[0] : null;
  const summary = h('p', null, badge || h('span', { class: 'muted' }, 'Not scanned.'), report && report.end_time ? [' Scanned ', timeEl(report.end_time), '.'] : null);
  // Why a scan failed (e.g. no vulnerability database loaded yet), in plain sight.
  const why = report && report.scan_status === 'Error' && report.detail ? h('p', { class: 'note' }, report.detail) : null;
  const show = h('button', { type: 'button', class: 'secondary' }, 'Show vulnerabilities');
  const holder = h('div');
  show.addEventListener('click', () =>
    busy(show, async () => {
      msg.clear();
      try {
        const body = await api.get(`${path}/additions/vulnerabilities`);
        const r = body ? Object.values(body)[0] : null;
        holder.replaceChildren(vulnTable((r && r.vulnerabilities) || []));
      } catch (err) {
        if (err.status === 404) msg.info('There is no vulnerability report for this artifact.');
        else msg.show(err);
      }
    }));
  return section('Vulnerabilities', summary, why, msg.el, show, holder);
}

const RANK = { Critical: 0, High: 1, Medium: 2, Low: 3, Unknown: 4, None: 5 };

function vulnTable(items) {
  const sorted = [...items].sort((x, y) => (RANK[x.severity] ?? 9) - (RANK[y.severity] ?? 9) || String(x.id).localeCompare(String(y.id)));
  const table = dataTable({ label: 'Vulnerabilities', columns: ['ID', 'Package', 'Version', 'Fixed version', 'Severity'], empty: 'No vulnerabilities found.' });
  const pg = pager('Vulnerabilities', (p) => show(p));
  const show = (page) => {
    const slice = sorted.slice((page - 1) * VULN_PAGE, page * VULN_PAGE);
    table.setRows(slice.map((v) => {
      const link = v.links && v.links[0];
      const sev = v.severity || 'Unknown';
      return [
        link && /^https?:\/\//.test(link) ? h('a', { href: link, rel: 'noopener noreferrer', target: '_blank' }, v.id) : v.id,
        h('span', { class: 'mono' }, v.package || ''),
        h('span', { class: 'mono' }, v.version || ''),
        v.fix_version ? h('span', { class: 'mono' }, v.fix_version) : h('span', { class: 'muted' }, 'none'),
        h('span', { class: `badge ${sev === 'Critical' || sev === 'High' ? 'bad' : sev === 'Medium' ? 'warn' : ''}` }, sev),
      ];
    }));
    pg.update(page, VULN_PAGE, sorted.length);
  };
  show(1);
  return h('div', null, table.el, sorted.length > VULN_PAGE ? pg.el : null);
}
