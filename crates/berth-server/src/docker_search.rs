//! `docker search`: the Docker Registry v1 search endpoint the docker daemon
//! calls for `docker search 127.0.0.1:5000/busybox`, which no self-hosted
//! registry answered before (docs/api.md "docker search").
//!
//! What the daemon does (moby `registry/search*.go`): `GET /v1/_ping` over
//! HTTPS, then over plain HTTP for an insecure registry (loopback is one);
//! any answer will do. Then `GET /v1/search?q=<term>&n=<limit>` with HTTP
//! Basic credentials after a password `docker login`, or, when it holds an
//! identity (refresh) token, a bearer token it fetched for the scope
//! `registry:catalog:search` from the challenge of `GET /v2/`. A status
//! other than 200 is shown to the user as "Unexpected status code".
//!
//! The answer lists the repositories whose name contains the term and that
//! the caller may pull, in name order, `n` (1 to 100, default 25) per page
//! (`page`, from 1). berth has no stars, no official images and no
//! automated builds: those fields are 0 and false.

use std::sync::Arc;

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_oci::RepositoryName;
use berth_registry::{Access, Permissions, RepositoryFilter, TextMatch};
use serde::Serialize;

use crate::error::ApiError;
use crate::server::AppState;

/// Results per page without `n`.
pub const DEFAULT_PAGE_SIZE: u32 = 25;
/// Largest `n` (the docker CLI's `--limit` allows 1 to 100).
pub const MAX_PAGE_SIZE: u32 = 100;
/// Repositories read per batch while filtering by permission.
const BATCH: u64 = 500;

/// One repository in the answer (moby `registry.SearchResult`).
#[derive(Debug, Serialize)]
pub struct SearchResult {
    /// Repository name as pulled (`busybox`, `team/app`).
    pub name: String,
    /// Always empty: berth keeps no repository descriptions.
    pub description: String,
    /// Always 0.
    pub star_count: u64,
    /// Always false.
    pub is_official: bool,
    /// Always false.
    pub is_automated: bool,
    /// Pulls of its manifests (an extension the daemon ignores).
    pub pull_count: u64,
}

/// The answer (moby `registry.SearchResults`, with Docker Hub's v1 paging
/// fields).
#[derive(Debug, Serialize)]
pub struct SearchResults {
    /// The term searched for.
    pub query: String,
    /// Matching repositories the caller may pull, all pages.
    pub num_results: u64,
    /// Pages of `page_size`.
    pub num_pages: u64,
    /// This page, from 1.
    pub page: u64,
    /// Results per page.
    pub page_size: u32,
    /// This page's results.
    pub results: Vec<SearchResult>,
}

/// `GET /v1/_ping`: 200 with `X-Docker-Registry-Standalone: true`, what the
/// daemon checks before searching.
pub async fn ping() -> Response {
    (
        [(
            "x-docker-registry-standalone",
            HeaderValue::from_static("true"),
        )],
        Json(serde_json::json!({ "standalone": true })),
    )
        .into_response()
}

/// `GET /v1/search?q=&n=&page=`.
///
/// An `n` or `page` that is not a positive number counts as missing; an `n`
/// over 100 as 100. Errors (OCI error JSON): 401 with a challenge for
/// invalid credentials, 429 while the login is throttled, 403 `DENIED` for a
/// bearer token that does not carry `registry:catalog:search` (or `*`).
pub async fn search(State(state): State<Arc<AppState>>, req: Parts) -> Response {
    match answer(&state, &req).await {
        Ok(results) => {
            let mut resp = Json(results).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// A positive number, or `default` for one that is missing or not a
/// positive number (as `/v2` paging treats a bad `n`).
fn number(value: Option<&str>, default: u64) -> u64 {
    value
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(default)
}

async fn answer(state: &AppState, req: &Parts) -> Result<SearchResults, ApiError> {
    let (mut q, mut n, mut page) = (String::new(), None, None);
    for (k, v) in form_urlencoded::parse(req.uri.query().unwrap_or("").as_bytes()) {
        match &*k {
            "q" => q = v.trim().to_lowercase(),
            "n" => n = Some(v.into_owned()),
            "page" => page = Some(v.into_owned()),
            _ => {}
        }
    }
    let page_size = number(n.as_deref(), DEFAULT_PAGE_SIZE.into()).min(MAX_PAGE_SIZE.into()) as u32;
    let page = number(page.as_deref(), 1);
    let ip = crate::listener::peer(&req.extensions).map(|a| a.ip());
    let caller = crate::auth::identify(
        state,
        &Access::Catalog,
        Some("registry:catalog:search"),
        &req.headers,
        ip,
    )
    .await?;
    if let Some(scopes) = &caller.token_scopes {
        let searches = scopes.iter().any(|s| {
            s.kind == "registry"
                && s.name == "catalog"
                && s.actions.iter().any(|a| a == "*" || a == "search")
        });
        if !searches {
            return Err(berth_registry::Error::PolicyDenied(
                "the bearer token does not grant registry:catalog:search".into(),
            )
            .into());
        }
    }
    let filter = RepositoryFilter {
        project: None,
        name: (!q.is_empty()).then(|| TextMatch::Contains(q.clone())),
    };
    let skip = (page - 1).saturating_mul(page_size.into());
    let everything = !crate::auth::enabled(state) || caller.principal.is_sysadmin();
    let (results, total) = if everything {
        let listing = state
            .registry
            .repositories(&filter, skip, page_size.into())
            .await?;
        (listing.items, listing.total)
    } else {
        // Visible repositories only: read on in batches, counting them all
        // (for num_results) and keeping this page's.
        let (mut kept, mut total, mut offset) = (Vec::new(), 0u64, 0u64);
        loop {
            let batch = state.registry.repositories(&filter, offset, BATCH).await?;
            let len = batch.items.len() as u64;
            for row in batch.items {
                let Ok(name) = RepositoryName::parse(&row.name) else {
                    continue;
                };
                let held = crate::auth::permissions(state, &caller, &name).await?;
                if !held.contains(Permissions::PULL) {
                    continue;
                }
                if total >= skip && kept.len() < page_size as usize {
                    kept.push(row);
                }
                total += 1;
            }
            offset += len;
            if len < BATCH {
                break;
            }
        }
        (kept, total)
    };
    Ok(SearchResults {
        query: q,
        num_results: total,
        num_pages: total.div_ceil(page_size.into()),
        page,
        page_size,
        results: results
            .into_iter()
            .map(|r| SearchResult {
                name: r.name,
                description: String::new(),
                star_count: 0,
                is_official: false,
                is_automated: false,
                pull_count: r.pull_count,
            })
            .collect(),
    })
}
