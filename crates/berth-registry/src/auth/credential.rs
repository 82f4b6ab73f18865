//! [`Credential`]: which credential a caller authenticated with, so that the
//! tokens issued on it die with it.
//!
//! Every access and refresh token berth issues carries a [`Credential`] in its
//! `berth_cred` claim. On each use the credential is looked up again
//! ([`crate::Auth::token_principal`], [`crate::Auth::refresh`]): a token is
//! refused once its credential no longer holds:
//!
//! | credential | bound to | dies when |
//! |---|---|---|
//! | [`Credential::Password`] | user id + password generation (`password_changed_at`) | the user is deleted (a new user of the same name has another id) or changes password |
//! | [`Credential::AccessToken`] | user id + personal access token id | the token is revoked, expires, or its user is deleted |
//! | [`Credential::Oidc`] | user id | the user is deleted, or the provider refuses their refresh token at a recheck |
//! | [`Credential::Robot`] | robot id + secret generation (a fingerprint of the stored secret hash) | the robot is deleted (a new robot of the same name has another id), disabled, expires, or its secret is refreshed |

use serde::{Deserialize, Serialize};

/// The credential a principal authenticated with (the `berth_cred` claim of
/// berth's tokens: `{"k":"pw","uid":5,"gen":1733140000000}`,
/// `{"k":"pat","uid":5,"id":3}`, `{"k":"robot","id":7,"gen":"<16 hex>"}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum Credential {
    /// A user's password.
    #[serde(rename = "pw")]
    Password {
        /// `users.id`.
        uid: i64,
        /// `users.password_changed_at` (Unix ms) when it was checked.
        #[serde(rename = "gen")]
        generation: i64,
    },
    /// A personal access token of a user.
    #[serde(rename = "pat")]
    AccessToken {
        /// `users.id` of its owner.
        uid: i64,
        /// `access_tokens.id`.
        id: i64,
    },
    /// A browser sign-in through the OpenID Connect provider (web UI
    /// sessions only; registry clients use the CLI secret, a
    /// [`Credential::Password`]).
    #[serde(rename = "oidc")]
    Oidc {
        /// `users.id`.
        uid: i64,
    },
    /// A robot account's secret.
    #[serde(rename = "robot")]
    Robot {
        /// `robots.id`.
        id: i64,
        /// [`secret_generation`] of the robot's stored secret hash.
        #[serde(rename = "gen")]
        generation: String,
    },
}

/// A robot's secret generation: the first 16 hex digits of SHA-256 of its
/// stored argon2 hash. Refreshing the secret stores a new hash (a new salt), so
/// the generation changes; the secret itself cannot be derived from it.
pub fn secret_generation(secret_hash: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, secret_hash.as_bytes());
    hex::encode(&d.as_ref()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_round_trip_as_compact_json() {
        for c in [
            Credential::Password {
                uid: 5,
                generation: 1_733_140_000_000,
            },
            Credential::AccessToken { uid: 5, id: 3 },
            Credential::Oidc { uid: 5 },
            Credential::Robot {
                id: 7,
                generation: secret_generation("$argon2id$v=19$..."),
            },
        ] {
            let text = serde_json::to_string(&c).expect("json");
            assert_eq!(serde_json::from_str::<Credential>(&text).expect("back"), c);
        }
        assert_eq!(
            serde_json::to_string(&Credential::AccessToken { uid: 5, id: 3 }).expect("json"),
            r#"{"k":"pat","uid":5,"id":3}"#
        );
        assert_ne!(secret_generation("a"), secret_generation("b"));
    }
}
