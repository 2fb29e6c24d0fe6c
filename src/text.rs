//! Numbers as people read them, written the same way on every page and in every gate reason.

use std::fmt;

/// A duration in milliseconds: `850 ms`, `1.5 s`, `42 s`, `4 min 05 s`, `2 h 10 min`, `3 d 4 h`.
/// A `Display` type rather than a `String` function, so the gates write it into their reasons
/// without an allocation per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub i64);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.max(0);
        match ms / 1000 {
            0 => write!(f, "{ms} ms"),
            s if s < 10 && ms % 1000 >= 100 => write!(f, "{s}.{} s", (ms % 1000) / 100),
            s if s < 60 => write!(f, "{s} s"),
            s if s < 3600 => write!(f, "{} min {:02} s", s / 60, s % 60),
            s if s < 86_400 => write!(f, "{} h {} min", s / 3600, (s % 3600) / 60),
            s => write!(f, "{} d {} h", s / 86_400, (s % 86_400) / 3600),
        }
    }
}

/// Minutes of estimated work: `—` for none, `45 min`, `2 h`, `1 h 30 min`.
pub fn minutes(m: i64) -> String {
    match m {
        m if m <= 0 => "—".into(),
        m if m < 60 => format!("{m} min"),
        m if m % 60 == 0 => format!("{} h", m / 60),
        m => format!("{} h {} min", m / 60, m % 60),
    }
}

/// "1 step", "3 steps".
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// "2026-11-25 04:31 UTC": absolute, so server and browser (and every text) agree.
pub fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

/// A query value or path, percent-encoded: everything but unreserved characters and the `/`, `:`
/// and `*` a query may hold as they are.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b':' | b'*' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        let cases = [
            (-5, "0 ms"),
            (850, "850 ms"),
            (1_000, "1 s"),
            (1_540, "1.5 s"),
            (9_999, "9.9 s"),
            (42_000, "42 s"),
            (245_000, "4 min 05 s"),
            (7_800_000, "2 h 10 min"),
            (3 * 86_400_000 + 4 * 3_600_000, "3 d 4 h"),
        ];
        for (ms, text) in cases {
            assert_eq!(Duration(ms).to_string(), text, "{ms} ms");
        }
    }

    #[test]
    fn minutes_read_naturally() {
        assert_eq!(minutes(0), "—");
        assert_eq!(minutes(45), "45 min");
        assert_eq!(minutes(120), "2 h");
        assert_eq!(minutes(90), "1 h 30 min");
    }
}
