//! Limits on the one endpoint anyone may post to: a channel's payment
//! notification (`POST /v1/notify/{terminal}/{channel}`).
//!
//! Head office cannot check a notification's signature (only the terminal
//! holds the channel keys), so junk must be kept cheap: it is refused before
//! its body is read, it never reaches the database beyond a small share,
//! and it cannot push a terminal's genuine notices out.
//!
//! Three token buckets, all in memory (they describe this process's load,
//! like the metrics) and each table bounded in size:
//! - per source address: how much of the server one address may use;
//! - per terminal and source: how much one address may post for one
//!   terminal, so a flood from one address cannot use up the terminal's own
//!   budget and shut out the channel's genuine posts;
//! - per terminal: how many notices one terminal receives, whoever sends
//!   them.
//!
//! A post takes a token from all three or from none. A refusal is a 429:
//! the channels retry a notification that is not acknowledged, so a genuine
//! one refused here arrives again later (and the till polls meanwhile).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};

/// A token bucket's settings: `burst` posts at once, refilled at `per_sec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub per_sec: u32,
}

/// The limits of the notify endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticeLimits {
    /// One source address, all terminals. Generous: a channel posts every
    /// terminal's notifications from a handful of addresses.
    pub per_source: Rate,
    /// One source address, one terminal: a flood from one address uses this
    /// share of the terminal's budget and no more.
    pub per_terminal_source: Rate,
    /// One terminal, all sources.
    pub per_terminal: Rate,
    /// Most keys each table remembers; see [`Buckets`].
    pub max_keys: usize,
}

impl Default for NoticeLimits {
    fn default() -> NoticeLimits {
        NoticeLimits {
            per_source: Rate {
                burst: 2000,
                per_sec: 400,
            },
            // A till takes one payment at a time, every few seconds at the
            // busiest; each brings a notice or two, and the channel repeats
            // one that is not acknowledged.
            per_terminal_source: Rate {
                burst: 20,
                per_sec: 2,
            },
            per_terminal: Rate {
                burst: 40,
                per_sec: 4,
            },
            max_keys: 10_000,
        }
    }
}

/// Which limit refused a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Source,
    TerminalSource,
    Terminal,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Source => "source",
            Refusal::TerminalSource => "terminal_source",
            Refusal::Terminal => "terminal",
        }
    }
}

/// Tokens are counted in thousandths so that refill needs no floats.
const MILLI: u64 = 1000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    milli_tokens: u64,
    at: Instant,
}

/// Token buckets by key, at most `max_keys` of them. A bucket that has
/// refilled completely says nothing a new one would not, so those are
/// forgotten first when the table is full; if that is not enough, the
/// eighth least recently used go (amortised: one sweep frees room for many
/// new keys).
#[derive(Debug)]
struct Buckets<K> {
    rate: Rate,
    max_keys: usize,
    map: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(rate: Rate, max_keys: usize) -> Buckets<K> {
        Buckets {
            rate,
            max_keys: max_keys.max(1),
            map: HashMap::new(),
        }
    }

    fn full(&self) -> u64 {
        u64::from(self.rate.burst) * MILLI
    }

    /// The bucket of `key` brought up to `now` (not stored).
    fn current(&self, key: &K, now: Instant) -> Bucket {
        match self.map.get(key) {
            None => Bucket {
                milli_tokens: self.full(),
                at: now,
            },
            Some(b) => {
                let micros = now.saturating_duration_since(b.at).as_micros();
                let micros = u64::try_from(micros).unwrap_or(u64::MAX);
                // per_sec tokens a second = per_sec thousandths a millisecond.
                let refill = micros.saturating_mul(u64::from(self.rate.per_sec)) / 1000;
                Bucket {
                    milli_tokens: b.milli_tokens.saturating_add(refill).min(self.full()),
                    at: now.max(b.at),
                }
            }
        }
    }

    fn has_token(&self, key: &K, now: Instant) -> bool {
        self.current(key, now).milli_tokens >= MILLI
    }

