//! Harbor's `q` query filter: `q=k1=v1,k2=~v2,k3=[min~max],k4={v1 v2},k5=(v1 v2)`.
//!
//! - `k=v` exact match; `k=~v` fuzzy (contains);
//! - `k=[a~b]` range (either end may be empty);
//! - `k={a b}` all of (an "and" list); `k=(a b)` any of (an "or" list).
//!
//! Each value is percent-decoded once more, as Harbor does, so a client may
//! encode `,` or spaces inside values. Each endpoint states the keys it
//! supports; an unknown key or an unsupported form is 400 `BAD_REQUEST` rather
//! than silently ignored, so a script never mistakes an unfiltered list for a
//! filtered one.

use berth_registry::TextMatch;

use super::error::{ApiError, ApiResult};

/// One filter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QValue {
    /// `k=v`.
    Exact(String),
    /// `k=~v`.
    Fuzzy(String),
    /// `k=[a~b]`.
    Range(Option<String>, Option<String>),
    /// `k={a b}`.
    AllOf(Vec<String>),
    /// `k=(a b)`.
    AnyOf(Vec<String>),
}

/// A parsed `q`: keys with their values, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(pub Vec<(String, QValue)>);

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn list(inner: &str) -> Vec<String> {
    inner.split_whitespace().map(decode).collect()
}

/// Parses `q`. An absent or empty `q` has no filters.
///
/// Errors: [`ApiError::BadRequest`] naming the malformed item.
pub fn parse(q: Option<&str>) -> ApiResult<Query> {
    let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(Query::default());
    };
    let mut items = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in q.char_indices() {
        match c {
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&q[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&q[start..]);
    let mut out = Vec::new();
    for item in items {
        let bad = || ApiError::BadRequest(format!("invalid query item {item:?} in q"));
        let (k, v) = item.split_once('=').ok_or_else(bad)?;
        let k = k.trim();
        if k.is_empty() {
            return Err(bad());
        }
        let value = if let Some(v) = v.strip_prefix('~') {
            QValue::Fuzzy(decode(v))
        } else if let Some(inner) = v.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            let (a, b) = inner.split_once('~').ok_or_else(bad)?;
            let end = |s: &str| Some(decode(s.trim())).filter(|s| !s.is_empty());
            QValue::Range(end(a), end(b))
        } else if let Some(inner) = v.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
            QValue::AllOf(list(inner))
        } else if let Some(inner) = v.strip_prefix('(').and_then(|v| v.strip_suffix(')')) {
            QValue::AnyOf(list(inner))
        } else {
            QValue::Exact(decode(v))
        };
        out.push((k.to_string(), value));
    }
    Ok(Query(out))
}

impl Query {
    /// Fails on any key not in `supported`.
    pub fn only(&self, supported: &[&str]) -> ApiResult<()> {
        match self
            .0
            .iter()
            .find(|(k, _)| !supported.contains(&k.as_str()))
        {
            Some((k, _)) => Err(ApiError::BadRequest(format!(
                "unsupported query key {k:?}; supported: {}",
                supported.join(", ")
            ))),
            None => Ok(()),
        }
    }

    /// The value of `key`, if given (the last one when repeated).
    pub fn get(&self, key: &str) -> Option<&QValue> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `key` as a text match: exact, fuzzy, or an "or" list. An "and" list of
    /// one value is exact; of several different values it matches nothing (a
    /// field has one value).
    ///
    /// Errors: [`ApiError::BadRequest`] for a range.
    pub fn text(&self, key: &str) -> ApiResult<Option<TextMatch>> {
        Ok(match self.get(key) {
            None => None,
            Some(QValue::Exact(v)) => Some(TextMatch::Exact(v.clone())),
            Some(QValue::Fuzzy(v)) => Some(TextMatch::Contains(v.clone())),
            Some(QValue::AnyOf(vs)) => Some(TextMatch::OneOf(vs.clone())),
            Some(QValue::AllOf(vs)) => match vs.split_first() {
                Some((first, rest)) if rest.iter().all(|v| v == first) => {
                    Some(TextMatch::Exact(first.clone()))
                }
                _ => Some(TextMatch::OneOf(vec![])),
            },
            Some(QValue::Range(..)) => {
                return Err(ApiError::BadRequest(format!(
                    "query key {key:?} does not take a range"
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_harbor_form_parses() {
        let q = parse(Some(
            "name=~app,tags=*,digest=sha256%3Aab,t=[1~],l={a b},o=(x y)",
        ))
        .unwrap();
        assert_eq!(
            q.0,
            vec![
                ("name".into(), QValue::Fuzzy("app".into())),
                ("tags".into(), QValue::Exact("*".into())),
                ("digest".into(), QValue::Exact("sha256:ab".into())),
                ("t".into(), QValue::Range(Some("1".into()), None)),
                ("l".into(), QValue::AllOf(vec!["a".into(), "b".into()])),
                ("o".into(), QValue::AnyOf(vec!["x".into(), "y".into()])),
            ]
        );
        assert_eq!(parse(None).unwrap(), Query::default());
        assert_eq!(parse(Some("")).unwrap(), Query::default());
    }

    #[test]
    fn malformed_items_and_unknown_keys_are_rejected() {
        assert!(parse(Some("name")).is_err());
        assert!(parse(Some("=x")).is_err());
        assert!(parse(Some("t=[1]")).is_err());
        let q = parse(Some("colour=red")).unwrap();
        assert!(q.only(&["name"]).is_err());
        assert!(parse(Some("name=[a~b]")).unwrap().text("name").is_err());
    }

    #[test]
    fn lists_become_text_matches() {
        let q = parse(Some("name=(a b),x={c c},y={c d}")).unwrap();
        assert_eq!(
            q.text("name").unwrap(),
            Some(TextMatch::OneOf(vec!["a".into(), "b".into()]))
        );
        assert_eq!(q.text("x").unwrap(), Some(TextMatch::Exact("c".into())));
        assert_eq!(q.text("y").unwrap(), Some(TextMatch::OneOf(vec![])));
    }
}
