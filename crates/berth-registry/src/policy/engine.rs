//! The evaluation of retention rules over one repository: pure, no I/O, the clock
//! passed in. See `docs/policies.md` for the semantics; in short:
//!
//! 1. **Candidates.** Every tag is a candidate, with the tag's push time and, as
//!    pull time, the later of the tag's and its manifest's (a manifest pulled by
//!    digest is in use, whatever tag named it). Every untagged manifest is a
//!    candidate with the manifest's times — except *dependents*: a child of an
//!    index and a referrer whose subject is in the repository follow their parent
//!    instead of being judged alone.
//! 2. **Rules.** Each rule selects candidates with its tag selectors (untagged
//!    ones only with `untagged: true`) and retains some of them by its template.
//!    `latestPushedK` / `latestPulledN` count *artifacts* (distinct manifests), as
//!    Harbor does: a manifest with tags `1.4.0` and `latest` is one version.
//! 3. **Keep.** A tag is kept when some rule retains it, or an immutable rule
//!    protects it. A manifest is kept when one of its tags is kept, or a rule
//!    retains it untagged; then, transitively, the children of a kept index and
//!    the referrers of a kept manifest.
//! 4. **Delete** every tag not kept (even of a kept manifest), then every manifest
//!    not kept, referrers and indexes before what they point at.

use std::collections::{BTreeMap, HashMap, HashSet};

use berth_meta::ArtifactRecord;
use berth_oci::Digest;
use serde::Serialize;

use super::selector::{self, Compiled};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What a rule retains among the candidates its selectors pick (Harbor's templates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// `latestPushedK`: the K most recently pushed artifacts.
    LatestPushed(usize),
    /// `latestPulledN`: the N most recently pulled artifacts (never pulled: not counted).
    LatestPulled(usize),
    /// `nDaysSinceLastPush`: pushed within the last D days.
    PushedWithinDays(i64),
    /// `nDaysSinceLastPull`: pulled within the last D days.
    PulledWithinDays(i64),
    /// `always`: everything selected.
    Always,
}

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// 1-based position in the policy, used in reports.
    pub number: usize,
    /// What it retains.
    pub template: Template,
    /// Human form, e.g. `rule 2: latestPushedK 5 of tags matching "v*"`.
    pub label: String,
    pub(crate) repos: Vec<Compiled>,
    pub(crate) tags: Vec<Compiled>,
    pub(crate) untagged: bool,
}

impl CompiledRule {
    /// True when the rule applies to the repository with this in-project path.
    pub fn selects_repository(&self, path: &str) -> bool {
        selector::selects(&self.repos, path)
    }
}

/// One line of a retention report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportItem {
    /// The manifest digest.
    pub digest: String,
    /// The tag, or `None` for the manifest itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Why it is kept (which rule) or deleted.
    pub reason: String,
    /// Set when a run could not delete it (e.g. tagged again since evaluation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The outcome of evaluating one repository.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Kept tags and kept untagged manifests, with the reason.
    pub kept: Vec<ReportItem>,
    /// Tags to delete (first).
    pub delete_tags: Vec<ReportItem>,
    /// Manifests to delete (after the tags), in a safe order: a referrer before its
    /// subject, an index before its children.
    pub delete_manifests: Vec<ReportItem>,
}

struct Candidate {
    artifact: usize,
    tag: Option<usize>,
    pushed: i64,
    pulled: Option<i64>,
}

