//! The per-project rules enforced on the manifest PUT and DELETE paths
//! (immutability, tag naming), compiled and cached in memory.
//!
//! A project's rules are loaded from the metadata store on the first push or
//! delete that needs them and kept for [`RULES_TTL`]. Changes made through this
//! process ([`crate::Registry`]'s policy functions) invalidate the entry at once;
//! changes made by another process (the `berth immutable` / `berth tag-rule` CLI
//! on the data directory while `berth serve` runs) are picked up within the TTL.
//! Manifest reads never look at these rules.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use regex::Regex;

use super::immutability::CompiledImmutableRule;

/// How long a project's rules are trusted before they are read again.
pub const RULES_TTL: Duration = Duration::from_secs(10);

/// A project's enforced rules.
#[derive(Debug, Default)]
pub struct ProjectRules {
    /// Enabled immutable tag rules, by id.
    pub immutable: Vec<CompiledImmutableRule>,
    /// The tag naming rule: the pattern as set and its anchored compiled form.
    pub naming: Option<(String, Regex)>,
    /// Pulls need a verified signature (Harbor's
    /// `enable_content_trust_cosign`, see [`crate::signing`]).
    pub require_signature: bool,
    /// With it: every platform manifest of an index needs its own verified
    /// signature (an index's does not cover them).
    pub signature_each_child: bool,
    /// Images pushed get an SBOM (Harbor's `auto_sbom_generation`, see
    /// [`crate::sbom`]).
    pub auto_sbom: bool,
    /// Pulls of images with a vulnerability at this level or above are
    /// refused (Harbor's `prevent_vul` + `severity`, see [`crate::vuln`]).
    pub prevent_severity: Option<crate::vuln::Severity>,
    /// Pulls of images without a vulnerability report are refused.
    pub deny_unscanned: bool,
}

/// Cache of [`ProjectRules`] by project.
#[derive(Debug, Default)]
pub struct RulesCache {
    entries: Mutex<HashMap<String, (Instant, Arc<ProjectRules>)>>,
    /// Bumped by every invalidation, so a load that raced a change is not cached.
    generation: AtomicU64,
}

impl RulesCache {
    /// The cached rules of `project`, if fresh.
    pub fn get(&self, project: &str) -> Option<Arc<ProjectRules>> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(project)
            .filter(|(at, _)| at.elapsed() < RULES_TTL)
            .map(|(_, r)| r.clone())
    }

    /// The generation to pass to [`RulesCache::put`]; take it before reading the rules.
    pub fn snapshot(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches the rules of `project` read after `snapshot`, unless some rules
    /// changed meanwhile (then the next use reads them again).
    pub fn put(&self, snapshot: u64, project: &str, rules: Arc<ProjectRules>) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) == snapshot {
            map.insert(project.to_string(), (Instant::now(), rules));
        }
    }

    /// Forgets every project's rules.
    pub fn clear(&self) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.clear();
    }

    /// Forgets the rules of `project` (they changed).
    pub fn invalidate(&self, project: &str) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.remove(project);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_loaded_across_a_change_are_not_cached() {
        let cache = RulesCache::default();
        let before = cache.snapshot();
        cache.invalidate("dev");
        cache.put(before, "dev", Arc::new(ProjectRules::default()));
        assert!(cache.get("dev").is_none());
        let now = cache.snapshot();
        cache.put(now, "dev", Arc::new(ProjectRules::default()));
        assert!(cache.get("dev").is_some());
        cache.invalidate("dev");
        assert!(cache.get("dev").is_none());
    }
}
