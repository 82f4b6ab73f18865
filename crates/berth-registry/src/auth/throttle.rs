//! Failed-login throttling, in memory, per node.
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
//! caller of [`LoginThrottle::check`] looks the credential cache up first).
//! A refusal is `429 TOOMANYREQUESTS` with `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest lockout backoff reaches.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(3600);

/// Most keys tracked before expired ones are pruned.
const MAX_TRACKED: usize = 100_000;

/// Failure counters.
pub struct LoginThrottle {
    window: Duration,
    per_pair: u32,
    per_ip: u32,
    state: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    pairs: HashMap<(String, Option<IpAddr>), Counter>,
    ips: HashMap<IpAddr, Counter>,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    window_start: Instant,
    failures: u32,
    lockouts: u32,
    locked_until: Option<Instant>,
}

impl Counter {
    fn new(now: Instant) -> Counter {
        Counter {
            window_start: now,
            failures: 0,
            lockouts: 0,
            locked_until: None,
        }
    }

    fn wait(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .filter(|u| *u > now)
            .map(|u| u.duration_since(now))
    }

    fn fail(&mut self, now: Instant, limit: u32, window: Duration) {
        if self.wait(now).is_some() {
            return;
        }
        if now.duration_since(self.window_start) >= window {
            self.window_start = now;
            self.failures = 0;
            // A quiet window after the last lockout forgets the backoff.
            if self
                .locked_until
                .is_none_or(|u| now.duration_since(u) >= window)
            {
                self.lockouts = 0;
            }
        }
        self.failures += 1;
        if self.failures >= limit {
            let factor = 1u32 << self.lockouts.min(16);
            let lock = window.saturating_mul(factor).min(MAX_LOCKOUT);
            self.lockouts += 1;
            self.failures = 0;
            self.window_start = now;
            self.locked_until = Some(now + lock);
        }
    }

    fn expired(&self, now: Instant, window: Duration) -> bool {
        self.wait(now).is_none() && now.duration_since(self.window_start) >= window
    }
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

impl LoginThrottle {
    /// At most `per_pair` failures per user name and address, and `per_ip` per
    /// address, in each `window`; 0 disables that limit.
    pub fn new(window: Duration, per_pair: u32, per_ip: u32) -> LoginThrottle {
        LoginThrottle {
            window,
            per_pair,
            per_ip,
            state: Mutex::new(Counters::default()),
        }
    }

    /// `Some(wait)` while `user` from `ip`, or `ip` itself, is locked out.
    pub fn check(&self, user: &str, ip: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let ip = ip.map(source);
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let by_pair = s
            .pairs
            .get(&(user.to_owned(), ip))
            .and_then(|c| c.wait(now));
        let by_ip = ip.and_then(|ip| s.ips.get(&ip)).and_then(|c| c.wait(now));
        by_pair.max(by_ip)
    }

    /// Records a failed attempt.
    pub fn failed(&self, user: &str, ip: Option<IpAddr>) {
        let now = Instant::now();
        let ip = ip.map(source);
        let window = self.window;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.pairs.len() >= MAX_TRACKED || s.ips.len() >= MAX_TRACKED {
            s.pairs.retain(|_, c| !c.expired(now, window));
            s.ips.retain(|_, c| !c.expired(now, window));
        }
        if self.per_pair > 0 {
            s.pairs
                .entry((user.to_owned(), ip))
                .or_insert_with(|| Counter::new(now))
                .fail(now, self.per_pair, window);
        }
        if let (Some(ip), true) = (ip, self.per_ip > 0) {
            s.ips
                .entry(ip)
                .or_insert_with(|| Counter::new(now))
                .fail(now, self.per_ip, window);
        }
    }

    /// Forgets the failures of `user` from `ip` after a successful login.
    pub fn succeeded(&self, user: &str, ip: Option<IpAddr>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.pairs.remove(&(user.to_owned(), ip.map(source)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn failures_lock_the_name_from_that_address_only() {
        let t = LoginThrottle::new(Duration::from_secs(60), 3, 100);
        for _ in 0..3 {
            assert!(t.check("admin", Some(A)).is_none());
            t.failed("admin", Some(A));
        }
        assert!(t.check("admin", Some(A)).is_some(), "locked from A");
        assert!(t.check("admin", Some(B)).is_none(), "not from B");
        assert!(t.check("bob", Some(A)).is_none(), "other names from A");
        t.succeeded("admin", Some(B));
        assert!(t.check("admin", Some(A)).is_some());
    }

    #[test]
    fn an_address_spraying_many_names_is_locked() {
        let t = LoginThrottle::new(Duration::from_secs(60), 10, 5);
        for i in 0..5 {
            t.failed(&format!("user{i}"), Some(A));
        }
        assert!(t.check("someone", Some(A)).is_some());
        assert!(t.check("someone", Some(B)).is_none());
    }

    #[test]
    fn lockouts_back_off() {
        let window = Duration::from_millis(40);
        let t = LoginThrottle::new(window, 2, 0);
        t.failed("a", Some(A));
        t.failed("a", Some(A));
        let first = t.check("a", Some(A)).expect("locked");
        assert!(first <= window);
        std::thread::sleep(window + Duration::from_millis(5));
        assert!(t.check("a", Some(A)).is_none(), "first lockout ended");
        t.failed("a", Some(A));
        t.failed("a", Some(A));
        let second = t.check("a", Some(A)).expect("locked again");
        assert!(second > window, "the second lockout is longer: {second:?}");
    }

    #[test]
    fn ipv6_counts_by_prefix() {
        let t = LoginThrottle::new(Duration::from_secs(60), 2, 0);
        let one: IpAddr = "2001:db8::1".parse().expect("ip");
        let other: IpAddr = "2001:db8::2".parse().expect("ip");
        t.failed("a", Some(one));
        t.failed("a", Some(other));
        assert!(t.check("a", Some(one)).is_some());
    }
}
