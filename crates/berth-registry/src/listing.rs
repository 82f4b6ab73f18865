//! Listings: tags (distribution-spec §Listing Tags), the catalog (Docker Registry
//! API v2 `/v2/_catalog`) and referrers (distribution-spec §Listing Referrers).

use berth_oci::{Digest, RepositoryName};

use crate::error::{Error, Result};
use crate::registry::Registry;

/// One page of a lexically ordered listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The entries.
    pub items: Vec<String>,
    /// When more entries follow: the `n` to put in the `Link` to the next page.
    pub next_page_size: Option<u32>,
}

/// A referrer's descriptor for the referrers image index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// Media type of the referring manifest.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its artifact type.
    pub artifact_type: Option<String>,
    /// Its annotations, as JSON object text.
    pub annotations: Option<String>,
}

impl Registry {
    fn page_limit(&self, n: Option<u32>) -> (u32, bool) {
        match n {
            Some(n) => (n.min(self.limits.max_page), true),
            None => (self.limits.max_page, false),
        }
    }

    /// `GET /v2/<name>/tags/list?n=&last=`: tags in lexical order after `last`, at
    /// most `n` (all when `n` is absent, up to the page limit).
    ///
    /// Errors: [`Error::NameUnknown`].
    pub async fn tags_list(
        &self,
        repo: &RepositoryName,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<Page> {
        let (limit, _) = self.page_limit(n);
        if limit == 0 {
            return if self.meta.repository_exists(repo.as_str()).await? {
                Ok(Page {
                    items: vec![],
                    next_page_size: None,
                })
            } else {
                Err(Error::NameUnknown(repo.to_string()))
            };
        }
        if !self.tag_lists.enabled() {
            let mut items = self
                .meta
                .list_tags(repo.as_str(), last, limit + 1)
                .await?
                .ok_or_else(|| Error::NameUnknown(repo.to_string()))?;
            return Ok(paginate(&mut items, limit));
        }
        let list = self.cached_tags(repo).await?;
        let (items, more) = if !list.too_many {
            list.page(last, limit as usize)
        } else if let Some(page) = list.window_page(last, limit as usize) {
            page
        } else {
            self.tag_window(repo, last, limit as usize).await?
        };
        Ok(Page {
            next_page_size: more.then_some(limit),
            items,
        })
    }

    /// The repository's tag list from the [`crate::cache::TagListCache`],
    /// loaded on a miss: whole, or, for a repository with more than
    /// [`crate::cache::MAX_CACHED_TAGS`] tags, a window of them (its first
    /// tags, or, when its last list already was too long, none yet: the
    /// caller reads the window its page needs).
    ///
    /// Errors: [`Error::NameUnknown`].
    async fn cached_tags(
        &self,
        repo: &RepositoryName,
    ) -> Result<std::sync::Arc<crate::cache::CachedTags>> {
        use crate::cache::TagLookup;
        let stamp = self.meta.change_stamp();
        let asked = std::time::Instant::now();
        match self.tag_lists.get(repo.as_str(), stamp) {
            TagLookup::Fresh(list) => return Ok(list),
            // After the TTL, or after any commit on SQLite (this process's
            // own background writes included): one small query tells whether
            // the list changed, instead of reading it again.
            TagLookup::Stale(list) => {
                let version = self.meta.tags_version(repo.as_str()).await?;
                if version == Some(list.version()) {
                    list.confirm(asked, stamp);
                    return Ok(list);
                }
            }
            TagLookup::Miss => {}
        }
        let snapshot = self.tag_lists.snapshot();
        if self.tag_lists.known_too_many(repo.as_str()) {
            // Reading its first 10,001 tags to learn it again would cost a
            // hundred pages: the window the page needs is read instead (which
            // also finds out whether the repository still exists).
            return Ok(self.tag_lists.put_window(
                snapshot,
                stamp,
                repo.as_str(),
                -1,
                "",
                Vec::new(),
                false,
            ));
        }
        let cap = u32::try_from(self.tag_lists.whole_read_len()).unwrap_or(u32::MAX);
        let (version, all) = self
            .meta
            .list_tags_versioned(repo.as_str(), None, cap)
            .await?
            .ok_or_else(|| Error::NameUnknown(repo.to_string()))?;
        Ok(self
            .tag_lists
            .put(snapshot, stamp, repo.as_str(), version, all))
    }

    /// Reads the window of tags after `last` for pages of `limit` from the
    /// store's index, remembers it, and returns its first page and whether
    /// more tags follow.
    ///
    /// Errors: [`Error::NameUnknown`].
    async fn tag_window(
        &self,
        repo: &RepositoryName,
        last: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, bool)> {
        let stamp = self.meta.change_stamp();
        let snapshot = self.tag_lists.snapshot();
        let len = self.tag_lists.window_len(limit);
        let (version, mut names) = self
            .meta
            .list_tags_versioned(
                repo.as_str(),
                last,
                u32::try_from(len + 1).unwrap_or(u32::MAX),
            )
            .await?
            .ok_or_else(|| Error::NameUnknown(repo.to_string()))?;
        let end = names.len() <= len;
        names.truncate(len);
        let page = (
            names[..limit.min(names.len())].to_vec(),
            names.len() > limit,
        );
        self.tag_lists.put_window(
            snapshot,
            stamp,
            repo.as_str(),
            version,
            last.unwrap_or(""),
            names,
            end,
        );
        Ok(page)
    }

    /// `GET /v2/_catalog?n=&last=`: repository names in lexical order.
    pub async fn catalog(&self, n: Option<u32>, last: Option<&str>) -> Result<Page> {
        let (limit, _) = self.page_limit(n);
        if limit == 0 {
            return Ok(Page {
                items: vec![],
                next_page_size: None,
            });
        }
        let mut items = self.meta.list_repositories(last, limit + 1).await?;
        Ok(paginate(&mut items, limit))
    }

    /// `GET /v2/<name>/referrers/<digest>[?artifactType=]`: manifests of the
    /// repository whose `subject` is `digest`. An unknown subject or repository has
    /// no referrers (an empty list, never 404).
    pub async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>> {
        let rows = self
            .meta
            .referrers(repo.as_str(), subject, artifact_type)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Referrer {
                media_type: r.media_type,
                digest: r.digest,
                size: r.size,
                artifact_type: r.artifact_type,
                annotations: r.annotations,
            })
            .collect())
    }
}

fn paginate(items: &mut Vec<String>, limit: u32) -> Page {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Page {
        items: std::mem::take(items),
        next_page_size: more.then_some(limit),
    }
}

#[cfg(test)]
#[path = "listing_tests.rs"]
mod tests;
