//! Web UI sessions: a browser that signed in with a password (or personal
//! access token) holds a random session id in an HttpOnly cookie; the
//! database keeps only its SHA-256 (`ui_sessions`, migration 18), the
//! [`Credential`] it was opened with and a CSRF token.
//!
//! A session speaks for whom its credential authenticates *today*
//! ([`Auth::credential_principal`]): a changed password, a deleted user or a
//! revoked token ends every session opened with it, as it ends their
//! registry tokens. Sessions expire after the lifetime given at sign-in
//! (`ui.session_ttl_secs`) and end at sign-out. Robots do not sign in to the
//! UI (they are for automation, as in Harbor).

use std::time::Duration;

use super::{secret, Auth, Credential, Principal};
use crate::error::Result;

/// A session found by its cookie.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who it speaks for now.
    pub principal: Principal,
    /// The token state-changing requests must carry in `X-Berth-CSRF-Token`.
    pub csrf_token: String,
    /// When it ends, Unix ms.
    pub expires_at: i64,
}

/// A session just opened: the cookie value to set and its CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie value: 32 random bytes as hex. Shown to the browser only.
    pub cookie: String,
    /// The CSRF token: 32 random bytes as hex.
    pub csrf_token: String,
    /// When it ends, Unix ms.
    pub expires_at: i64,
}

impl Auth {
    /// Opens a session for `who`, signed in with `cred`, for `ttl`. Robots get
    /// none (`Ok(None)`). Expired sessions are deleted on the way.
    ///
    /// Errors: [`crate::Error::Meta`].
    pub async fn session_start(
        &self,
        who: &Principal,
        cred: &Credential,
        ttl: Duration,
    ) -> Result<Option<NewSession>> {
        if !matches!(who, Principal::User { .. }) {
            return Ok(None);
        }
        let now = berth_meta::store::now_ms();
        let cookie = secret::random_hex(32);
        let csrf_token = secret::random_hex(32);
        let expires_at = now.saturating_add(ttl.as_millis().min(i64::MAX as u128) as i64);
        self.meta()
            .session_create(&berth_meta::SessionRow {
                id_hash: secret::sha256_hex(cookie.as_bytes()),
                username: who.name().to_string(),
                credential: serde_json::to_string(cred).unwrap_or_default(),
                csrf_token: csrf_token.clone(),
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(Some(NewSession {
            cookie,
            csrf_token,
            expires_at,
        }))
    }

    /// The live session of cookie value `cookie`: `None` when there is none,
    /// it expired, or its credential no longer holds.
    ///
    /// Errors: [`crate::Error::Meta`].
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>> {
        if cookie.len() != 64 || !cookie.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let id_hash = secret::sha256_hex(cookie.as_bytes());
        let now = berth_meta::store::now_ms();
        let Some(row) = self.meta().session_get(&id_hash, now).await? else {
            return Ok(None);
        };
        let Ok(cred) = serde_json::from_str::<Credential>(&row.credential) else {
            return Ok(None);
        };
        Ok(self
            .credential_principal(&cred)
            .await?
            .filter(|p| p.name() == row.username)
            .map(|principal| Session {
                principal,
                csrf_token: row.csrf_token,
                expires_at: row.expires_at,
            }))
    }

    /// Ends the session of cookie value `cookie` (sign-out); true when there
    /// was one.
    ///
    /// Errors: [`crate::Error::Meta`].
    pub async fn session_end(&self, cookie: &str) -> Result<bool> {
        let id_hash = secret::sha256_hex(cookie.as_bytes());
        Ok(self.meta().session_delete(&id_hash).await?)
    }
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
