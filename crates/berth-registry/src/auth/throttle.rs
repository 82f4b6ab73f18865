//! Failed-login throttling, counted in the metadata database so that every
//! node shares the counters: N nodes behind a load balancer do not give an
//! attacker N times the guesses.
//!
//! Two counters, each over a window (`auth.login_failure_window_secs`):
//! - per user name **and** source address (`auth.login_failures_per_user`):
//!   after that many failures the pair is locked out; each further lockout of
//!   the same pair lasts twice as long as the one before (backoff), up to
//!   [`MAX_LOCKOUT`]. Counting per pair means a stranger's wrong passwords
//!   cannot lock `admin` or a CI robot out of their own addresses.
//! - per source address (`auth.login_failures_per_ip`), for password spraying
//!   across many names; same backoff.
//!
//! IPv6 addresses count by their /64 prefix (what one host usually holds).
//! A caller presenting a cached-valid credential is never throttled (the
//! caller of [`LoginThrottle::check`] looks the credential cache up first), so
//! the database is read only when a password is actually verified. A refusal
//! is `429 TOOMANYREQUESTS` with `Retry-After`. Each failure is one write
//! transaction; counters idle for a window are pruned then.

use std::net::IpAddr;
use std::time::Duration;

use berth_meta::{MetaStore, ThrottleRow};

use crate::error::Result;

/// The longest lockout backoff reaches.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(3600);

/// Failure counters over the metadata store.
pub struct LoginThrottle {
    window: Duration,
    per_pair: u32,
    per_ip: u32,
    meta: MetaStore,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One failure at `now` (Unix ms) against counter `c`, with `limit` failures
/// per `window` before a lockout.
fn fail(c: Option<ThrottleRow>, now: i64, limit: u32, window: Duration) -> ThrottleRow {
    let window_ms = ms(window);
    let mut c = c.unwrap_or(ThrottleRow {
        window_start: now,
        failures: 0,
        lockouts: 0,
        locked_until: None,
    });
    if c.locked_until.is_some_and(|u| u > now) {
        return c;
    }
    if now.saturating_sub(c.window_start) >= window_ms {
        c.window_start = now;
        c.failures = 0;
        // A quiet window after the last lockout forgets the backoff.
        if c.locked_until
            .is_none_or(|u| now.saturating_sub(u) >= window_ms)
        {
            c.lockouts = 0;
        }
    }
    c.failures += 1;
    if c.failures >= i64::from(limit) {
        let factor = 1u32 << c.lockouts.clamp(0, 16);
        let lock = window.saturating_mul(factor).min(MAX_LOCKOUT);
        c.lockouts += 1;
        c.failures = 0;
        c.window_start = now;
        c.locked_until = Some(now.saturating_add(ms(lock)));
    }
    c
}

/// The address a failure counts against: IPv4 as is, IPv6 by /64.
fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

fn pair_key(user: &str, ip: Option<IpAddr>) -> String {
    match ip {
        Some(ip) => format!("pair\t{user}\t{}", source(ip)),
        None => format!("pair\t{user}\t-"),
    }
}

fn ip_key(ip: IpAddr) -> String {
    format!("ip\t{}", source(ip))
}

impl LoginThrottle {
    /// At most `per_pair` failures per user name and address, and `per_ip` per
    /// address, in each `window`; 0 disables that limit.
    pub fn new(meta: MetaStore, window: Duration, per_pair: u32, per_ip: u32) -> LoginThrottle {
        LoginThrottle {
            window,
            per_pair,
            per_ip,
            meta,
        }
    }

    /// `Some(wait)` while `user` from `ip`, or `ip` itself, is locked out.
    ///
    /// Errors: [`crate::Error::Meta`].
    pub async fn check(&self, user: &str, ip: Option<IpAddr>) -> Result<Option<Duration>> {
        let now = berth_meta::store::now_ms();
        let pair = pair_key(user, ip);
        let by_ip = ip.map(ip_key);
        let mut keys = vec![pair.as_str()];
        if let Some(k) = &by_ip {
            keys.push(k.as_str());
        }
        let until = self.meta.throttle_locked_until(&keys).await?;
        Ok(until
            .filter(|u| *u > now)
            .map(|u| Duration::from_millis((u - now) as u64)))
    }

