//! Sign-in throttling: growing delays after failed sign-ins, counted three ways.
//!
//! - per **account and client address**: a guesser at one account from one place is slowed
//!   hard (a few free tries, then 1 s, 2 s, 4 s … up to 15 minutes between attempts);
//! - per **client address**: one place spraying many accounts is slowed the same way after
//!   more free tries;
//! - per **account**, from anywhere: many places guessing at one account are slowed too, but
//!   this delay is capped at 30 seconds, so an attacker can never lock the real user out for
//!   longer than that (the user's own address has its own, clean counters).
//!
//! While a key's delay runs, attempts are refused with the time left (`Retry-After`) before
//! the password is even checked, so refused guesses cost the server nothing and teach the
//! guesser nothing. A correct password clears the account's counters. Counters are forgotten
//! after an hour without failures; the table is bounded. Pure and clock-injected: the server
//! keeps one [`Throttle`] in memory per instance (see docs/operations.md).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How the three counters behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures per account and address before delays start.
    pub free_per_pair: u32,
    /// Failures per address (all accounts) before delays start.
    pub free_per_address: u32,
    /// Failures per account (all addresses) before delays start.
    pub free_per_account: u32,
    /// The first delay; each further failure doubles it.
    pub base_delay: Duration,
    /// The longest delay per pair and per address.
    pub max_delay: Duration,
    /// The longest delay per account from all addresses: bounds how long anyone else can keep
    /// the real user waiting.
    pub max_account_delay: Duration,
    /// Counters with no failure for this long are forgotten.
    pub forget_after: Duration,
    /// The most counters kept; beyond it the stalest are dropped.
    pub max_entries: usize,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_per_pair: 5,
            free_per_address: 20,
            free_per_account: 20,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            max_account_delay: Duration::from_secs(30),
            forget_after: Duration::from_secs(3600),
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, IpAddr),
    Address(IpAddr),
    Account(String),
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    failures: u32,
    last: Instant,
}

/// Why an attempt is refused: how long to wait, and which counter said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
    pub scope: Scope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    AccountFromAddress,
    Address,
    Account,
}

impl Refused {
    /// Whole seconds for `Retry-After`, rounded up (never 0).
    pub fn retry_after_s(&self) -> u64 {
        self.retry_after.as_millis().div_ceil(1000).max(1) as u64
    }
}

/// The counters of one server instance.
#[derive(Debug, Default)]
pub struct Throttle {
    policy: ThrottlePolicy,
    counters: Mutex<HashMap<Key, Counter>>,
}

/// Usernames compare as the sign-in form treats them: trimmed, case-insensitive.
fn account(username: &str) -> String {
    username.trim().to_lowercase()
}

impl Throttle {
    pub fn new(policy: ThrottlePolicy) -> Throttle {
        Throttle { policy, counters: Mutex::default() }
    }

    fn keys(username: &str, address: IpAddr) -> [(Key, Scope); 3] {
        let a = account(username);
        [
            (Key::Pair(a.clone(), address), Scope::AccountFromAddress),
            (Key::Address(address), Scope::Address),
            (Key::Account(a), Scope::Account),
        ]
    }

    fn rule(&self, scope: Scope) -> (u32, Duration) {
        let p = &self.policy;
        match scope {
            Scope::AccountFromAddress => (p.free_per_pair, p.max_delay),
            Scope::Address => (p.free_per_address, p.max_delay),
            Scope::Account => (p.free_per_account, p.max_account_delay),
        }
    }

    /// The delay after `failures` failures under `scope`'s rule: none while free tries remain,
    /// then doubling from the base delay up to the scope's cap.
    pub fn delay(&self, scope: Scope, failures: u32) -> Duration {
        let (free, cap) = self.rule(scope);
        if failures < free {
            return Duration::ZERO;
        }
        let doublings = (failures - free).min(30);
        self.policy.base_delay.saturating_mul(1u32 << doublings).min(cap)
    }

    /// Whether a sign-in may be attempted now; the longest wait of the three counters if not.
    pub fn check(&self, username: &str, address: IpAddr, now: Instant) -> Result<(), Refused> {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let mut worst: Option<Refused> = None;
        for (key, scope) in Self::keys(username, address) {
            let Some(c) = counters.get(&key) else { continue };
            let until = c.last + self.delay(scope, c.failures);
            if until > now {
                let r = Refused { retry_after: until - now, scope };
                if worst.is_none_or(|w| r.retry_after > w.retry_after) {
                    worst = Some(r);
                }
            }
        }
        worst.map_or(Ok(()), Err)
    }