/// Evaluates `rules` (those selecting this repository) over its `artifacts`.
/// `immutable(tag)` names the immutable rule protecting a tag, if any.
/// `now_ms` is the evaluation time in Unix milliseconds.
pub fn evaluate(
    artifacts: &[ArtifactRecord],
    index_children: &[(Digest, Digest)],
    rules: &[&CompiledRule],
    immutable: &dyn Fn(&str) -> Option<String>,
    now_ms: i64,
) -> Plan {
    let by_digest: HashMap<&str, usize> = artifacts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.digest.as_str(), i))
        .collect();
    // Dependents: who points at whom (index → child, referrer → subject).
    let mut dependents: Vec<Vec<(usize, &'static str)>> = vec![Vec::new(); artifacts.len()];
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); artifacts.len()];
    // Who holds a reference to whom (index → child, referrer → subject): the
    // holder is deleted first.
    let mut points_to: Vec<Vec<usize>> = vec![Vec::new(); artifacts.len()];
    let mut pointed_by: Vec<Vec<usize>> = vec![Vec::new(); artifacts.len()];
    for (index, child) in index_children {
        if let (Some(&p), Some(&c)) = (by_digest.get(index.as_str()), by_digest.get(child.as_str()))
        {
            dependents[p].push((c, "child of kept index"));
            parents[c].push(p);
            points_to[p].push(c);
            pointed_by[c].push(p);
        }
    }
    for (i, a) in artifacts.iter().enumerate() {
        if let Some(&s) = a.subject.as_ref().and_then(|s| by_digest.get(s.as_str())) {
            dependents[s].push((i, "referrer of kept manifest"));
            parents[i].push(s);
            points_to[i].push(s);
            pointed_by[s].push(i);
        }
    }

    let mut cands = Vec::new();
    for (i, a) in artifacts.iter().enumerate() {
        for (j, t) in a.tags.iter().enumerate() {
            cands.push(Candidate {
                artifact: i,
                tag: Some(j),
                pushed: t.pushed_at,
                pulled: t.last_pulled_at.max(a.last_pulled_at),
            });
        }
        if a.tags.is_empty() && parents[i].is_empty() {
            cands.push(Candidate {
                artifact: i,
                tag: None,
                pushed: a.pushed_at,
                pulled: a.last_pulled_at,
            });
        }
    }
    let tag_name = |c: &Candidate| c.tag.map(|j| artifacts[c.artifact].tags[j].name.as_str());

    let mut retained_by: Vec<Vec<usize>> = vec![Vec::new(); cands.len()];
    let mut selected_by: Vec<Vec<usize>> = vec![Vec::new(); cands.len()];
    for (r, rule) in rules.iter().enumerate() {
        let selected: Vec<usize> = (0..cands.len())
            .filter(|&k| match tag_name(&cands[k]) {
                Some(t) => selector::selects(&rule.tags, t),
                None => rule.untagged,
            })
            .collect();
        for &k in &selected {
            selected_by[k].push(r);
        }
        for k in retain(&cands, &selected, rule.template, now_ms) {
            retained_by[k].push(r);
        }
    }

    let mut plan = Plan::default();
    let mut kept_artifacts: Vec<Option<String>> = vec![None; artifacts.len()];
    let item = |c: &Candidate, reason: String| ReportItem {
        digest: artifacts[c.artifact].digest.to_string(),
        tag: tag_name(c).map(str::to_string),
        reason,
        error: None,
    };
    let labels = |rs: &[usize]| {
        rs.iter()
            .map(|&r| rules[r].label.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    for (k, c) in cands.iter().enumerate() {
        let protected = tag_name(c).and_then(immutable);
        let reason = if let Some(rule) = protected {
            Some(format!("protected by {rule}"))
        } else if !retained_by[k].is_empty() {
            Some(format!("retained by {}", labels(&retained_by[k])))
        } else {
            None
        };
        match reason {
            Some(reason) => {
                kept_artifacts[c.artifact].get_or_insert_with(|| match tag_name(c) {
                    Some(t) => format!("tag {t:?} is kept"),
                    None => reason.clone(),
                });
                plan.kept.push(item(c, reason));
            }
            None if c.tag.is_some() => {
                let reason = if selected_by[k].is_empty() {
                    "no rule selects this tag".to_string()
                } else {
                    format!("not retained by {}", labels(&selected_by[k]))
                };
                plan.delete_tags.push(item(c, reason));
            }
            None => {}
        }
    }

    // Dependents of kept manifests are kept, transitively.
    let mut work: Vec<usize> = (0..artifacts.len())
        .filter(|&i| kept_artifacts[i].is_some())
        .collect();
    while let Some(p) = work.pop() {
        for &(c, why) in &dependents[p] {
            if kept_artifacts[c].is_none() {
                let reason = format!("{why} {}", artifacts[p].digest);
                kept_artifacts[c] = Some(reason.clone());
                if artifacts[c].tags.is_empty() {
                    plan.kept.push(ReportItem {
                        digest: artifacts[c].digest.to_string(),
                        tag: None,
                        reason,
                        error: None,
                    });
                }
                work.push(c);
            }
        }
    }

    // Manifests not kept, each after every deleted manifest pointing at it.
    let doomed: HashSet<usize> = (0..artifacts.len())
        .filter(|&i| kept_artifacts[i].is_none())
        .collect();
    let mut pending: BTreeMap<usize, usize> = doomed
        .iter()
        .map(|&i| {
            (
                i,
                pointed_by[i].iter().filter(|p| doomed.contains(p)).count(),
            )
        })
        .collect();
    let mut ready: Vec<usize> = pending
        .iter()
        .filter(|(_, &n)| n == 0)
        .map(|(&i, _)| i)
        .collect();
    ready.sort_by(|a, b| {
        artifacts[*b]
            .digest
            .as_str()
            .cmp(artifacts[*a].digest.as_str())
    });
    while let Some(i) = ready.pop() {
        pending.remove(&i);
        let a = &artifacts[i];
        let reason = match parents[i].iter().find(|p| doomed.contains(p)) {
            Some(&p) if a.subject.as_ref() == Some(&artifacts[p].digest) => {
                format!("referrer of deleted manifest {}", artifacts[p].digest)
            }
            Some(&p) => format!("child of deleted index {}", artifacts[p].digest),
            None if parents[i].is_empty() && a.tags.is_empty() => {
                "untagged and no rule retains it".to_string()
            }
            None if a.tags.is_empty() => "its index or subject is gone".to_string(),
            None => "none of its tags is kept".to_string(),
        };
        plan.delete_manifests.push(ReportItem {
            digest: a.digest.to_string(),
            tag: None,
            reason,
            error: None,
        });
        for &c in &points_to[i] {
            if let Some(n) = pending.get_mut(&c) {
                *n -= 1;
                if *n == 0 {
                    ready.push(c);
                }
            }
        }
    }
    plan
}

/// The candidates among `selected` that `template` retains.
fn retain(cands: &[Candidate], selected: &[usize], template: Template, now_ms: i64) -> Vec<usize> {
    let latest = |k: usize, time: &dyn Fn(&Candidate) -> Option<i64>| {
        // Artifact time: the latest of its selected candidates'.
        let mut per_artifact: HashMap<usize, i64> = HashMap::new();
        for &s in selected {
            if let Some(t) = time(&cands[s]) {
                let e = per_artifact.entry(cands[s].artifact).or_insert(t);
                *e = (*e).max(t);
            }
        }
        let mut ranked: Vec<(usize, i64)> = per_artifact.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: HashSet<usize> = ranked.into_iter().take(k).map(|(a, _)| a).collect();
        selected
            .iter()
            .copied()
            .filter(|&s| top.contains(&cands[s].artifact) && time(&cands[s]).is_some())
            .collect::<Vec<_>>()
    };
    match template {
        Template::LatestPushed(k) => latest(k, &|c| Some(c.pushed)),
        Template::LatestPulled(n) => latest(n, &|c| c.pulled),
        Template::PushedWithinDays(d) => {
            let cutoff = now_ms - d * DAY_MS;
            selected
                .iter()
                .copied()
                .filter(|&s| cands[s].pushed >= cutoff)
                .collect()
        }
        Template::PulledWithinDays(d) => {
            let cutoff = now_ms - d * DAY_MS;
            selected
                .iter()
                .copied()
                .filter(|&s| cands[s].pulled.is_some_and(|p| p >= cutoff))
                .collect()
        }
        Template::Always => selected.to_vec(),
    }
}
