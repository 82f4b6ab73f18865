//! Per-client limits enforced at the HTTP layer, keyed by client: the
//! authenticated identity once access control exists, the client IP until then.
//!
//! - [`RateLimiter`]: a token bucket per client; over the limit a request gets 429
//!   `TOOMANYREQUESTS` with `Retry-After`.
//! - [`UploadQuota`]: at most N upload sessions opened by one client that are
//!   still open (finished, cancelled and hour-old sessions don't count).
//! - [`guard_body`]: the deadline of a request body, so a body that trickles
//!   or never arrives cannot hold a connection (or a buffer) open.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most clients tracked before idle entries are pruned.
const MAX_TRACKED: usize = 10_000;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token bucket per client: `rate` requests per second on average, bursts of
/// `burst`. A rate of 0 disables it.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// A limiter; `rate == 0` means unlimited, `burst == 0` means twice the rate.
    pub fn new(rate: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(rate),
            burst: f64::from(
                if burst == 0 {
                    rate.saturating_mul(2)
                } else {
                    burst.max(1)
                }
                .max(1),
            ),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// True when the limiter is on.
    pub fn enabled(&self) -> bool {
        self.rate > 0.0
    }

    /// Takes a token for `client`; `Err(seconds)` says when to retry.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        if !self.enabled() {
            return Ok(());
        }
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&client) {
            let (rate, burst) = (self.rate, self.burst);
            map.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
        }
        let b = map.entry(client).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        b.tokens =
            (b.tokens + now.duration_since(b.last).as_secs_f64() * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// Open upload sessions per client. A cap of 0 disables it.
pub struct UploadQuota {
    cap: usize,
    max_age: Duration,
    open: Mutex<HashMap<IpAddr, VecDeque<(Instant, String)>>>,
}

impl UploadQuota {
    /// A quota of `cap` open sessions per client; sessions older than `max_age`
    /// stop counting (abandoned ones are swept by garbage collection).
    pub fn new(cap: usize, max_age: Duration) -> UploadQuota {
        UploadQuota {
            cap,
            max_age,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// True when `client` may open another session.
    pub fn may_open(&self, client: IpAddr) -> bool {
        if self.cap == 0 {
            return true;
        }
        let mut map = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let Some(list) = map.get_mut(&client) else {
            return true;
        };
        while list
            .front()
            .is_some_and(|(t, _)| t.elapsed() > self.max_age)
        {
            list.pop_front();
        }
        list.len() < self.cap
    }

    /// Records a session `client` opened.
    pub fn opened(&self, client: IpAddr, id: &str) {
        if self.cap == 0 {
            return;
        }
        let mut map = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&client) {
            map.retain(|_, l| !l.is_empty());
        }
        map.entry(client)
            .or_default()
            .push_back((Instant::now(), id.to_string()));
    }

    /// Forgets a session (finished or cancelled), whoever opened it: a session
    /// may be finished from another address than the one that opened it.
    pub fn closed(&self, id: &str) {
        if self.cap == 0 {
            return;
        }
        let mut map = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let owner = map.iter_mut().find_map(|(ip, list)| {
            list.iter()
                .position(|(_, s)| s == id)
                .map(|pos| (*ip, list, pos))
        });
        if let Some((ip, list, pos)) = owner {
            list.remove(pos);
            if list.is_empty() {
                map.remove(&ip);
            }
        }
    }
}

/// When a request body must arrive ([`guard_body`]).
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline {
    /// Longest wait for the next frame.
    pub idle: Duration,
    /// The whole body within this long of the request (buffered bodies).
    pub total: Option<Duration>,
    /// After `grace`, the body must have averaged at least this many bytes
    /// per second since the request began (0: no minimum).
    pub min_bytes_per_sec: u64,
    /// When the minimum rate starts to count.
    pub grace: Duration,
}

impl BodyDeadline {
    /// How long the next frame may take, given `seen` bytes after `elapsed`.
    fn next_wait(&self, seen: u64, elapsed: Duration) -> Duration {
        let mut wait = self.idle;
        if let Some(total) = self.total {
            wait = wait.min(total.saturating_sub(elapsed));
        }
        if self.min_bytes_per_sec > 0 {
            // `seen` bytes keep the rate up until seen / rate seconds in.
            let kept = Duration::from_secs_f64(seen as f64 / self.min_bytes_per_sec as f64);
            wait = wait.min(self.grace.max(kept).saturating_sub(elapsed));
        }
        wait
    }
}

/// Wraps a request body so it fails (`io::ErrorKind::TimedOut`, which the
/// reader turns into a refusal and, for uploads, a rolled-back chunk) when a
/// frame does not come within the [`BodyDeadline`]. A client sending one byte
/// every 10 s is cut off after `grace` (uploads) or `total` (buffered bodies).
pub fn guard_body(body: axum::body::Body, deadline: BodyDeadline) -> axum::body::Body {
    use futures::StreamExt;
    let start = Instant::now();
    let data = body.into_data_stream();
    let stream = futures::stream::unfold(Some((data, 0u64)), move |state| async move {
        let (mut data, seen) = state?;
        let wait = deadline.next_wait(seen, start.elapsed());
        match tokio::time::timeout(wait, data.next()).await {
            Ok(Some(Ok(bytes))) => {
                let seen = seen + bytes.len() as u64;
                Some((Ok(bytes), Some((data, seen))))
            }
            Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the request body did not arrive in time ({seen} bytes after {} s)",
                        start.elapsed().as_secs()
                    ),
                )),
                None,
            )),
        }
    });
    axum::body::Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn bucket_allows_the_burst_then_asks_to_retry() {
        let rl = RateLimiter::new(1, 3);
        for _ in 0..3 {
            assert!(rl.check(A).is_ok());
        }
        assert_eq!(rl.check(A), Err(1));
        assert!(rl.check(B).is_ok(), "clients are limited separately");
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let rl = RateLimiter::new(0, 0);
        for _ in 0..10_000 {
            assert!(rl.check(A).is_ok());
        }
    }

    #[test]
    fn upload_quota_counts_open_sessions_only() {
        let q = UploadQuota::new(2, Duration::from_secs(3600));
        q.opened(A, "s1");
        q.opened(A, "s2");
        assert!(!q.may_open(A));
        assert!(q.may_open(B));
        q.closed("s1");
        assert!(q.may_open(A));
        let aged = UploadQuota::new(1, Duration::from_millis(10));
        aged.opened(A, "old");
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            aged.may_open(A),
            "an hour-old (here: 10 ms) session no longer counts"
        );
    }

    #[test]
    fn body_deadlines_follow_the_rules() {
        let upload = BodyDeadline {
            idle: Duration::from_secs(120),
            total: None,
            min_bytes_per_sec: 1024,
            grace: Duration::from_secs(30),
        };
        // Before the grace ends only the idle timeout and the grace count.
        assert_eq!(upload.next_wait(0, Duration::ZERO), Duration::from_secs(30));
        // A trickle of a few bytes is cut at the end of the grace.
        assert_eq!(
            upload.next_wait(3, Duration::from_secs(29)),
            Duration::from_secs(1)
        );
        assert_eq!(upload.next_wait(3, Duration::from_secs(31)), Duration::ZERO);
        // 100 KiB after 40 s keeps the rate up until 100 s in.
        assert_eq!(
            upload.next_wait(100 * 1024, Duration::from_secs(40)),
            Duration::from_secs(60)
        );
        let buffered = BodyDeadline {
            idle: Duration::from_secs(30),
            total: Some(Duration::from_secs(30)),
            min_bytes_per_sec: 0,
            grace: Duration::from_secs(30),
        };
        assert_eq!(
            buffered.next_wait(10, Duration::from_secs(25)),
            Duration::from_secs(5)
        );
    }

    #[tokio::test]
    async fn a_trickling_body_is_cut_off() {
        use http_body_util::BodyExt;
        let (mut tx, rx) =
            futures::channel::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
        tokio::spawn(async move {
            use futures::SinkExt;
            for _ in 0..100 {
                if tx.send(Ok(bytes::Bytes::from_static(b"x"))).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let body = guard_body(
            axum::body::Body::from_stream(rx),
            BodyDeadline {
                idle: Duration::from_secs(10),
                total: Some(Duration::from_millis(300)),
                min_bytes_per_sec: 0,
                grace: Duration::from_millis(300),
            },
        );
        let start = Instant::now();
        let err = body.collect().await.expect_err("cut off");
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(err.to_string().contains("did not arrive in time"), "{err}");
    }
}
