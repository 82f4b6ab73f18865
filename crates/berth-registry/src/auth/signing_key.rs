//! The ES256 key that signs registry tokens: where it comes from, and the
//! private file it lives in by default.
//!
//! Whoever holds this key can mint a token for any user, `admin` included, so
//! it is kept out of the metadata database (which every CLI command and backup
//! reads) in a file of its own, mode 0600. [`load_or_create`] picks the key
//! from a [`SigningKeySource`]:
//!
//! - [`SigningKeySource::DataDir`] (the default): `<data_dir>/token-signing-key.pem`,
//!   created 0600 on the first start (written to a temporary file, `fsync`ed,
//!   then linked into place, so concurrent first starts agree on one key and
//!   never read a half-written one);
//! - [`SigningKeySource::File`] (`auth.signing_key_file`): a file the operator
//!   manages; read, never written;
//! - [`SigningKeySource::Inline`] (`BERTH_TOKEN_SIGNING_KEY`): the key itself.
//!
//! Files and inline keys hold an unencrypted P-256 PKCS#8 key, either PEM
//! (`-----BEGIN PRIVATE KEY-----`, as `openssl genpkey -algorithm EC -pkeyopt
//! ec_paramgen_curve:P-256` writes) or base64 DER. A key that cannot be read or
//! parsed refuses the start with a message naming its source; a key file that
//! group or others may read is used, with a warning.
//!
//! Migration: berth before this module kept the key in the metadata setting
//! `token_signing_key_es256`. Whatever the source, such a key is moved to the
//! default file when that file does not exist yet (so tokens issued before the
//! upgrade stay valid under the default source), and the setting row is deleted.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use berth_meta::MetaStore;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use crate::error::{Error, Result};

/// File name of the default key file in the data directory.
pub const DEFAULT_FILE: &str = "token-signing-key.pem";

/// Environment variable holding the key itself (PEM or base64 PKCS#8).
pub const ENV_VAR: &str = "BERTH_TOKEN_SIGNING_KEY";

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// Where the token signing key comes from (see the module docs).
#[derive(Clone, PartialEq, Eq, Default)]
pub enum SigningKeySource {
    /// `<data_dir>/token-signing-key.pem`, generated (mode 0600) on the first
    /// start. The default.
    #[default]
    DataDir,
    /// An operator-managed key file (`auth.signing_key_file`), only read.
    File(PathBuf),
    /// The key itself, PEM or base64 PKCS#8 (`BERTH_TOKEN_SIGNING_KEY`).
    Inline(String),
}

impl fmt::Debug for SigningKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigningKeySource::DataDir => f.write_str("DataDir"),
            SigningKeySource::File(p) => f.debug_tuple("File").field(p).finish(),
            // Never print the key.
            SigningKeySource::Inline(_) => f.write_str("Inline(<redacted>)"),
        }
    }
}

/// Loads the token signing key from `source`, creating the default key file
/// in `data_dir` on the first start and moving a key left in the metadata
/// store into it. Returns the base64 PKCS#8 form [`super::TokenIssuer::new`]
/// takes.
///
/// Errors ([`Error::Unsupported`], naming the source, never the key): a key
/// file that cannot be read, a key that is not an unencrypted P-256 PKCS#8
/// key, an operator file that does not exist; [`Error::Storage`] when the
/// default file cannot be written; metadata failures.
pub async fn load_or_create(
    meta: &MetaStore,
    data_dir: &Path,
    source: &SigningKeySource,
) -> Result<String> {
    // Startup only, a few hundred bytes: plain blocking file calls are fine.
    let default = data_dir.join(DEFAULT_FILE);
    if let Some(old) = meta.setting(super::SIGNING_KEY_SETTING).await? {
        let der = parse_key(old.as_bytes()).map_err(|_| {
            Error::Unsupported(format!(
                "the stored token signing key ({}) does not parse",
                super::SIGNING_KEY_SETTING
            ))
        })?;
        // The file first, the row second: a crash in between loses nothing.
        if read_key_file(&default)?.is_none() && write_new_key_file(&default, &der)? {
            tracing::info!(
                path = %default.display(),
                "moved the token signing key from the metadata store to its own file"
            );
        }
        meta.setting_delete(super::SIGNING_KEY_SETTING).await?;
    }
    let der = match source {
        SigningKeySource::DataDir => match read_key_file(&default)? {
            Some(der) => der,
            None => {
                let fresh = super::token::generate_key()
                    .and_then(|k| decode_base64(&k))
                    .ok_or_else(|| {
                        Error::Unsupported("cannot generate a token signing key".into())
                    })?;
                if write_new_key_file(&default, &fresh)? {
                    tracing::info!(path = %default.display(), "generated the token signing key");
                    fresh
                } else {
                    // Another process created it first: use theirs.
                    read_key_file(&default)?.ok_or_else(|| {
                        Error::Unsupported(format!("{} vanished", default.display()))
                    })?
                }
            }
        },
        SigningKeySource::File(path) => read_key_file(path)?.ok_or_else(|| {
            Error::Unsupported(format!(
                "auth.signing_key_file {} does not exist",
                path.display()
            ))
        })?,
        SigningKeySource::Inline(text) => parse_key(text.as_bytes())
            .map_err(|why| Error::Unsupported(format!("{ENV_VAR} {why}")))?,
    };
    Ok(base64::engine::general_purpose::STANDARD.encode(der))
}

