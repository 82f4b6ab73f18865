//! Harbor's selectors: which repositories and which tags a rule applies to.
//!
//! JSON shape (Harbor's `rule_selector`):
//! `{"kind":"doublestar","decoration":"matches","pattern":"v*","extras":"{\"untagged\":true}"}`
//!
//! - `kind`: `doublestar` (Harbor's glob: `*` and `?` stay within one path
//!   segment, `**` crosses `/`, `[abc]`, `[!abc]` and `{a,b}` alternatives) or
//!   `regex` (a berth extension: a Rust regular expression that must match the
//!   whole name, as if wrapped in `^(?:…)$`).
//! - `decoration`: for tags `matches` or `excludes`; for repositories
//!   `repoMatches` or `repoExcludes`.
//! - `extras` (tags only): `{"untagged": true}` also selects manifests without
//!   tags. Harbor sends it as a JSON string; an object is accepted too.
//!
//! A name is selected when it passes every selector of the list (an include must
//! match, an exclude must not). An empty list selects every name.
//!
//! Repository patterns match the repository's path *within its project*, as in
//! Harbor: `**` is every repository of the project, `app` is `dev/app` in project
//! `dev`; a one-component name (`nginx`, project `library`) is matched as itself.

use berth_oci::RepositoryName;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::PolicyError;

/// One selector, in Harbor's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selector {
    /// `doublestar` or `regex`.
    #[serde(default = "doublestar")]
    pub kind: String,
    /// `matches` / `excludes` (tags), `repoMatches` / `repoExcludes` (repositories).
    pub decoration: String,
    /// The pattern.
    pub pattern: String,
    /// Harbor's extras: `{"untagged": bool}` as a JSON string or object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extras: Option<serde_json::Value>,
}

/// Harbor's `scope_selectors`: `{"repository": [selector, …]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScopeSelectors {
    /// Repository selectors (`repoMatches` / `repoExcludes`); empty selects all.
    #[serde(default)]
    pub repository: Vec<Selector>,
}

impl ScopeSelectors {
    /// Every repository of the project (`**`).
    pub fn all() -> ScopeSelectors {
        ScopeSelectors {
            repository: vec![Selector::matching("**", true)],
        }
    }
}

/// Describes a selector list: `"v*", not "latest"`, or `any` when empty.
pub fn describe_list(list: &[Selector]) -> String {
    if list.is_empty() {
        return "any".to_string();
    }
    list.iter()
        .map(Selector::describe)
        .collect::<Vec<_>>()
        .join(" and ")
}

fn doublestar() -> String {
    "doublestar".to_string()
}

impl Selector {
    /// A doublestar selector, `matches` (tags) or `repoMatches` (repositories).
    pub fn matching(pattern: &str, repository: bool) -> Selector {
        Selector {
            kind: doublestar(),
            decoration: if repository { "repoMatches" } else { "matches" }.to_string(),
            pattern: pattern.to_string(),
            extras: None,
        }
    }