    fn take(&mut self, key: &K, now: Instant) {
        let mut bucket = self.current(key, now);
        bucket.milli_tokens = bucket.milli_tokens.saturating_sub(MILLI);
        if !self.map.contains_key(key) && self.map.len() >= self.max_keys {
            self.make_room(now);
        }
        self.map.insert(key.clone(), bucket);
    }

    fn make_room(&mut self, now: Instant) {
        let full = self.full();
        let keys: Vec<K> = self.map.keys().cloned().collect();
        for key in keys {
            if self.current(&key, now).milli_tokens >= full {
                self.map.remove(&key);
            }
        }
        if self.map.len() < self.max_keys {
            return;
        }
        let mut times: Vec<Instant> = self.map.values().map(|b| b.at).collect();
        let cut = times.len() / 8;
        let (_, threshold, _) = times.select_nth_unstable(cut);
        let threshold = *threshold;
        self.map.retain(|_, b| b.at > threshold);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

#[derive(Debug)]
struct Tables {
    sources: Buckets<IpAddr>,
    pairs: Buckets<(String, IpAddr)>,
    terminals: Buckets<String>,
}

/// The notify endpoint's buckets; one per server process.
#[derive(Debug)]
pub struct NoticeLimiter {
    limits: NoticeLimits,
    tables: Mutex<Tables>,
}

impl Default for NoticeLimiter {
    fn default() -> NoticeLimiter {
        NoticeLimiter::new(NoticeLimits::default())
    }
}

impl NoticeLimiter {
    pub fn new(limits: NoticeLimits) -> NoticeLimiter {
        NoticeLimiter {
            limits,
            tables: Mutex::new(Tables {
                sources: Buckets::new(limits.per_source, limits.max_keys),
                pairs: Buckets::new(limits.per_terminal_source, limits.max_keys),
                terminals: Buckets::new(limits.per_terminal, limits.max_keys),
            }),
        }
    }

    pub fn limits(&self) -> NoticeLimits {
        self.limits
    }

    /// Take a token for a post from `source` for `terminal`, from every
    /// bucket or (refused) from none.
    pub fn admit(&self, terminal: &str, source: IpAddr, now: Instant) -> Result<(), Refusal> {
        let source = source_key(source);
        let mut t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        let pair = (terminal.to_owned(), source);
        if !t.sources.has_token(&source, now) {
            return Err(Refusal::Source);
        }
        if !t.pairs.has_token(&pair, now) {
            return Err(Refusal::TerminalSource);
        }
        let terminal = terminal.to_owned();
        if !t.terminals.has_token(&terminal, now) {
            return Err(Refusal::Terminal);
        }
        t.sources.take(&source, now);
        t.pairs.take(&pair, now);
        t.terminals.take(&terminal, now);
        Ok(())
    }
}

/// An IPv6 sender usually holds a whole /64, so that is the unit; an
/// IPv4-mapped address is the IPv4 address.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The peer address of a request served by [`crate::run`] (or the TLS
/// server); unspecified when served without connection info (in-process
/// tests).
pub fn source_of<B>(req: &Request<B>) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
}

/// The answer to a refused post: 429 with a hint when to come back. The
/// channels treat anything but their success answer as "retry later".
pub fn refused_response(refusal: Refusal) -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many notifications ({} limit)", refusal.as_str()),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
}

