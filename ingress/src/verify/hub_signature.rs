//! Confluence Data Center webhooks: `X-Hub-Signature` carries HMAC-SHA256 of the raw body
//! with the shared secret, as lowercase hex, with or without a `sha256=` prefix (the prefix
//! is not confirmed for Confluence, so both are accepted).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Ok when `header` is the HMAC of `body` under `secret`.
pub fn verify(secret: &[u8], header: Option<&str>, body: &[u8]) -> Result<(), &'static str> {
    let header = header.ok_or("missing X-Hub-Signature")?.trim();
    let hex = header.strip_prefix("sha256=").unwrap_or(header);
    let expected = decode_hex(hex).ok_or("X-Hub-Signature is not hex")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| "bad secret")?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| "X-Hub-Signature does not match the body")
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn accepts_both_forms_and_rejects_forgeries() {
        let sig = sign(b"s3cret", b"{}");
        assert!(verify(b"s3cret", Some(&sig), b"{}").is_ok());
        assert!(verify(b"s3cret", Some(&format!("sha256={sig}")), b"{}").is_ok());
        assert!(verify(b"other", Some(&sig), b"{}").is_err());
        assert!(verify(b"s3cret", Some(&sig), b"{ }").is_err());
        assert!(verify(b"s3cret", None, b"{}").is_err());
        assert!(verify(b"s3cret", Some("zz"), b"{}").is_err());
        assert!(verify(b"s3cret", Some("é1"), b"{}").is_err());
    }
}