    /// True when `extras` says `untagged: true`.
    pub fn untagged(&self) -> bool {
        let parsed;
        let obj = match &self.extras {
            Some(serde_json::Value::String(s)) => {
                parsed = serde_json::from_str::<serde_json::Value>(s).ok();
                parsed.as_ref()
            }
            other => other.as_ref(),
        };
        obj.and_then(|v| v.get("untagged"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }

    /// A short human form: `tags matching "v*"`.
    pub fn describe(&self) -> String {
        let verb = match self.decoration.as_str() {
            "excludes" | "repoExcludes" => "not matching",
            _ => "matching",
        };
        let kind = if self.kind == "regex" { " (regex)" } else { "" };
        format!("{verb} \"{}\"{kind}", self.pattern)
    }
}

/// A selector ready to match.
#[derive(Debug, Clone)]
pub struct Compiled {
    include: bool,
    re: Regex,
    untagged: bool,
}

/// Compiles a list of selectors. `repository` picks the decorations allowed.
///
/// Errors: [`PolicyError::Invalid`] for an unknown kind or decoration or a bad pattern.
pub fn compile(list: &[Selector], repository: bool) -> Result<Vec<Compiled>, PolicyError> {
    list.iter().map(|s| compile_one(s, repository)).collect()
}

fn compile_one(s: &Selector, repository: bool) -> Result<Compiled, PolicyError> {
    let include = match (s.decoration.as_str(), repository) {
        ("matches", false) | ("repoMatches", true) => true,
        ("excludes", false) | ("repoExcludes", true) => false,
        (other, _) => {
            let allowed = if repository {
                "repoMatches or repoExcludes"
            } else {
                "matches or excludes"
            };
            return Err(PolicyError::Invalid(format!(
                "selector decoration {other:?} is not one of {allowed}"
            )));
        }
    };
    let source = match s.kind.as_str() {
        "doublestar" => glob_to_regex(&s.pattern)?,
        "regex" => format!("^(?:{})$", s.pattern),
        other => {
            return Err(PolicyError::Invalid(format!(
                "selector kind {other:?} is not doublestar or regex"
            )))
        }
    };
    let re = Regex::new(&source)
        .map_err(|e| PolicyError::Invalid(format!("pattern {:?}: {e}", s.pattern)))?;
    Ok(Compiled {
        include,
        re,
        untagged: s.untagged(),
    })
}

/// True when `name` passes every selector.
pub fn selects(list: &[Compiled], name: &str) -> bool {
    list.iter().all(|c| c.re.is_match(name) == c.include)
}

/// True when the list also selects manifests without tags (some selector has
/// `untagged: true`).
pub fn selects_untagged(list: &[Compiled]) -> bool {
    list.iter().any(|c| c.untagged)
}

/// The path of a repository within its project, which repository patterns match.
pub fn repository_path(repo: &RepositoryName) -> &str {
    let name = repo.as_str();
    match name.split_once('/') {
        Some((_, rest)) => rest,
        None => name,
    }
}

/// Translates a doublestar glob into an anchored regular expression.
fn glob_to_regex(glob: &str) -> Result<String, PolicyError> {
    let mut out = String::from("^");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    let mut braces = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                if chars.get(i + 1) == Some(&'/') {
                    // `**/x` also matches `x` at the top.
                    out.push_str("(?:.*/)?");
                    i += 1;
                } else {
                    out.push_str(".*");
                }
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == ']')
                    .map(|p| i + 1 + p)
                    .ok_or_else(|| PolicyError::Invalid(format!("pattern {glob:?}: unclosed [")))?;
                out.push('[');
                let mut body: String = chars[i + 1..end].iter().collect();
                if let Some(rest) = body.strip_prefix('!') {
                    body = format!("^{rest}");
                }
                out.push_str(&body.replace('\\', "\\\\").replace('[', "\\["));
                out.push(']');
                i = end;
            }
            '{' => {
                braces += 1;
                out.push_str("(?:");
            }
            '}' if braces > 0 => {
                braces -= 1;
                out.push(')');
            }
            ',' if braces > 0 => out.push('|'),
            '\\' if i + 1 < chars.len() => {
                i += 1;
                out.push_str(&regex::escape(&chars[i].to_string()));
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
        i += 1;
    }
    if braces > 0 {
        return Err(PolicyError::Invalid(format!(
            "pattern {glob:?}: unclosed {{"
        )));
    }
    out.push('$');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        let c = compile(&[Selector::matching(pattern, false)], false).unwrap();
        selects(&c, name)
    }

    #[test]
    fn doublestar_globs_follow_harbor() {
        assert!(m("**", "a/b/c"));
        assert!(m("*", "latest"));
        assert!(!m("*", "a/b"));
        assert!(m("v*", "v1.2"));
        assert!(!m("v*", "1.2"));
        assert!(m("**/app", "app"));
        assert!(m("**/app", "x/y/app"));
        assert!(m("{dev,test}-*", "test-12"));
        assert!(!m("{dev,test}-*", "prod-12"));
        assert!(m("1.?", "1.5"));
        assert!(m("[0-9]*", "9x"));
        assert!(!m("[!0-9]*", "9x"));
        assert!(m("a.b", "a.b"));
        assert!(!m("a.b", "axb"));
    }

    #[test]
    fn regex_must_match_the_whole_name_and_excludes_invert() {
        let sel = Selector {
            kind: "regex".into(),
            decoration: "matches".into(),
            pattern: r"v?\d+\.\d+\.\d+".into(),
            extras: None,
        };
        let c = compile(&[sel], false).unwrap();
        assert!(selects(&c, "1.2.3"));
        assert!(!selects(&c, "1.2.3-rc1"));
        let ex = Selector {
            decoration: "excludes".into(),
            ..Selector::matching("latest", false)
        };
        let c = compile(&[ex], false).unwrap();
        assert!(!selects(&c, "latest"));
        assert!(selects(&c, "v1"));
    }

    #[test]
    fn untagged_extras_accept_harbor_string_and_object() {
        let mut s = Selector::matching("**", false);
        s.extras = Some(serde_json::Value::String("{\"untagged\":true}".into()));
        assert!(s.untagged());
        s.extras = Some(serde_json::json!({"untagged": false}));
        assert!(!s.untagged());
    }

    #[test]
    fn bad_selectors_are_refused() {
        assert!(compile(&[Selector::matching("[a", false)], false).is_err());
        assert!(compile(&[Selector::matching("{a,b", false)], false).is_err());
        assert!(compile(&[Selector::matching("*", true)], false).is_err());
    }
}
