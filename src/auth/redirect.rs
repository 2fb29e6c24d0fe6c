//! Where the browser may be sent after signing in (`?next=`) or after a failed form post: only
//! a path on this site, parsed as a URL the way a browser would parse it, never a string that
//! merely starts with `/`.

use url::Url;

/// Any host works as the base: only whether the target stays on it matters.
const BASE: &str = "http://nofx.invalid/";

/// The same-origin path (with its query) that `next` names, re-serialised so it is plain ASCII
/// and safe in a `Location` header; `None` for anything that could leave the site or that a
/// browser would read differently from us: another scheme or host, `//host`, `/\host`,
/// backslashes and control characters anywhere (a browser drops tabs and newlines, so
/// `/\t/evil` is `//evil`), and anything that does not start with `/`.
pub fn safe_local_path(next: &str) -> Option<String> {
    if !next.starts_with('/') || next.chars().any(|c| c == '\\' || c.is_control()) {
        return None;
    }
    let base = Url::parse(BASE).ok()?;
    let url = base.join(next).ok()?;
    if url.origin() != base.origin() || url.username() != "" || url.password().is_some() {
        return None;
    }
    let path = url.path();
    // `/.//evil` resolves to the path `//evil`, which a browser would read as a host.
    if path.starts_with("//") {
        return None;
    }
    Some(match url.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    })
}

/// [`safe_local_path`] with the page to use when `next` is missing or refused.
pub fn after_login(next: &str) -> String {
    safe_local_path(next).unwrap_or_else(|| "/backlog".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_kept() {
        for (given, kept) in [
            ("/approvals", "/approvals"),
            ("/approvals?status=pending&tool=deploy%3Aprod", "/approvals?status=pending&tool=deploy%3Aprod"),
            ("/plans/3?step=a", "/plans/3?step=a"),
            ("/backlog/../approvals", "/approvals"),
            ("/ünï", "/%C3%BCn%C3%AF"),
            ("/a b", "/a%20b"),
        ] {
            assert_eq!(safe_local_path(given).as_deref(), Some(kept), "{given:?}");
        }
    }

    #[test]
    fn anything_that_could_leave_the_site_is_refused() {
        for given in [
            "",
            "backlog",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/%0A",
            "/x\r\nSet-Cookie: a=b",
            "/\u{0}",
            "https://evil.example/",
            "http:evil.example",
            "javascript:alert(1)",
            " /backlog",
            "/.//evil.example",
            "/%2F/evil.example",
        ] {
            // Encoded paths (`/%0A`, `/%2F/…`) are harmless, as a browser does not decode them
            // into separators: they may be kept, but never with a raw newline or as `//`.
            match safe_local_path(given) {
                None => {}
                Some(p) => {
                    assert!(p.starts_with('/') && !p.starts_with("//"), "{given:?} → {p:?}");
                    assert!(!p.chars().any(|c| c.is_control() || c == '\\'), "{given:?} → {p:?}");
                    assert!(http::HeaderValue::from_str(&p).is_ok(), "{given:?} → {p:?}");
                    assert!(matches!(given, "/%0A" | "/%2F/evil.example"), "{given:?} should have been refused, got {p:?}");
                }
            }
        }
        assert_eq!(after_login("//evil.example"), "/backlog");
        assert_eq!(after_login("/approvals"), "/approvals");
    }
}