    /// Records a failed attempt.
    ///
    /// Errors: [`crate::Error::Meta`].
    pub async fn failed(&self, user: &str, ip: Option<IpAddr>) -> Result<()> {
        metrics::counter!(crate::metrics::LOGIN_FAILURES).increment(1);
        let now = berth_meta::store::now_ms();
        let (window, prune) = (self.window, now.saturating_sub(ms(self.window)));
        if self.per_pair > 0 {
            let limit = self.per_pair;
            self.meta
                .throttle_update(&pair_key(user, ip), prune, |c| fail(c, now, limit, window))
                .await?;
        }
        if let (Some(ip), true) = (ip, self.per_ip > 0) {
            let limit = self.per_ip;
            self.meta
                .throttle_update(&ip_key(ip), prune, |c| fail(c, now, limit, window))
                .await?;
        }
        Ok(())
    }

    /// Forgets the failures of `user` from `ip` after a successful login.
    ///
    /// Errors: [`crate::Error::Meta`].
    pub async fn succeeded(&self, user: &str, ip: Option<IpAddr>) -> Result<()> {
        Ok(self.meta.throttle_forget(&pair_key(user, ip)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn throttle(
        window: Duration,
        per_pair: u32,
        per_ip: u32,
    ) -> (tempfile::TempDir, LoginThrottle) {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open(&berth_meta::testing::database_url(dir.path()).await)
            .await
            .unwrap();
        (dir, LoginThrottle::new(meta, window, per_pair, per_ip))
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[tokio::test]
    async fn failures_lock_the_name_from_that_address_only() {
        let (_dir, t) = throttle(Duration::from_secs(60), 3, 100).await;
        for _ in 0..3 {
            assert!(t.check("admin", Some(A)).await.unwrap().is_none());
            t.failed("admin", Some(A)).await.unwrap();
        }
        assert!(
            t.check("admin", Some(A)).await.unwrap().is_some(),
            "locked from A"
        );
        assert!(
            t.check("admin", Some(B)).await.unwrap().is_none(),
            "not from B"
        );
        assert!(
            t.check("bob", Some(A)).await.unwrap().is_none(),
            "other names from A"
        );
        t.succeeded("admin", Some(B)).await.unwrap();
        assert!(t.check("admin", Some(A)).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn an_address_spraying_many_names_is_locked() {
        let (_dir, t) = throttle(Duration::from_secs(60), 10, 5).await;
        for i in 0..5 {
            t.failed(&format!("user{i}"), Some(A)).await.unwrap();
        }
        assert!(t.check("someone", Some(A)).await.unwrap().is_some());
        assert!(t.check("someone", Some(B)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn lockouts_back_off() {
        let window = Duration::from_millis(40);
        let (_dir, t) = throttle(window, 2, 0).await;
        t.failed("a", Some(A)).await.unwrap();
        t.failed("a", Some(A)).await.unwrap();
        let first = t.check("a", Some(A)).await.unwrap().expect("locked");
        assert!(first <= window);
        tokio::time::sleep(window + Duration::from_millis(5)).await;
        assert!(
            t.check("a", Some(A)).await.unwrap().is_none(),
            "first lockout ended"
        );
        t.failed("a", Some(A)).await.unwrap();
        t.failed("a", Some(A)).await.unwrap();
        let second = t.check("a", Some(A)).await.unwrap().expect("locked again");
        assert!(second > window, "the second lockout is longer: {second:?}");
    }

    #[tokio::test]
    async fn ipv6_counts_by_prefix() {
        let (_dir, t) = throttle(Duration::from_secs(60), 2, 0).await;
        let one: IpAddr = "2001:db8::1".parse().expect("ip");
        let other: IpAddr = "2001:db8::2".parse().expect("ip");
        t.failed("a", Some(one)).await.unwrap();
        t.failed("a", Some(other)).await.unwrap();
        assert!(t.check("a", Some(one)).await.unwrap().is_some());
    }
}
