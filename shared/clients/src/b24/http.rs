//! One HTTP exchange with a portal and the reading of its answer.
//!
//! Answers are read the same way whatever the status: a body with an `error` key is an
//! error (classic: a string code plus `error_description`; REST 3.0: an object with `code`
//! and `message`), even under 200 (`placement.bind` does that); otherwise `{result, total,
//! next, time}`. Redirects are never followed by reqwest (it would turn a POST into a GET);
//! [`post`] reports a 301/302/307/308 and the client re-sends the same POST to the new host
//! — only when [`redirect_allowed`] says the host is the portal's (the POST carries the
//! access token, and the new host becomes the stored `client_endpoint`). A 303 is never a
//! domain change and is an error.

use super::error::B24Error;
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// A successful classic answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub result: Value,
    /// List methods: how many items match.
    pub total: Option<u64>,
    /// List methods: `start` of the next page; `None` on the last one.
    pub next: Option<u64>,
    /// Timing, including `operating` and `operating_reset_at` (the method's time budget).
    pub time: Option<Value>,
}

pub(crate) enum Sent {
    Answer(Result<Reply, B24Error>),
    /// 301/302/307/308: the portal moved; `Location`, resolved against the request URL.
    Moved(Url),
}

/// reqwest without redirects, with B24's own 60 s cut-off as timeout.
pub(crate) fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("confluence-b24-bridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// reqwest's messages quote the URL, which may hold a webhook secret or a token.
pub(crate) fn transport(method: &str, e: reqwest::Error) -> B24Error {
    B24Error::Transport {
        method: method.to_owned(),
        reason: e.without_url().to_string(),
    }
}

/// POSTs `body` (JSON) to `url`, with `headers` besides the JSON ones.
pub(crate) async fn post(
    http: &reqwest::Client,
    url: &Url,
    method: &str,
    body: Vec<u8>,
    headers: &[(&'static str, String)],
) -> Result<Sent, B24Error> {
    let mut request = http
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let resp = request
        .body(body)
        .send()
        .await
        .map_err(|e| transport(method, e))?;
    let status = resp.status().as_u16();
    if status == 303 {
        // "See Other" asks for a GET elsewhere: not what a moved portal answers, and a POST
        // with the token must not go anywhere else on its say-so.
        return Err(B24Error::Redirect {
            method: method.to_owned(),
            reason: "HTTP 303 is not followed".into(),
        });
    }
    if matches!(status, 301 | 302 | 307 | 308) {
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| B24Error::Redirect {
                method: method.to_owned(),
                reason: format!("HTTP {status} without Location"),
            })?;
        let target = url.join(location).map_err(|_| B24Error::Redirect {
            method: method.to_owned(),
            reason: "unreadable Location".into(),
        })?;
        return Ok(Sent::Moved(target));
    }
    let retry_after = retry_after_header(resp.headers());
    let bytes = resp.bytes().await.map_err(|e| transport(method, e))?;
    Ok(Sent::Answer(parse(method, status, retry_after, &bytes)))
}

/// Bitrix24 cloud zones: a portal lives at `{name}.{zone}`.
const B24_CLOUD_ZONES: &[&str] = &[
    "bitrix24.ru",
    "bitrix24.by",
    "bitrix24.kz",
    "bitrix24.ua",
    "bitrix24.uz",
    "bitrix24.com",
    "bitrix24.de",
    "bitrix24.eu",
    "bitrix24.es",
    "bitrix24.fr",
    "bitrix24.it",
    "bitrix24.pl",
    "bitrix24.uk",
    "bitrix24.in",
    "bitrix24.cn",
    "bitrix24.jp",
    "bitrix24.tr",
    "bitrix24.vn",
    "bitrix24.id",
    "bitrix24.com.br",
    "bitrix24.com.tr",
];

/// Second-level labels under a two-letter country code that are public suffixes themselves
/// (`co.uk`, `com.br`, `msk.ru`…): the registrable part then has three labels. A small list
/// rather than the whole public-suffix list: it only has to keep `example.co.uk` from
/// matching every other `*.co.uk`.
const PUBLIC_SECOND_LEVELS: &[&str] = &[
    "co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "in", "msk", "spb", "kiev",
];

/// A host name lower-cased, without a trailing dot, brackets or port.
fn normalize_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    if let Some(inner) = host.strip_prefix('[') {
        // `[::1]` or `[::1]:443`.
        return inner.split(']').next().unwrap_or_default().to_owned();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            name.to_owned()
        }
        _ => host,
    }
}

