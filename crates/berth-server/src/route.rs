//! Routes of the distribution API. `<name>` may contain slashes
//! (`/v2/team/app/api/manifests/v1`), so paths are matched from the right: the
//! last one to three segments say which resource, everything before is the name.
//!
//! Each segment is percent-decoded before validation; validated names, digests,
//! tags and upload ids cannot contain path syntax, so no request can address
//! storage outside its key prefix.

use berth_oci::name::NameError;
use berth_oci::reference::ReferenceError;
use berth_oci::{Digest, Reference, RepositoryName};
use berth_registry::Error;

/// A parsed request path under `/v2/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags(RepositoryName),
    /// `/v2/<name>/manifests/<reference>`.
    Manifest(RepositoryName, Reference),
    /// `/v2/<name>/manifests/<x>` where `<x>` is neither a tag nor a digest: no
    /// manifest can have that reference, so reads and deletes answer 404
    /// `MANIFEST_UNKNOWN` and a push 400 `MANIFEST_INVALID`.
    InvalidTag(RepositoryName, String),
    /// `/v2/<name>/blobs/<digest>`.
    Blob(RepositoryName, Digest),
    /// `/v2/<name>/blobs/uploads/`.
    UploadStart(RepositoryName),
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload(RepositoryName, String),
    /// `/v2/<name>/referrers/<digest>`.
    Referrers(RepositoryName, Digest),
}

impl Route {
    /// The repository a pull route reads (tags, manifests, blobs,
    /// referrers), for the transparent-mirror rewrite.
    pub fn pulled_repository_mut(&mut self) -> Option<&mut RepositoryName> {
        match self {
            Route::Tags(r)
            | Route::Manifest(r, _)
            | Route::InvalidTag(r, _)
            | Route::Blob(r, _)
            | Route::Referrers(r, _) => Some(r),
            _ => None,
        }
    }
}

/// Why a path is not a route.
#[derive(Debug)]
pub enum RouteError {
    /// Not an API path at all.
    NotFound,
    /// An API path with an invalid part (name, digest, tag).
    Invalid(Error),
}

impl From<Error> for RouteError {
    fn from(e: Error) -> Self {
        RouteError::Invalid(e)
    }
}

fn decode(seg: &str) -> String {
    percent_encoding::percent_decode_str(seg)
        .decode_utf8_lossy()
        .into_owned()
}

fn name(segs: &[&str]) -> Result<RepositoryName, RouteError> {
    if segs.is_empty() {
        return Err(RouteError::NotFound);
    }
    let joined = segs.iter().map(|s| decode(s)).collect::<Vec<_>>().join("/");
    RepositoryName::parse(&joined).map_err(|e: NameError| RouteError::Invalid(e.into()))
}

fn digest(seg: &str) -> Result<Digest, RouteError> {
    Digest::parse(&decode(seg))
        .map_err(|e| RouteError::Invalid(Error::DigestInvalid(e.to_string())))
}

impl Route {
    /// Parses a request path (without query).
    pub fn parse(path: &str) -> Result<Route, RouteError> {
        let rest = match path.strip_prefix("/v2") {
            Some("") | Some("/") => return Ok(Route::Base),
            Some(r) => r.strip_prefix('/').ok_or(RouteError::NotFound)?,
            None => return Err(RouteError::NotFound),
        };
        let segs: Vec<&str> = rest.split('/').collect();
        let n = segs.len();
        if segs == ["_catalog"] {
            return Ok(Route::Catalog);
        }
        if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
            return Ok(Route::Tags(name(&segs[..n - 2])?));
        }
        if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
            let repo = name(&segs[..n - 3])?;
            return Ok(if segs[n - 1].is_empty() {
                Route::UploadStart(repo)
            } else {
                Route::Upload(repo, decode(segs[n - 1]))
            });
        }
        if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
            return Ok(Route::UploadStart(name(&segs[..n - 2])?));
        }
        if n >= 3 {
            let last = segs[n - 1];
            match segs[n - 2] {
                "manifests" => {
                    let repo = name(&segs[..n - 2])?;
                    let raw = decode(last);
                    return match Reference::parse(&raw) {
                        Ok(reference) => Ok(Route::Manifest(repo, reference)),
                        Err(ReferenceError::Tag(_)) => Ok(Route::InvalidTag(repo, raw)),
                        Err(ReferenceError::Digest(d)) => {
                            Err(RouteError::Invalid(Error::DigestInvalid(d.to_string())))
                        }
                    };
                }
                "blobs" => return Ok(Route::Blob(name(&segs[..n - 2])?, digest(last)?)),
                "referrers" => return Ok(Route::Referrers(name(&segs[..n - 2])?, digest(last)?)),
                _ => {}
            }
        }
        Err(RouteError::NotFound)
    }
}

