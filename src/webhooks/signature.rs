//! Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-signature` is
//! `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, several space-separated during key
//! rotation; secrets are `whsec_<base64>`. Pure, so both directions are tested directly.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// A timestamp further than this from the receiver's clock is refused (replay window).
pub const TOLERANCE_S: i64 = 5 * 60;

/// A signing secret: the bytes behind `whsec_<base64>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    pub fn parse(s: &str) -> Result<Secret, String> {
        let b64 = s.trim().strip_prefix("whsec_").ok_or("a webhook secret starts with `whsec_`")?;
        let bytes = STANDARD.decode(b64).map_err(|_| "the part after `whsec_` is not valid base64".to_string())?;
        if bytes.len() < 24 {
            return Err("a webhook secret needs at least 24 random bytes".into());
        }
        Ok(Secret(bytes))
    }

    /// A short, one-way name for this secret (the audit trail records which secret was
    /// configured, never the secret): 16 hex digits of SHA-256 over a fixed label and its bytes.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let digest = Sha256::new().chain_update(b"nofx webhook secret fingerprint\0").chain_update(&self.0).finalize();
        hex::encode(&digest[..8])
    }

    pub fn generate() -> String {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        format!("whsec_{}", STANDARD.encode(bytes))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header value for one delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body).finalize().into_bytes()))
    }
}

/// Why an inbound delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Missing(&'static str),
    BadTimestamp,
    Stale,
    BadSignature,
}

impl Rejection {
    pub fn message(&self) -> String {
        match self {
            Rejection::Missing(h) => format!("The `{h}` header is missing; sign deliveries per Standard Webhooks."),
            Rejection::BadTimestamp => "`webhook-timestamp` must be Unix seconds.".into(),
            Rejection::Stale => format!(
                "`webhook-timestamp` is more than {} minutes away from the server's clock; send a fresh delivery.",
                TOLERANCE_S / 60
            ),
            Rejection::BadSignature => "No `v1` signature in `webhook-signature` matches this body with the configured secret.".into(),
        }
    }
}

/// Checks a delivery: timestamp within the tolerance of `now_s`, and any `v1` signature valid
/// (compared in constant time by the HMAC library).
pub fn verify(
    secret: &Secret,
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_s: i64,
) -> Result<(), Rejection> {
    let id = id.filter(|v| !v.is_empty()).ok_or(Rejection::Missing(HEADER_ID))?;
    let ts = timestamp.ok_or(Rejection::Missing(HEADER_TIMESTAMP))?;
    let signature = signature.ok_or(Rejection::Missing(HEADER_SIGNATURE))?;
    let ts: i64 = ts.trim().parse().map_err(|_| Rejection::BadTimestamp)?;
    // `abs_diff` cannot overflow, whatever the sender puts in the header.
    if now_s.abs_diff(ts) > TOLERANCE_S.unsigned_abs() {
        return Err(Rejection::Stale);
    }
    for candidate in signature.split_whitespace() {
        let Some(b64) = candidate.strip_prefix("v1,") else { continue };
        let Ok(given) = STANDARD.decode(b64) else { continue };
        if secret.mac(id, ts, body).verify_slice(&given).is_ok() {
            return Ok(());
        }
    }
    Err(Rejection::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example from the Standard Webhooks specification's reference test vectors.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1614265330;
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn matches_the_specification_vector() {
        let s = Secret::parse(SPEC_SECRET).unwrap();
        assert_eq!(s.sign(SPEC_ID, SPEC_TS, SPEC_BODY.as_bytes()), SPEC_SIG);
        assert_eq!(verify(&s, Some(SPEC_ID), Some("1614265330"), Some(SPEC_SIG), SPEC_BODY.as_bytes(), SPEC_TS + 10), Ok(()));
    }

    #[test]
    fn refuses_tampering_staleness_and_missing_headers() {
        let s = Secret::parse(SPEC_SECRET).unwrap();
        let body = SPEC_BODY.as_bytes();
        let ok = |sig: &str, ts: &str, now: i64| verify(&s, Some(SPEC_ID), Some(ts), Some(sig), body, now);
        assert_eq!(verify(&s, Some(SPEC_ID), Some("1614265330"), Some(SPEC_SIG), br#"{"test": 1}"#, SPEC_TS), Err(Rejection::BadSignature));
        assert_eq!(verify(&s, Some("msg_other"), Some("1614265330"), Some(SPEC_SIG), body, SPEC_TS), Err(Rejection::BadSignature));
        assert_eq!(ok(SPEC_SIG, "1614265330", SPEC_TS + TOLERANCE_S + 1), Err(Rejection::Stale));
        assert_eq!(ok(SPEC_SIG, "1614265330", SPEC_TS - TOLERANCE_S - 1), Err(Rejection::Stale), "from the future too");
        assert_eq!(ok(SPEC_SIG, "yesterday", SPEC_TS), Err(Rejection::BadTimestamp));
        // `now - ts` would wrap around to a small number for these; they are simply stale.
        for far in [i64::MIN, i64::MIN + 1, SPEC_TS - i64::MAX, i64::MAX] {
            assert_eq!(ok(SPEC_SIG, &far.to_string(), SPEC_TS), Err(Rejection::Stale), "{far}");
        }
        assert_eq!(ok("v2,abc v1,!!!", "1614265330", SPEC_TS), Err(Rejection::BadSignature));
        assert_eq!(ok(&format!("v1,bm90IGl0 {SPEC_SIG}"), "1614265330", SPEC_TS), Ok(()), "any of several signatures (key rotation)");
        assert_eq!(verify(&s, None, Some("1"), Some(SPEC_SIG), body, 1), Err(Rejection::Missing(HEADER_ID)));
        assert_eq!(verify(&s, Some(SPEC_ID), None, Some(SPEC_SIG), body, 1), Err(Rejection::Missing(HEADER_TIMESTAMP)));
        assert_eq!(verify(&s, Some(SPEC_ID), Some("1"), None, body, 1), Err(Rejection::Missing(HEADER_SIGNATURE)));
        let other = Secret::parse(&Secret::generate()).unwrap();
        assert_eq!(verify(&other, Some(SPEC_ID), Some("1614265330"), Some(SPEC_SIG), body, SPEC_TS), Err(Rejection::BadSignature));
    }

    #[test]
    fn secrets_must_be_whsec_base64_and_long_enough() {
        assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(Secret::parse("whsec_%%%").is_err());
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err(), "5 bytes is too short");
        assert!(Secret::parse(&Secret::generate()).is_ok());
        assert_eq!(format!("{:?}", Secret::parse(SPEC_SECRET).unwrap()), "Secret(…)", "never printed");
    }
}