fn is_ip_literal(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

/// The registrable part of a host name (`portal.example.com` → `example.com`,
/// `b24.example.co.uk` → `example.co.uk`); `None` for an IP literal or a single label.
pub fn registrable_part(host: &str) -> Option<String> {
    let host = normalize_host(host);
    if host.is_empty() || is_ip_literal(&host) {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return None;
    }
    let n = labels.len();
    let tld = labels[n - 1];
    let take = if tld.len() == 2 && PUBLIC_SECOND_LEVELS.contains(&labels[n - 2]) {
        3
    } else {
        2
    };
    (n >= take).then(|| labels[n - take..].join("."))
}

/// Whether a portal's request (which carries its token) may be re-sent to `target_host`
/// after a redirect: a portal of a Bitrix24 cloud zone (`*.bitrix24.ru`, `*.bitrix24.com`…),
/// or a host with the same registrable part as the portal's installed domain (a self-hosted
/// portal moving within its own domain). Never an IP literal or any other host — except the
/// hosts in `extra`, matched exactly (tests, or an operator who knows the portal's new
/// address).
pub fn redirect_allowed(target_host: &str, installed_domain: &str, extra: &[String]) -> bool {
    let host = normalize_host(target_host);
    if host.is_empty() {
        return false;
    }
    if extra.iter().any(|e| normalize_host(e) == host) {
        return true;
    }
    if is_ip_literal(&host) {
        return false;
    }
    if B24_CLOUD_ZONES.iter().any(|zone| {
        host.strip_suffix(zone)
            .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
    }) {
        return true;
    }
    match (registrable_part(&host), registrable_part(installed_domain)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Reads an answer of the classic API, REST 3.0 or the OAuth server.
pub(crate) fn parse(
    method: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<Reply, B24Error> {
    let json: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) if (200..300).contains(&status) => {
            return Err(B24Error::Decode {
                method: method.to_owned(),
                status,
                reason: e.to_string(),
            });
        }
        // An error page (proxy, maintenance): classified by status.
        Err(_) => {
            return Err(api(
                method,
                status,
                &format!("HTTP_{status}"),
                "",
                retry_after,
            ));
        }
    };
    if let Some(err) = json.get("error").filter(|e| !e.is_null()) {
        let (code, description) = match err {
            Value::Object(o) => (
                o.get("code").map(text).unwrap_or_default(),
                with_validation(
                    o.get("message").map(text).unwrap_or_default(),
                    o.get("validation"),
                ),
            ),
            other => (
                text(other),
                json.get("error_description").map(text).unwrap_or_default(),
            ),
        };
        let retry_after = retry_after.or_else(|| {
            (code == "OPERATION_TIME_LIMIT")
                .then(|| json.get("time").and_then(until_operating_reset))
                .flatten()
        });
        return Err(api(method, status, &code, &description, retry_after));
    }
    if !(200..300).contains(&status) {
        return Err(api(
            method,
            status,
            &format!("HTTP_{status}"),
            "",
            retry_after,
        ));
    }
    // REST 3.0's `rest.documentation.openapi` answers with the bare OpenAPI document; every
    // other success carries `result`.
    let result = match json.get("result") {
        Some(r) => r.clone(),
        None if json.get("openapi").is_some() || json.get("paths").is_some() => json.clone(),
        None => Value::Null,
    };
    Ok(Reply {
        result,
        total: json.get("total").and_then(number),
        next: json.get("next").and_then(number),
        time: json.get("time").cloned(),
    })
}

/// REST 3.0's `validation` list (`[{field, message}]`) folded into the description, so a
/// dead letter says which field B24 refused.
fn with_validation(message: String, validation: Option<&Value>) -> String {
    let Some(Value::Array(items)) = validation else {
        return message;
    };
    let details: Vec<String> = items
        .iter()
        .map(|v| {
            let field = v.get("field").map(text).unwrap_or_default();
            let msg = v.get("message").map(text).unwrap_or_default();
            if field.is_empty() {
                msg
            } else {
                format!("{field}: {msg}")
            }
        })
        .filter(|s| !s.is_empty())
        .collect();
    if details.is_empty() {
        message
    } else {
        format!("{message} ({})", details.join("; "))
    }
}

fn api(
    method: &str,
    status: u16,
    code: &str,
    description: &str,
    retry_after: Option<Duration>,
) -> B24Error {
    // Descriptions are the vendor's prose; cap them so a verbose page cannot flood a log.
    let description: String = description.chars().take(300).collect();
    B24Error::Api {
        method: method.to_owned(),
        status,
        code: code.to_owned(),
        description,
        retry_after,
    }
}

/// Time left until `time.operating_reset_at` (unix seconds), if it is in the future.
pub(crate) fn until_operating_reset(time: &Value) -> Option<Duration> {
    let at = time.get("operating_reset_at").and_then(number)?;
    let now = chrono::Utc::now().timestamp();
    let at = i64::try_from(at).ok()?;
    (at > now).then(|| Duration::from_secs(u64::try_from(at - now).unwrap_or(0)))
}

/// A string, or a number/bool as text (B24 sends scalars either way).
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A non-negative integer sent as a number or a string.
pub(crate) fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_parts() {
        assert_eq!(
            registrable_part("portal.example.com").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            registrable_part("A.B.Example.COM.").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            registrable_part("b24.example.co.uk").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(
            registrable_part("acme.bitrix24.com.br").as_deref(),
            Some("bitrix24.com.br")
        );
        assert_eq!(
            registrable_part("portal.example.com:8443").as_deref(),
            Some("example.com")
        );
        assert_eq!(registrable_part("co.uk"), None);
        assert_eq!(registrable_part("localhost"), None);
        assert_eq!(registrable_part("127.0.0.1"), None);
        assert_eq!(registrable_part("[::1]:80"), None);
    }

    #[test]
    fn redirects_are_followed_only_to_the_portals_hosts() {
        let none: &[String] = &[];
        // Bitrix24 cloud zones, whatever the installed domain.
        for host in [
            "acme.bitrix24.ru",
            "acme.bitrix24.com",
            "new-name.bitrix24.de",
            "x.bitrix24.eu",
            "x.bitrix24.by",
            "x.bitrix24.kz",
            "x.bitrix24.ua",
            "x.bitrix24.com.br",
            "ACME.Bitrix24.RU.",
        ] {
            assert!(redirect_allowed(host, "old.bitrix24.ru", none), "{host}");
        }
        // The installed domain's registrable part (self-hosted portals).
        assert!(redirect_allowed(
            "b24-new.example.com",
            "b24.example.com",
            none
        ));
        assert!(redirect_allowed("example.com", "b24.example.com:443", none));
        assert!(redirect_allowed(
            "new.example.co.uk",
            "old.example.co.uk",
            none
        ));
        // Anything else.
        for host in [
            "evil.example",
            "bitrix24.ru",
            "evilbitrix24.ru",
            "acme.bitrix24.ru.evil.example",
            "bitrix24.ru.evil.example",
            "other.co.uk",
            "example.com.evil.example",
            "127.0.0.1",
            "10.0.0.5",
            "169.254.169.254",
            "[::1]",
            "::1",
            "",
        ] {
            assert!(!redirect_allowed(host, "b24.example.com", none), "{host}");
        }
        assert!(!redirect_allowed("other.co.uk", "old.example.co.uk", none));
        // An IP-literal installed domain allows nothing by itself …
        assert!(!redirect_allowed("127.0.0.2", "127.0.0.1:8080", none));
        assert!(!redirect_allowed("127.0.0.1", "127.0.0.1:8080", none));
        // … but a configured extra host is allowed exactly.
        let extra = vec!["127.0.0.1".to_owned(), "Moved.Example.NET".to_owned()];
        assert!(redirect_allowed("127.0.0.1", "b24.example.com", &extra));
        assert!(redirect_allowed(
            "moved.example.net",
            "b24.example.com",
            &extra
        ));
        assert!(!redirect_allowed("127.0.0.2", "b24.example.com", &extra));
        assert!(!redirect_allowed(
            "other.example.net",
            "b24.example.com",
            &extra
        ));
    }

    #[test]
    fn shapes() {
        let ok = parse(
            "m",
            200,
            None,
            br#"{"result":[1],"total":"70","next":50,"time":{}}"#,
        )
        .unwrap();
        assert_eq!((ok.total, ok.next), (Some(70), Some(50)));
        let e = parse(
            "m",
            200,
            None,
            br#"{"error":"ERROR_ARGUMENT","error_description":"x"}"#,
        )
        .unwrap_err();
        assert!(e.is_code("ERROR_ARGUMENT"));
        let e = parse(
            "m",
            403,
            None,
            br#"{"error":{"code":"BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION","message":"no"}}"#,
        )
        .unwrap_err();
        assert!(e.is_code("BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION"));
        let e = parse("m", 502, None, b"<html>bad gateway</html>").unwrap_err();
        assert_eq!(e.class(), bridge_core::ErrorClass::Retryable);
        let reset = chrono::Utc::now().timestamp() + 120;
        let body = format!(
            r#"{{"error":"OPERATION_TIME_LIMIT","error_description":"x","time":{{"operating_reset_at":{reset}}}}}"#
        );
        let e = parse("m", 429, None, body.as_bytes()).unwrap_err();
        assert!(e.retry_after().unwrap() > Duration::from_secs(100));
    }
}
