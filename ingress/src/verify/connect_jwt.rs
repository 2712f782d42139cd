//! Confluence Cloud (Connect) deliveries: `Authorization: JWT <token>` (or a `jwt` query
//! parameter), HS256-signed with the install's shared secret, whose `qsh` claim binds it to
//! this exact request: hex SHA-256 of `METHOD&path&query` with the path relative to the
//! app's base URL and the query canonicalised (sorted, `jwt` left out, RFC 3986 encoding,
//! repeated values comma-joined).
//!
//! HS256 verification is a few lines over RustCrypto's HMAC; a general JWT crate would bring
//! RSA and elliptic-curve stacks into the ingress for an algorithm we must refuse anyway.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Clock skew tolerated on `exp`.
const LEEWAY_SECS: i64 = 60;

#[derive(Debug, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub exp: i64,
    #[serde(default)]
    pub qsh: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
}

/// The token's claims, unverified: only to find which install's secret to verify with.
pub fn unverified_issuer(token: &str) -> Result<String, &'static str> {
    let (_, payload, _) = split(token)?;
    let claims: Claims = decode_part(payload)?;
    Ok(claims.iss)
}

/// Verifies `token` with `secret` for the request `method path?query` (`path` already
/// relative to the app's base URL). Returns the claims.
pub fn verify(
    token: &str,
    secret: &[u8],
    method: &str,
    path: &str,
    query: Option<&str>,
    now: i64,
) -> Result<Claims, &'static str> {
    let (header, payload, signature) = split(token)?;
    let h: Header = decode_part(header)?;
    if h.alg != "HS256" {
        return Err("JWT algorithm must be HS256");
    }
    let sig = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "JWT signature is not base64url")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| "bad secret")?;
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| "JWT signature does not verify")?;
    let claims: Claims = decode_part(payload)?;
    if claims.exp + LEEWAY_SECS < now {
        return Err("JWT expired");
    }
    let expected = query_string_hash(method, path, query);
    match &claims.qsh {
        Some(qsh) if constant_eq(qsh.as_bytes(), expected.as_bytes()) => Ok(claims),
        Some(_) => Err("JWT qsh does not match the request"),
        None => Err("JWT has no qsh claim"),
    }
}

fn split(token: &str) -> Result<(&str, &str, &str), &'static str> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Ok((h, p, s)),
        _ => Err("not a JWT"),
    }
}

fn decode_part<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, &'static str> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| "JWT part is not base64url")?;
    serde_json::from_slice(&bytes).map_err(|_| "JWT part is not the expected JSON")
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// The `qsh` of a request.
pub fn query_string_hash(method: &str, path: &str, query: Option<&str>) -> String {
    let canonical = canonical_request(method, path, query);
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn canonical_request(method: &str, path: &str, query: Option<&str>) -> String {
    let mut path = path.trim_end_matches('/').to_owned();
    if path.is_empty() {
        path.push('/');
    }
    let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k != "jwt" {
            params
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
    }
    let query = params
        .into_iter()
        .map(|(k, mut values)| {
            values.sort();
            let joined: Vec<String> = values.iter().map(|v| encode(v)).collect();
            format!("{}={}", encode(&k), joined.join(","))
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{}&{path}&{query}", method.to_ascii_uppercase())
}

/// RFC 3986 percent-encoding: everything but unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], claims: serde_json::Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{h}.{p}.{s}")
    }

    #[test]
    fn canonical_request_follows_the_documented_rules() {
        assert_eq!(
            canonical_request("post", "/hooks/page_updated/", None),
            "POST&/hooks/page_updated&"
        );
        assert_eq!(
            canonical_request("GET", "", Some("b=2&a=x y&jwt=zzz&a=1")),
            "GET&/&a=1,x%20y&b=2"
        );
    }

    #[test]
    fn verifies_signature_expiry_and_qsh() {
        let now = 1_800_000_000;
        let qsh = query_string_hash("POST", "/h/page_updated", Some("s=1"));
        let good = sign(
            b"k",
            serde_json::json!({"iss": "client", "exp": now + 60, "qsh": qsh}),
        );
        assert_eq!(unverified_issuer(&good).unwrap(), "client");
        assert!(
            verify(
                &good,
                b"k",
                "POST",
                "/h/page_updated",
                Some("s=1&jwt=x"),
                now
            )
            .is_ok()
        );
        assert_eq!(
            verify(&good, b"other", "POST", "/h/page_updated", Some("s=1"), now).unwrap_err(),
            "JWT signature does not verify"
        );
        assert_eq!(
            verify(&good, b"k", "POST", "/h/page_created", Some("s=1"), now).unwrap_err(),
            "JWT qsh does not match the request"
        );
        assert_eq!(
            verify(
                &good,
                b"k",
                "POST",
                "/h/page_updated",
                Some("s=1"),
                now + 3600
            )
            .unwrap_err(),
            "JWT expired"
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(b"{}")
        );
        assert!(verify(&none, b"k", "POST", "/", None, now).is_err());
        assert!(verify("garbage", b"k", "POST", "/", None, now).is_err());
    }
}
