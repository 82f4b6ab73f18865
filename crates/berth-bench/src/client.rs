//! The distribution API calls the workloads need.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use reqwest::{Client, StatusCode};

/// sha256 of `bytes` as `sha256:<hex>`.
pub fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
    )
}

/// A registry at `base` (e.g. `http://127.0.0.1:5000`).
#[derive(Clone)]
pub struct Registry {
    /// Base URL without trailing slash.
    pub base: String,
    /// Shared HTTP client (keep-alive pool).
    pub http: Client,
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else {
        format!("{base}{location}")
    }
}

fn with_digest(url: &str, digest: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}digest={digest}")
}

impl Registry {
    /// A client for `base` with a pool large enough for `max_concurrency` streams.
    pub fn new(base: &str, max_concurrency: usize) -> Result<Registry> {
        let http = Client::builder()
            .pool_max_idle_per_host(max_concurrency.max(1) * 2)
            .tcp_nodelay(true)
            .build()?;
        Ok(Registry {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// Opens an upload session; returns its absolute URL.
    pub async fn start_upload_url(&self, repo: &str) -> Result<String> {
        self.start_upload(repo).await
    }

    async fn start_upload(&self, repo: &str) -> Result<String> {
        let r = self
            .http
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.base))
            .header("content-length", "0")
            .send()
            .await?;
        if r.status() != StatusCode::ACCEPTED {
            bail!("POST upload: {}", r.status());
        }
        let loc = r
            .headers()
            .get("location")
            .context("no Location")?
            .to_str()?;
        Ok(absolute(&self.base, loc))
    }

    /// POST a session, then PUT the whole blob with `?digest=`.
    pub async fn push_monolithic(&self, repo: &str, data: Bytes, digest: &str) -> Result<()> {
        let loc = self.start_upload(repo).await?;
        let r = self
            .http
            .put(with_digest(&loc, digest))
            .header("content-type", "application/octet-stream")
            .body(data)
            .send()
            .await?;
        if r.status() != StatusCode::CREATED {
            bail!("PUT blob: {}", r.status());
        }
        Ok(())
    }

    /// POST a session, PATCH `chunk`-byte pieces with `Content-Range`, PUT `?digest=`.
    pub async fn push_chunked(
        &self,
        repo: &str,
        data: Bytes,
        digest: &str,
        chunk: usize,
    ) -> Result<()> {
        let mut loc = self.start_upload(repo).await?;
        let mut start = 0usize;
        while start < data.len() {
            let end = (start + chunk).min(data.len());
            let r = self
                .http
                .patch(&loc)
                .header("content-type", "application/octet-stream")
                .header("content-range", format!("{start}-{}", end - 1))
                .body(data.slice(start..end))
                .send()
                .await?;
            if r.status() != StatusCode::ACCEPTED {
                bail!("PATCH chunk: {}", r.status());
            }
            if let Some(l) = r.headers().get("location").and_then(|v| v.to_str().ok()) {
                loc = absolute(&self.base, l);
            }
            start = end;
        }
        let r = self.http.put(with_digest(&loc, digest)).send().await?;
        if r.status() != StatusCode::CREATED {
            bail!("PUT chunked blob: {}", r.status());
        }
        Ok(())
    }

    /// GET a blob over a plain TCP connection with large reads into `buf`, a
    /// buffer the caller allocated and touched before the clock started; returns
    /// the body's range in `buf` (hash it later). Used for throughput figures: an
    /// HTTP client library's per-chunk overhead, or page faults on fresh memory,
    /// would otherwise cap what is measured on a machine where client and server
    /// share the cores.
    pub async fn pull_raw(
        &self,
        repo: &str,
        digest: &str,
        buf: &mut [u8],
    ) -> Result<std::ops::Range<usize>> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let hostport = self
            .base
            .strip_prefix("http://")
            .context("pull_raw needs an http:// target")?
            .to_string();
        let mut conn = tokio::net::TcpStream::connect(&hostport).await?;
        conn.set_nodelay(true)?;
        let req = format!("GET /v2/{repo}/blobs/{digest} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n");
        conn.write_all(req.as_bytes()).await?;
        let mut filled = 0;
        loop {
            if filled == buf.len() {
                bail!("blob larger than the {}-byte buffer", buf.len());
            }
            let n = conn.read(&mut buf[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        let head_end = buf[..filled]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("no end of response headers")?;
        let head = std::str::from_utf8(&buf[..head_end])?;
        if !head.starts_with("HTTP/1.1 200") {
            bail!("GET blob: {}", head.lines().next().unwrap_or(""));
        }
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            bail!("chunked blob responses are not supported by pull_raw");
        }
        Ok(head_end + 4..filled)
    }

    /// GET a blob, returning its chunks as received (hash them later).
    pub async fn pull(&self, repo: &str, digest: &str) -> Result<Vec<Bytes>> {
        let mut r = self
            .http
            .get(format!("{}/v2/{repo}/blobs/{digest}", self.base))
            .send()
            .await?;
        if r.status() != StatusCode::OK {
            bail!("GET blob: {}", r.status());
        }
        let mut parts = Vec::new();
        while let Some(c) = r.chunk().await? {
            parts.push(c);
        }
        Ok(parts)
    }

    /// PUT a manifest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<()> {
        let r = self
            .http
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.base))
            .header("content-type", media_type)
            .body(body)
            .send()
            .await?;
        if r.status() != StatusCode::CREATED {
            bail!(
                "PUT manifest: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// GET an OCI image manifest's bytes.
    pub async fn manifest_bytes(&self, repo: &str, reference: &str) -> Result<Bytes> {
        let r = self
            .http
            .get(format!("{}/v2/{repo}/manifests/{reference}", self.base))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await?;
        if r.status() != StatusCode::OK {
            bail!("GET manifest {repo}:{reference}: {}", r.status());
        }
        Ok(r.bytes().await?)
    }

    /// HEAD (`get == false`) or GET a manifest; returns the body length read.
    pub async fn manifest(&self, repo: &str, reference: &str, get: bool) -> Result<usize> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let req = if get {
            self.http.get(url)
        } else {
            self.http.head(url)
        };
        let r = req
            .header(
                "accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            )
            .send()
            .await?;
        if r.status() != StatusCode::OK {
            bail!("manifest: {}", r.status());
        }
        Ok(if get { r.bytes().await?.len() } else { 0 })
    }

    /// One page of `tags/list`; returns the tags and the next page's URL, if any.
    pub async fn tags_page(&self, url: &str) -> Result<(Vec<String>, Option<String>)> {
        self.list_page(url, "tags").await
    }

    /// One page of `_catalog`; returns the repositories and the next page's URL.
    pub async fn catalog_page(&self, url: &str) -> Result<(Vec<String>, Option<String>)> {
        self.list_page(url, "repositories").await
    }

    /// One page of a paginated list (OCI dist-spec v1.1 §Listing tags, Docker's
    /// `_catalog`): the names under `key` and the `Link` header's next URL.
    async fn list_page(&self, url: &str, key: &str) -> Result<(Vec<String>, Option<String>)> {
        let r = self.http.get(url).send().await?;
        if r.status() != StatusCode::OK {
            bail!("{key} list: {}", r.status());
        }
        let next = r
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(|l| l.split('<').nth(1))
            .and_then(|l| l.split('>').next())
            .map(|l| absolute(&self.base, l));
        let v: serde_json::Value = r.json().await?;
        let tags = v[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        Ok((tags, next))
    }
}
