//! One HTTP exchange with a portal and the reading of its answer.
//!
//! Answers are read the same way whatever the status: a body with an `error` key is an
//! error (classic: a string code plus `error_description`; REST 3.0: an object with `code`
//! and `message`), even under 200 (`placement.bind` does that); otherwise `{result, total,
//! next, time}`. Redirects are never followed by reqwest (it would turn a POST into a GET);
//! [`post`] reports them and the client re-sends the same POST to the new host.

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
    /// 301/302/303/307/308: the portal moved; `Location`, resolved against the request URL.
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

/// POSTs `body` (JSON) to `url`.
pub(crate) async fn post(
    http: &reqwest::Client,
    url: &Url,
    method: &str,
    body: Vec<u8>,
) -> Result<Sent, B24Error> {
    let resp = http
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| transport(method, e))?;
    let status = resp.status().as_u16();
    if matches!(status, 301 | 302 | 303 | 307 | 308) {
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
                o.get("message").map(text).unwrap_or_default(),
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
    Ok(Reply {
        result: json.get("result").cloned().unwrap_or(Value::Null),
        total: json.get("total").and_then(number),
        next: json.get("next").and_then(number),
        time: json.get("time").cloned(),
    })
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