/// The declared body length, if any; `None` for a chunked body.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn limiter(pair_burst: u32, terminal_burst: u32) -> NoticeLimiter {
        NoticeLimiter::new(NoticeLimits {
            per_source: Rate {
                burst: 100,
                per_sec: 10,
            },
            per_terminal_source: Rate {
                burst: pair_burst,
                per_sec: 1,
            },
            per_terminal: Rate {
                burst: terminal_burst,
                per_sec: 2,
            },
            max_keys: 100,
        })
    }

    #[test]
    fn one_source_cannot_use_up_a_terminals_budget() {
        let l = limiter(3, 5);
        let now = Instant::now();
        let junk = ip("203.0.113.7");
        let channel = ip("198.51.100.1");
        let admitted = (0..50).filter(|_| l.admit("T1", junk, now).is_ok()).count();
        assert_eq!(admitted, 3, "the flood gets its pair burst only");
        assert_eq!(
            l.admit("T1", junk, now),
            Err(Refusal::TerminalSource),
            "refused by the pair bucket"
        );
        assert_eq!(
            l.admit("T1", channel, now),
            Ok(()),
            "the channel still gets through"
        );
        assert_eq!(
            l.admit("T2", junk, now),
            Ok(()),
            "another terminal is untouched"
        );
    }

    #[test]
    fn buckets_refill_with_time_and_no_more_than_the_burst() {
        let l = limiter(2, 100);
        let t0 = Instant::now();
        let a = ip("203.0.113.7");
        assert!(l.admit("T1", a, t0).is_ok());
        assert!(l.admit("T1", a, t0).is_ok());
        assert!(l.admit("T1", a, t0).is_err());
        // One token a second.
        assert!(l.admit("T1", a, t0 + Duration::from_millis(999)).is_err());
        assert!(l.admit("T1", a, t0 + Duration::from_millis(1001)).is_ok());
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(3600);
        assert!(l.admit("T1", a, later).is_ok());
        assert!(l.admit("T1", a, later).is_ok());
        assert!(l.admit("T1", a, later).is_err());
    }

    #[test]
    fn many_sources_hit_the_terminal_limit() {
        let l = limiter(3, 5);
        let now = Instant::now();
        let admitted = (0..20u8)
            .filter(|i| l.admit("T1", ip(&format!("203.0.113.{i}")), now).is_ok())
            .count();
        assert_eq!(admitted, 5);
        assert_eq!(
            l.admit("T1", ip("198.51.100.1"), now),
            Err(Refusal::Terminal)
        );
    }

    #[test]
    fn a_refused_post_takes_no_token_anywhere() {
        let l = limiter(1, 2);
        let now = Instant::now();
        assert!(l.admit("T1", ip("203.0.113.1"), now).is_ok());
        // Refused by the pair bucket: the terminal keeps its second token.
        for _ in 0..10 {
            assert!(l.admit("T1", ip("203.0.113.1"), now).is_err());
        }
        assert!(l.admit("T1", ip("203.0.113.2"), now).is_ok());
    }

    #[test]
    fn ipv6_senders_are_counted_by_their_64() {
        let l = limiter(2, 100);
        let now = Instant::now();
        assert!(l.admit("T1", ip("2001:db8:1:2::1"), now).is_ok());
        assert!(l.admit("T1", ip("2001:db8:1:2::ffff"), now).is_ok());
        assert!(l.admit("T1", ip("2001:db8:1:2:abcd::9"), now).is_err());
        assert!(l.admit("T1", ip("2001:db8:1:3::1"), now).is_ok());
        assert_eq!(source_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn tables_stay_bounded_under_many_keys() {
        let l = limiter(5, 5);
        let start = Instant::now();
        for i in 0..5_000u32 {
            let now = start + Duration::from_micros(u64::from(i));
            let source = IpAddr::from(i.to_be_bytes());
            let _ = l.admit(&format!("T{i}"), source, now);
        }
        let t = l.tables.lock().unwrap();
        assert!(t.sources.len() <= 100, "{}", t.sources.len());
        assert!(t.pairs.len() <= 100, "{}", t.pairs.len());
        assert!(t.terminals.len() <= 100, "{}", t.terminals.len());
    }

    #[test]
    fn the_newest_keys_survive_a_sweep() {
        let mut b: Buckets<u32> = Buckets::new(
            Rate {
                burst: 1,
                per_sec: 0,
            },
            16,
        );
        let start = Instant::now();
        for i in 0..16u32 {
            b.take(&i, start + Duration::from_millis(u64::from(i)));
        }
        b.take(&99, start + Duration::from_secs(1));
        assert!(b.len() <= 16);
        assert!(b.map.contains_key(&99) && b.map.contains_key(&15));
        assert!(
            !b.map.contains_key(&0),
            "the least recently used goes first"
        );
        // A key that is still empty after the sweep is still refused.
        assert!(!b.has_token(&15, start + Duration::from_secs(2)));
    }
}
