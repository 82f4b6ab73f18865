//! Harbor's pagination: `page` (from 1, default 1) and `page_size` (default 10,
//! at most 100) query parameters; the response carries `X-Total-Count` (entries
//! in all pages) and a `Link` header with the `prev` and `next` pages, e.g.
//! `</api/v2.0/repositories?page=1&page_size=10>; rel="prev" , </api/v2.0/repositories?page=3&page_size=10>; rel="next"`.

use axum::http::{HeaderMap, HeaderValue, Uri};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult};

/// Default `page_size`, as in Harbor.
pub const DEFAULT_PAGE_SIZE: u64 = 10;
/// Largest `page_size`; larger values are served as this.
pub const MAX_PAGE_SIZE: u64 = 100;

/// `page` and `page_size` query parameters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1 (default 1).
    pub page: Option<i64>,
    /// Entries per page (default 10, at most 100).
    pub page_size: Option<i64>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Page number, from 1.
    pub page: u64,
    /// Entries per page, 1..=100.
    pub page_size: u64,
}

impl PageParams {
    /// Validates: `page` ≥ 1, `page_size` ≥ 1 (clamped to [`MAX_PAGE_SIZE`]).
    ///
    /// Errors: [`ApiError::BadRequest`] for a page or page size below 1.
    pub fn page(&self) -> ApiResult<Page> {
        let page = self.page.unwrap_or(1);
        let size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE as i64);
        if page < 1 {
            return Err(ApiError::BadRequest(format!(
                "page must be at least 1, not {page}"
            )));
        }
        if size < 1 {
            return Err(ApiError::BadRequest(format!(
                "page_size must be at least 1, not {size}"
            )));
        }
        Ok(Page {
            page: page as u64,
            page_size: (size as u64).min(MAX_PAGE_SIZE),
        })
    }
}

impl Page {
    /// Entries to skip.
    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.page_size)
    }

    /// `X-Total-Count` and, when there are neighbouring pages, `Link`, built
    /// from the request's path and query with `page`/`page_size` replaced.
    pub fn headers(&self, total: u64, uri: &Uri) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-total-count", HeaderValue::from(total));
        let mut links = Vec::new();
        if self.page > 1 {
            links.push(format!("<{}>; rel=\"prev\"", self.link(uri, self.page - 1)));
        }
        if self.offset().saturating_add(self.page_size) < total {
            links.push(format!("<{}>; rel=\"next\"", self.link(uri, self.page + 1)));
        }
        if let Ok(v) = HeaderValue::from_str(&links.join(" , ")) {
            if !links.is_empty() {
                h.insert("link", v);
            }
        }
        h
    }

    fn link(&self, uri: &Uri, page: u64) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
            if k != "page" && k != "page_size" {
                q.append_pair(&k, &v);
            }
        }
        q.append_pair("page", &page.to_string());
        q.append_pair("page_size", &self.page_size.to_string());
        format!("{}?{}", uri.path(), q.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(page: Option<i64>, page_size: Option<i64>) -> ApiResult<Page> {
        PageParams { page, page_size }.page()
    }

    #[test]
    fn defaults_are_page_1_of_10_and_size_is_capped_at_100() {
        assert_eq!(
            p(None, None).unwrap(),
            Page {
                page: 1,
                page_size: 10
            }
        );
        assert_eq!(p(Some(3), Some(500)).unwrap().page_size, 100);
        assert!(p(Some(0), None).is_err());
        assert!(p(None, Some(0)).is_err());
    }

    #[test]
    fn link_has_prev_and_next_and_keeps_other_parameters() {
        let uri: Uri = "/api/v2.0/repositories?q=name%3D~a&page=2&page_size=2"
            .parse()
            .unwrap();
        let page = p(Some(2), Some(2)).unwrap();
        let h = page.headers(5, &uri);
        assert_eq!(h["x-total-count"], "5");
        assert_eq!(
            h["link"],
            "</api/v2.0/repositories?q=name%3D%7Ea&page=1&page_size=2>; rel=\"prev\" , \
             </api/v2.0/repositories?q=name%3D%7Ea&page=3&page_size=2>; rel=\"next\""
        );
        let last = p(Some(3), Some(2)).unwrap().headers(5, &uri);
        assert!(!last["link"].to_str().unwrap().contains("next"));
        assert!(p(None, None)
            .unwrap()
            .headers(5, &uri)
            .get("link")
            .is_none());
    }
}
