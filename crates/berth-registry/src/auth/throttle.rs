//! Failed-login throttling: per user name and per client address, a fixed
//! window of failures after which further attempts are refused until the
//! window ends (`429 TOOMANYREQUESTS` with `Retry-After`). In memory, per node.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failure counters.
pub struct LoginThrottle {
    window: Duration,
    per_user: u32,
    per_ip: u32,
    state: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    users: HashMap<String, (Instant, u32)>,
    ips: HashMap<IpAddr, (Instant, u32)>,
}

fn blocked<K: std::hash::Hash + Eq>(
    map: &HashMap<K, (Instant, u32)>,
    key: &K,
    limit: u32,
    window: Duration,
) -> Option<Duration> {
    let (start, n) = map.get(key)?;
    let elapsed = start.elapsed();
    (elapsed < window && *n >= limit).then(|| window - elapsed)
}

fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, (Instant, u32)>, key: K, window: Duration) {
    let e = map.entry(key).or_insert((Instant::now(), 0));
    if e.0.elapsed() >= window {
        *e = (Instant::now(), 0);
    }
    e.1 += 1;
}

impl LoginThrottle {
    /// At most `per_user` failures per user name and `per_ip` per address in
    /// each `window`; 0 disables that limit.
    pub fn new(window: Duration, per_user: u32, per_ip: u32) -> LoginThrottle {
        LoginThrottle {
            window,
            per_user,
            per_ip,
            state: Mutex::new(Counters::default()),
        }
    }

    /// `Some(wait)` when `user` or `ip` is locked out.
    pub fn check(&self, user: &str, ip: Option<IpAddr>) -> Option<Duration> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let by_user = (self.per_user > 0)
            .then(|| blocked(&s.users, &user.to_owned(), self.per_user, self.window))
            .flatten();
        let by_ip = match (ip, self.per_ip > 0) {
            (Some(ip), true) => blocked(&s.ips, &ip, self.per_ip, self.window),
            _ => None,
        };
        by_user.max(by_ip)
    }

    /// Records a failed attempt.
    pub fn failed(&self, user: &str, ip: Option<IpAddr>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.users.len() > 100_000 || s.ips.len() > 100_000 {
            let window = self.window;
            s.users.retain(|_, (t, _)| t.elapsed() < window);
            s.ips.retain(|_, (t, _)| t.elapsed() < window);
        }
        bump(&mut s.users, user.to_owned(), self.window);
        if let Some(ip) = ip {
            bump(&mut s.ips, ip, self.window);
        }
    }

    /// Forgets a user's failures after a successful login.
    pub fn succeeded(&self, user: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.users.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_the_limit_and_per_ip() {
        let t = LoginThrottle::new(Duration::from_secs(60), 3, 5);
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..3 {
            assert!(t.check("alice", Some(ip)).is_none());
            t.failed("alice", Some(ip));
        }
        assert!(t.check("alice", None).is_some());
        assert!(t.check("bob", Some(ip)).is_none());
        t.failed("bob", Some(ip));
        t.failed("carol", Some(ip));
        assert!(t.check("dave", Some(ip)).is_some(), "the address is locked");
        t.succeeded("alice");
        assert!(t.check("alice", None).is_none());
    }
}