    /// Records a failed sign-in; returns the failures now counted for the account from this address.
    pub fn failed(&self, username: &str, address: IpAddr, now: Instant) -> u32 {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if counters.len() + 3 > self.policy.max_entries {
            self.prune(&mut counters, now);
        }
        let mut pair_failures = 0;
        for (key, scope) in Self::keys(username, address) {
            let c = counters.entry(key).or_insert(Counter { failures: 0, last: now });
            // A counter left alone long enough starts again.
            if now.saturating_duration_since(c.last) >= self.policy.forget_after {
                c.failures = 0;
            }
            c.failures = c.failures.saturating_add(1);
            c.last = now;
            if scope == Scope::AccountFromAddress {
                pair_failures = c.failures;
            }
        }
        pair_failures
    }

    /// A correct password: the account's counters start again (the address's stays, so a
    /// sprayer that knows one password is not reset by using it).
    pub fn succeeded(&self, username: &str, address: IpAddr) {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let a = account(username);
        counters.remove(&Key::Pair(a.clone(), address));
        counters.remove(&Key::Account(a));
    }

    fn prune(&self, counters: &mut HashMap<Key, Counter>, now: Instant) {
        counters.retain(|_, c| now.saturating_duration_since(c.last) < self.policy.forget_after);
        if counters.len() + 3 > self.policy.max_entries {
            // Still full of fresh counters (a flood): keep the most recent half.
            let mut lasts: Vec<Instant> = counters.values().map(|c| c.last).collect();
            lasts.sort_unstable();
            let cutoff = lasts[lasts.len() / 2];
            counters.retain(|_, c| c.last > cutoff);
        }
    }

    pub fn len(&self) -> usize {
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn delays_grow_after_the_free_tries_and_stop_at_the_cap() {
        let t = Throttle::default();
        let delays: Vec<u64> = (0..10).map(|n| t.delay(Scope::AccountFromAddress, n).as_secs()).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16]);
        assert_eq!(t.delay(Scope::AccountFromAddress, 40), Duration::from_secs(15 * 60));
        assert_eq!(t.delay(Scope::Account, 40), Duration::from_secs(30), "the account-wide delay is capped low");
        assert_eq!(t.delay(Scope::Address, u32::MAX), Duration::from_secs(15 * 60), "no overflow");
    }

    #[test]
    fn a_guesser_is_refused_until_the_delay_has_passed() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(t.check("Alice", ip(1), t0), Ok(()), "free try {i}");
            t.failed("Alice", ip(1), t0);
        }
        let r = t.check(" alice ", ip(1), t0).unwrap_err();
        assert_eq!(
            (r.scope, r.retry_after, r.retry_after_s()),
            (Scope::AccountFromAddress, S, 1),
            "names compare trimmed and case-insensitively"
        );
        assert_eq!(t.check("alice", ip(1), t0 + S), Ok(()));
        t.failed("alice", ip(1), t0 + S);
        assert_eq!(t.check("alice", ip(1), t0 + S).unwrap_err().retry_after, 2 * S, "doubles");
        assert_eq!(t.check("alice", ip(2), t0 + S), Ok(()), "the real user elsewhere is not held up");
        assert_eq!(t.check("bob", ip(1), t0 + S), Ok(()), "other accounts from the same place are not, yet");
    }

    #[test]
    fn an_address_spraying_accounts_is_slowed() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for i in 0..20 {
            t.failed(&format!("user{i}"), ip(9), t0);
        }
        let r = t.check("someone-new", ip(9), t0).unwrap_err();
        assert_eq!((r.scope, r.retry_after), (Scope::Address, S));
        assert_eq!(t.check("someone-new", ip(8), t0), Ok(()));
    }

    #[test]
    fn many_addresses_cannot_lock_an_account_for_longer_than_the_account_cap() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for i in 0..200u8 {
            t.failed("alice", ip(i), t0);
        }
        let r = t.check("alice", ip(250), t0).unwrap_err();
        assert_eq!(r.scope, Scope::Account);
        assert!(r.retry_after <= Duration::from_secs(30), "{r:?}");
        assert_eq!(t.check("alice", ip(250), t0 + Duration::from_secs(30)), Ok(()));
    }

    #[test]
    fn success_clears_the_account_and_old_failures_are_forgotten() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..6 {
            t.failed("alice", ip(1), t0);
        }
        assert!(t.check("alice", ip(1), t0).is_err());
        t.succeeded("alice", ip(1));
        assert_eq!(t.check("alice", ip(1), t0), Ok(()));
        for _ in 0..6 {
            t.failed("carol", ip(3), t0);
        }
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(t.check("carol", ip(3), later), Ok(()));
        assert_eq!(t.failed("carol", ip(3), later), 1, "counting starts again after an hour");
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = Throttle::new(ThrottlePolicy { max_entries: 100, ..Default::default() });
        let t0 = Instant::now();
        for i in 0..1000u32 {
            t.failed(&format!("u{i}"), IpAddr::from(i.to_be_bytes()), t0 + Duration::from_millis(i as u64));
        }
        assert!(t.len() <= 100, "{}", t.len());
    }
}