/// The route template of a `/v2` path, for metric labels: the path with its
/// repository name, reference, digest and upload id replaced by `{name}`,
/// `{reference}`, `{digest}` and `{id}`, matched from the right as
/// [`Route::parse`] does, without validating anything. `/v2/{other}` for a
/// path that is no route.
pub fn template(path: &str) -> &'static str {
    let rest = match path.strip_prefix("/v2") {
        Some("") | Some("/") => return "/v2/",
        Some(r) => r.strip_prefix('/').unwrap_or(r),
        None => return "other",
    };
    if rest == "_catalog" {
        return "/v2/_catalog";
    }
    let mut segs = rest.rsplit('/');
    let last = segs.next().unwrap_or("");
    let second = segs.next();
    let third = segs.next();
    let named = segs.next().is_some();
    match (third, second, last) {
        (Some(_), Some("tags"), "list") => "/v2/{name}/tags/list",
        (Some("blobs"), Some("uploads"), "") if named => "/v2/{name}/blobs/uploads/",
        (Some("blobs"), Some("uploads"), _) if named => "/v2/{name}/blobs/uploads/{id}",
        (Some(_), Some("blobs"), "uploads") => "/v2/{name}/blobs/uploads/",
        (_, Some("manifests"), _) => "/v2/{name}/manifests/{reference}",
        (_, Some("blobs"), _) => "/v2/{name}/blobs/{digest}",
        (_, Some("referrers"), _) => "/v2/{name}/referrers/{digest}",
        _ => "/v2/{other}",
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn templates_name_the_route_not_the_repository() {
        for (path, want) in [
            ("/v2/", "/v2/"),
            ("/v2", "/v2/"),
            ("/v2/_catalog", "/v2/_catalog"),
            ("/v2/team/app/tags/list", "/v2/{name}/tags/list"),
            ("/v2/a/b/c/manifests/v1", "/v2/{name}/manifests/{reference}"),
            (
                "/v2/busybox/manifests/sha256:abc",
                "/v2/{name}/manifests/{reference}",
            ),
            ("/v2/busybox/blobs/sha256:abc", "/v2/{name}/blobs/{digest}"),
            ("/v2/busybox/blobs/uploads/", "/v2/{name}/blobs/uploads/"),
            ("/v2/team/app/blobs/uploads", "/v2/{name}/blobs/uploads/"),
            (
                "/v2/busybox/blobs/uploads/0f2c",
                "/v2/{name}/blobs/uploads/{id}",
            ),
            (
                "/v2/busybox/referrers/sha256:abc",
                "/v2/{name}/referrers/{digest}",
            ),
            ("/v2/nothing", "/v2/{other}"),
            ("/v2/a/../../etc", "/v2/{other}"),
        ] {
            assert_eq!(template(path), want, "{path}");
        }
    }
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn n(s: &str) -> RepositoryName {
        RepositoryName::parse(s).unwrap()
    }

    #[test]
    fn multi_component_names_are_matched_from_the_right() {
        assert_eq!(Route::parse("/v2/").unwrap(), Route::Base);
        assert_eq!(Route::parse("/v2").unwrap(), Route::Base);
        assert_eq!(Route::parse("/v2/_catalog").unwrap(), Route::Catalog);
        assert_eq!(
            Route::parse("/v2/a/b/c/tags/list").unwrap(),
            Route::Tags(n("a/b/c"))
        );
        assert!(
            matches!(Route::parse("/v2/team/app/manifests/v1").unwrap(), Route::Manifest(r, _) if r == n("team/app"))
        );
        assert!(
            matches!(Route::parse(&format!("/v2/x/blobs/{D}")).unwrap(), Route::Blob(r, _) if r == n("x"))
        );
        assert_eq!(
            Route::parse("/v2/x/blobs/uploads/").unwrap(),
            Route::UploadStart(n("x"))
        );
        assert_eq!(
            Route::parse("/v2/x/blobs/uploads").unwrap(),
            Route::UploadStart(n("x"))
        );
        assert_eq!(
            Route::parse("/v2/x/blobs/uploads/abc").unwrap(),
            Route::Upload(n("x"), "abc".into())
        );
        assert!(
            matches!(Route::parse(&format!("/v2/a/blobs/manifests/{D}")).unwrap(), Route::Manifest(r, _) if r == n("a/blobs"))
        );
        assert!(matches!(
            Route::parse(&format!("/v2/a/referrers/{D}")).unwrap(),
            Route::Referrers(..)
        ));
    }

    #[test]
    fn encoded_colon_in_a_digest_is_accepted() {
        let enc = D.replace(':', "%3A");
        assert!(matches!(
            Route::parse(&format!("/v2/x/blobs/{enc}")).unwrap(),
            Route::Blob(..)
        ));
    }

    #[test]
    fn traversal_attempts_are_invalid_names_or_digests() {
        for p in [
            "/v2/../etc/manifests/latest",
            "/v2/%2e%2e/x/manifests/latest",
            "/v2/a/%2e%2e/manifests/latest",
            "/v2/A/manifests/latest",
            "/v2/a%00b/manifests/latest",
        ] {
            assert!(
                matches!(
                    Route::parse(p),
                    Err(RouteError::Invalid(Error::NameInvalid(_)))
                ),
                "{p}"
            );
        }
        assert!(matches!(
            Route::parse("/v2/a/blobs/sha256:..%2f..%2fx"),
            Err(RouteError::Invalid(Error::DigestInvalid(_)))
        ));
        assert!(matches!(
            Route::parse("/v2/a/manifests/..%2f"),
            Ok(Route::InvalidTag(..))
        ));
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for p in [
            "/",
            "/v1/",
            "/v2/a",
            "/v2/a/unknown/x",
            "/v3/a/tags/list",
            "/v2/tags/list",
        ] {
            assert!(matches!(Route::parse(p), Err(RouteError::NotFound)), "{p}");
        }
    }
}