/// Logs a warning when group or others have any access to `path` (the data
/// directory, `meta.db`, a key file), naming its mode and the `chmod` that
/// fixes it. Modes are never changed here: they may be the operator's choice.
/// Returns whether it warned; `false` for a path that does not exist.
pub fn warn_if_not_private(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(md) = std::fs::metadata(path) else {
            return false;
        };
        let mode = md.permissions().mode() & 0o7777;
        if mode & 0o077 == 0 {
            return false;
        }
        let fix = if md.is_dir() { "700" } else { "600" };
        tracing::warn!(
            "{} has mode {mode:04o}: other local users can read berth's secrets \
             (token signing key, password hashes); fix with `chmod {fix} {}`",
            path.display(),
            path.display()
        );
        true
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// The DER of the key in `path`; `None` when the file does not exist.
fn read_key_file(path: &Path) -> Result<Option<Vec<u8>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Unsupported(format!(
                "cannot read the token signing key file {}: {e}",
                path.display()
            )))
        }
    };
    warn_if_not_private(path);
    parse_key(&bytes).map(Some).map_err(|why| {
        Error::Unsupported(format!(
            "the token signing key file {} {why}",
            path.display()
        ))
    })
}

/// Parses PEM `PRIVATE KEY` or base64 PKCS#8 and checks it is a P-256 key.
/// The error completes a sentence naming the source ("… is not …").
fn parse_key(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "is not text (PEM or base64 PKCS#8 expected)".to_string())?
        .trim();
    let der = if let Some(rest) = text.strip_prefix("-----BEGIN ") {
        let label = rest.split("-----").next().unwrap_or("");
        match label {
            "PRIVATE KEY" => {}
            "EC PRIVATE KEY" => {
                return Err(
                    "holds a SEC1 \"EC PRIVATE KEY\"; convert it to PKCS#8 with \
                            `openssl pkcs8 -topk8 -nocrypt -in OLD -out NEW`"
                        .into(),
                )
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err("is encrypted; berth needs an unencrypted PKCS#8 key".into())
            }
            _ => return Err(format!("holds a PEM {label:?}, not a \"PRIVATE KEY\"")),
        }
        let body = text
            .strip_prefix(PEM_BEGIN)
            .and_then(|b| b.split(PEM_END).next())
            .filter(|_| text.contains(PEM_END))
            .ok_or_else(|| format!("has no {PEM_END:?} line"))?;
        decode_base64(body).ok_or_else(|| "has a PEM body that is not base64".to_string())?
    } else {
        decode_base64(text).ok_or_else(|| "is neither PEM nor base64 PKCS#8".to_string())?
    };
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &SystemRandom::new())
        .map_err(|_| "is not a P-256 (ES256) PKCS#8 private key".to_string())?;
    Ok(der)
}

/// Standard base64, whitespace (PEM line breaks) ignored.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
        .filter(|d| !d.is_empty())
}

/// PEM text of a PKCS#8 key (64-column base64, as openssl writes it).
fn to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + 80);
    out.push_str(PEM_BEGIN);
    out.push('\n');
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(PEM_END);
    out.push('\n');
    out
}

/// Creates `path` holding `der` as PEM, mode 0600, unless it exists: the
/// bytes go to a temporary file (created exclusively, 0600, `fsync`ed) that is
/// then hard-linked to `path`, which fails when another process got there
/// first, so `path` never exists half-written. Returns whether this call
/// created it.
fn write_new_key_file(path: &Path, der: &[u8]) -> Result<bool> {
    let io = |what: &str, e: std::io::Error| {
        Error::Unsupported(format!(
            "cannot {what} the token signing key file {}: {e}",
            path.display()
        ))
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| DEFAULT_FILE.to_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", super::secret::random_hex(8)));
    if let Err(e) = write_private(&tmp, to_pem(der).as_bytes()) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("write", e));
    }
    let linked = match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        // A filesystem without hard links: rename, unless it appeared meanwhile.
        Err(_) if !path.exists() => std::fs::rename(&tmp, path).map(|()| true),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&tmp);
    let created = linked.map_err(|e| io("create", e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("sync the directory of", e))?;
    Ok(created)
}

/// Writes `bytes` to a new file (exclusive create, mode 0600) and `fsync`s it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Scope, TokenIssuer};
    use std::time::Duration;

    async fn meta(dir: &Path) -> MetaStore {
        MetaStore::open(&berth_meta::testing::database_url(dir).await)
            .await
            .expect("meta")
    }

    fn issuer(key: &str) -> TokenIssuer {
        TokenIssuer::new(key, "berth", "berth", Duration::from_secs(300)).expect("issuer")
    }

    /// An access token for `sub` (anonymous credential binding: only the
    /// signature matters here).
    fn sign(issuer: &TokenIssuer, sub: &str) -> String {
        let scope = Scope::parse("repository:team/app:pull").expect("scope");
        issuer.issue(sub, vec![scope], None).expect("token").0
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn the_first_start_creates_a_private_pem_file_and_later_starts_reuse_it() {
        let tmp = tempfile::tempdir().expect("tmp");
        let meta = meta(tmp.path()).await;
        let src = SigningKeySource::DataDir;
        let key = load_or_create(&meta, tmp.path(), &src).await.expect("key");
        let file = tmp.path().join(DEFAULT_FILE);
        let text = std::fs::read_to_string(&file).expect("key file");
        assert!(text.starts_with(PEM_BEGIN) && text.trim_end().ends_with(PEM_END));
        #[cfg(unix)]
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            load_or_create(&meta, tmp.path(), &src)
                .await
                .expect("again"),
            key
        );
        assert_eq!(
            meta.setting(crate::auth::SIGNING_KEY_SETTING)
                .await
                .expect("db"),
            None,
            "the key is not in the database"
        );
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(tmp.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }

    #[tokio::test]
    async fn a_key_in_the_metadata_store_moves_to_the_file_and_old_tokens_still_verify() {
        let tmp = tempfile::tempdir().expect("tmp");
        let meta = meta(tmp.path()).await;
        // What berth before the key file did on its first start.
        let old = super::super::token::generate_key().expect("key");
        meta.setting_init(crate::auth::SIGNING_KEY_SETTING, &old)
            .await
            .expect("setting");
        let token = sign(&issuer(&old), "alice");

        let key = load_or_create(&meta, tmp.path(), &SigningKeySource::DataDir)
            .await
            .expect("key");
        assert_eq!(key, old, "the same key, now from the file");
        assert_eq!(issuer(&key).verify(&token).expect("verifies").sub, "alice");
        assert_eq!(
            meta.setting(crate::auth::SIGNING_KEY_SETTING)
                .await
                .expect("db"),
            None,
            "the setting row is deleted"
        );
        #[cfg(unix)]
        assert_eq!(mode(&tmp.path().join(DEFAULT_FILE)), 0o600);

        // Through Auth::open too, on a second start.
        let (auth, _) = crate::Auth::open(
            meta.clone(),
            tmp.path(),
            crate::AuthConfig {
                admin_password: Some("admin-password".into()),
                ..crate::AuthConfig::default()
            },
        )
        .await
        .expect("auth");
        assert_eq!(auth.tokens().verify(&token).expect("verifies").sub, "alice");
    }

    #[tokio::test]
    async fn a_legacy_key_is_moved_out_of_the_database_whatever_the_source() {
        let tmp = tempfile::tempdir().expect("tmp");
        let meta = meta(tmp.path()).await;
        let old = super::super::token::generate_key().expect("key");
        meta.setting_init(crate::auth::SIGNING_KEY_SETTING, &old)
            .await
            .expect("setting");
        let mine = super::super::token::generate_key().expect("key");
        let got = load_or_create(&meta, tmp.path(), &SigningKeySource::Inline(mine.clone()))
            .await
            .expect("key");
        assert_eq!(got, mine);
        assert_eq!(
            meta.setting(crate::auth::SIGNING_KEY_SETTING)
                .await
                .expect("db"),
            None
        );
        // The old key is kept, not lost: the default source finds it.
        let back = load_or_create(&meta, tmp.path(), &SigningKeySource::DataDir)
            .await
            .expect("key");
        assert_eq!(back, old);
    }

    #[tokio::test]
    async fn operator_keys_load_as_pem_or_base64_from_a_file_or_inline() {
        let tmp = tempfile::tempdir().expect("tmp");
        let meta = meta(tmp.path()).await;
        let b64 = super::super::token::generate_key().expect("key");
        let der = decode_base64(&b64).expect("der");
        let pem = tmp.path().join("key.pem");
        std::fs::write(&pem, to_pem(&der)).expect("write");
        let raw = tmp.path().join("key.b64");
        std::fs::write(&raw, format!("{b64}\n")).expect("write");
        for src in [
            SigningKeySource::File(pem.clone()),
            SigningKeySource::File(raw),
            SigningKeySource::Inline(to_pem(&der)),
            SigningKeySource::Inline(b64.clone()),
        ] {
            let got = load_or_create(&meta, tmp.path(), &src).await.expect("key");
            assert_eq!(got, b64, "{src:?}");
        }
        assert!(
            !tmp.path().join(DEFAULT_FILE).exists(),
            "an operator key creates no default file"
        );
        // An operator file is only read: its mode and content stay.
        assert_eq!(std::fs::read(&pem).expect("read"), to_pem(&der).as_bytes());
    }

    #[tokio::test]
    async fn a_key_from_openssl_genpkey_loads() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("openssl.pem");
        let made = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
            ])
            .arg(&path)
            .output();
        if !made.is_ok_and(|o| o.status.success()) {
            eprintln!("openssl not available; skipped");
            return;
        }
        let meta = meta(tmp.path()).await;
        let key = load_or_create(&meta, tmp.path(), &SigningKeySource::File(path))
            .await
            .expect("openssl's PKCS#8 key");
        let token = sign(&issuer(&key), "bob");
        assert_eq!(issuer(&key).verify(&token).expect("verifies").sub, "bob");
    }

    #[tokio::test]
    async fn unreadable_or_unparseable_keys_refuse_the_start_naming_their_source() {
        let tmp = tempfile::tempdir().expect("tmp");
        let meta = meta(tmp.path()).await;
        let missing = tmp.path().join("nope.pem");
        let sec1 = tmp.path().join("sec1.pem");
        std::fs::write(
            &sec1,
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .expect("write");
        let garbage = tmp.path().join("garbage.pem");
        std::fs::write(&garbage, "not a key at all").expect("write");
        let rsa_like = tmp.path().join("other.pem");
        std::fs::write(&rsa_like, to_pem(b"definitely not pkcs8")).expect("write");
        let cases: Vec<(SigningKeySource, &str)> = vec![
            (SigningKeySource::File(missing), "nope.pem does not exist"),
            (SigningKeySource::File(sec1), "openssl pkcs8 -topk8"),
            (SigningKeySource::File(garbage), "garbage.pem"),
            (SigningKeySource::File(rsa_like), "not a P-256"),
            (SigningKeySource::Inline("%%%".into()), ENV_VAR),
            (SigningKeySource::Inline(String::new()), ENV_VAR),
        ];
        for (src, needle) in cases {
            let err = load_or_create(&meta, tmp.path(), &src)
                .await
                .expect_err("refused")
                .to_string();
            assert!(err.contains(needle), "{src:?}: {err}");
        }
        // A directory where the key file should be is unreadable.
        let dir_as_file = tmp.path().join("a-dir");
        std::fs::create_dir(&dir_as_file).expect("mkdir");
        let err = load_or_create(&meta, tmp.path(), &SigningKeySource::File(dir_as_file))
            .await
            .expect_err("refused")
            .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_complete_key_file() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join(DEFAULT_FILE);
        let keys: Vec<Vec<u8>> = (0..8)
            .map(|_| {
                decode_base64(&super::super::token::generate_key().expect("key")).expect("der")
            })
            .collect();
        let barrier = std::sync::Barrier::new(keys.len());
        let created: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = keys
                .iter()
                .map(|k| {
                    s.spawn(|| {
                        barrier.wait();
                        let mine = write_new_key_file(&path, k).expect("write");
                        // Whoever won, the file is complete at once.
                        assert!(read_key_file(&path).expect("read").is_some());
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
        let winner = created.iter().position(|c| *c).expect("a winner");
        assert_eq!(
            read_key_file(&path).expect("read"),
            Some(keys[winner].clone())
        );
    }

    #[test]
    fn debug_output_never_shows_an_inline_key() {
        let s = format!("{:?}", SigningKeySource::Inline("SECRET".into()));
        assert!(!s.contains("SECRET"), "{s}");
    }

    #[cfg(unix)]
    #[test]
    fn loose_modes_are_reported_and_private_ones_are_not() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let f = tmp.path().join("f");
        std::fs::write(&f, "x").expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(!warn_if_not_private(&f));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(warn_if_not_private(&f));
        assert!(!warn_if_not_private(&tmp.path().join("absent")));
    }
}
