//! The one place that sends requests: authentication, the host guard, error mapping,
//! `Retry-After` (clamped) and a bounded number of in-process retries (`backon`); longer
//! waits are handed back to the broker as retryable errors.

use super::config::{Auth, ConfluenceSettings};
use super::error::ConfluenceError;
use super::oauth::OAuthTokens;
use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, LINK, LOCATION, RETRY_AFTER};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Used when a 429 names no delay.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(2);
/// Vendor messages are cut to this many characters in errors.
const MAX_MESSAGE: usize = 300;
/// Slowest transfer (bytes per second) a download is given time for, on top of the
/// request timeout.
const MIN_DOWNLOAD_RATE: u64 = 256 * 1024;
/// A download buffer is reserved up to this size from `Content-Length`; beyond, it grows.
const MAX_PREALLOCATION: u64 = 8 * 1024 * 1024;

/// A successful JSON answer and its `Link: <…>; rel="next"`, if any.
pub(crate) struct Answer {
    pub body: Value,
    pub link_next: Option<String>,
}

enum AuthState {
    /// Basic or PAT: a fixed header.
    Static(HeaderValue),
    OAuth(Arc<OAuthTokens>),
}

pub(crate) struct Http {
    client: reqwest::Client,
    /// The API base without a trailing slash.
    base: Url,
    /// Its path without a trailing slash (empty for a site at the root).
    base_path: String,
    auth: AuthState,
    timeout: Duration,
    max_retries: usize,
    min_backoff: Duration,
    max_retry_after: Duration,
    max_inline_wait: Duration,
}

/// Redirects are followed only within one origin, so credentials and requests never leave
/// the configured host; a cross-origin redirect comes back as a 3xx and is refused.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, ConfluenceError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same = attempt
                .previous()
                .last()
                .is_some_and(|prev| prev.origin() == attempt.url().origin());
            if same && attempt.previous().len() < 5 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .build()
        .map_err(|e| ConfluenceError::NotConfigured(format!("HTTP client: {e}")))
}

fn sensitive(value: String) -> Result<HeaderValue, ConfluenceError> {
    let mut v = HeaderValue::from_str(&value).map_err(|_| {
        ConfluenceError::NotConfigured(
            "credentials contain characters not allowed in a header".into(),
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

pub(crate) fn bearer(token: &str) -> Result<HeaderValue, ConfluenceError> {
    sensitive(format!("Bearer {token}"))
}

impl Http {
    pub fn new(settings: &ConfluenceSettings) -> Result<Self, ConfluenceError> {
        let mut base = settings.base_url.clone();
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(ConfluenceError::NotConfigured(
                "the Confluence base URL must be an http(s) URL with a host".into(),
            ));
        }
        base.set_query(None);
        base.set_fragment(None);
        let base_path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&base_path);
        let client = http_client(settings.timeout)?;
        let auth = match &settings.auth {
            Auth::Basic { user, secret } => {
                use base64::Engine;
                let raw = format!("{user}:{}", secret.expose());
                AuthState::Static(sensitive(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))?)
            }
            Auth::Pat(pat) => AuthState::Static(bearer(pat.expose())?),
            Auth::OAuth(o) => {
                AuthState::OAuth(Arc::new(OAuthTokens::new(o.clone(), client.clone())))
            }
        };
        Ok(Self {
            client,
            base,
            base_path,
            auth,
            timeout: settings.timeout,
            max_retries: settings.max_retries,
            min_backoff: settings.min_backoff,
            max_retry_after: settings.max_retry_after,
            max_inline_wait: settings.max_inline_wait,
        })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    pub fn oauth(&self) -> Option<&Arc<OAuthTokens>> {
        match &self.auth {
            AuthState::OAuth(o) => Some(o),
            AuthState::Static(_) => None,
        }
    }

    /// `base` + `path` (starting with `/`) with `query` pairs, encoded.
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{path}", self.base_path));
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// Refuses any URL off the configured origin (scheme, host and port).
    pub fn check_host(&self, url: &Url) -> Result<(), ConfluenceError> {
        if url.origin() == self.base.origin() {
            Ok(())
        } else {
            Err(ConfluenceError::ForeignHost {
                host: url.host_str().unwrap_or("?").to_owned(),
            })
        }
    }

    /// The URL of the next page, from the body's `_links.next` or the `Link` header, or
    /// `None` on the last page. A relative `next` that repeats the endpoint's path (the usual
    /// case) keeps the endpoint actually called and takes only its query, so paging works
    /// through the OAuth gateway too (whose paths differ from the site's); other relative
    /// links are resolved against the site root when they carry the base path (`/wiki/…`),
    /// else against the base. Absolute links to another host are refused.
    pub fn next_url(&self, current: &Url, answer: &Answer) -> Result<Option<Url>, ConfluenceError> {
        let next = answer
            .body
            .pointer("/_links/next")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .or(answer.link_next.as_deref());
        let Some(next) = next else { return Ok(None) };
        if next.starts_with("http://") || next.starts_with("https://") || next.starts_with("//") {
            let url = self
                .base
                .join(next)
                .map_err(|_| ConfluenceError::decode("next link", "not a URL"))?;
            self.check_host(&url)?;
            return Ok(Some(url));
        }
        let (path, query) = next.split_once('?').unwrap_or((next, ""));
        let rel_current = current
            .path()
            .strip_prefix(self.base_path.as_str())
            .unwrap_or(current.path());
        if !rel_current.is_empty() && path.ends_with(rel_current) {
            let mut url = current.clone();
            url.set_query((!query.is_empty()).then_some(query));
            return Ok(Some(url));
        }
        let base_path = self.base_path.as_str();
        let joined = if !base_path.is_empty() && path.starts_with(&format!("{base_path}/")) {
            let mut root = self.base.clone();
            root.set_path("/");
            root.join(next)
        } else {
            let mut b = self.base.clone();
            b.set_path(&format!("{base_path}/"));
            b.join(next.trim_start_matches('/'))
        }
        .map_err(|_| ConfluenceError::decode("next link", "not a URL"))?;
        self.check_host(&joined)?;
        Ok(Some(joined))
    }

    /// GET `url` as JSON, with auth, retries, and one OAuth refresh after a 401.
    pub async fn get(&self, url: Url, what: &str) -> Result<Answer, ConfluenceError> {
        self.fetch(&url, what, "application/json", None, |resp| {
            read_json(resp, what)
        })
        .await
    }

    /// GET `url`'s body, at most `max_bytes` of it: a `Content-Length` above the limit is
    /// refused before reading, and a body without one is counted while streaming and dropped
    /// once over. Same auth, host guard, redirects and retries as [`Self::get`].
    pub async fn get_bytes(
        &self,
        url: Url,
        what: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, ConfluenceError> {
        // The per-request timeout bounds the whole body too; a large file on a slow link
        // must not time out (and be retried forever) only because it is large.
        let deadline = self
            .timeout
            .saturating_add(Duration::from_secs(max_bytes / MIN_DOWNLOAD_RATE));
        self.fetch(&url, what, "*/*", Some(deadline), |resp| {
            read_limited(resp, what, max_bytes)
        })
        .await
    }

    /// One request with auth, bounded retries and one OAuth refresh after a 401; `read`
    /// turns a 2xx answer into the result (inside the retry, so a body cut off midway is
    /// retried like a failed request).
    async fn fetch<T, F, Fut>(
        &self,
        url: &Url,
        what: &str,
        accept: &'static str,
        timeout: Option<Duration>,
        read: F,
    ) -> Result<T, ConfluenceError>
    where
        F: Fn(reqwest::Response) -> Fut,
        Fut: Future<Output = Result<T, ConfluenceError>>,
    {
        self.check_host(url)?;
        let mut refreshed = false;
        loop {
            let (header, generation) = match &self.auth {
                AuthState::Static(h) => (h.clone(), 0),
                AuthState::OAuth(o) => o.access().await?,
            };
            let attempt = || self.send_once(url, &header, what, accept, timeout, &read);
            let result = attempt
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(self.min_backoff)
                        .with_max_delay(self.max_inline_wait)
                        .with_max_times(self.max_retries)
                        .with_jitter(),
                )
                .when(|e: &ConfluenceError| self.retry_inline(e))
                .adjust(|e: &ConfluenceError, dur| dur.map(|d| e.retry_after().unwrap_or(d)))
                .notify(|e: &ConfluenceError, wait| {
                    tracing::debug!(error = %e, wait_ms = wait.as_millis() as u64, "retrying Confluence request");
                })
                .await;
            match (result, &self.auth) {
                (Err(ConfluenceError::Unauthorized { .. }), AuthState::OAuth(o)) if !refreshed => {
                    refreshed = true;
                    o.after_unauthorized(generation).await?;
                }
                (other, _) => return other,
            }
        }
    }

    fn retry_inline(&self, e: &ConfluenceError) -> bool {
        e.class() == bridge_core::ErrorClass::Retryable
            && !matches!(e, ConfluenceError::OAuth { .. } | ConfluenceError::Store(_))
            && e.retry_after().is_none_or(|d| d <= self.max_inline_wait)
    }

    async fn send_once<T, F, Fut>(
        &self,
        url: &Url,
        auth: &HeaderValue,
        what: &str,
        accept: &'static str,
        timeout: Option<Duration>,
        read: &F,
    ) -> Result<T, ConfluenceError>
    where
        F: Fn(reqwest::Response) -> Fut,
        Fut: Future<Output = Result<T, ConfluenceError>>,
    {
        let mut request = self
            .client
            .get(url.clone())
            .header(AUTHORIZATION, auth.clone())
            .header(ACCEPT, accept);
        if let Some(t) = timeout {
            request = request.timeout(t);
        }
        let resp = request
            .send()
            .await
            .map_err(|e| transport_error(what, &e))?;
        let status = resp.status();
        if status.is_success() {
            return read(resp).await;
        }
        let headers = resp.headers().clone();
        if status.is_redirection() {
            let host = headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "an unnamed location".into());
            return Err(ConfluenceError::ForeignHost { host });
        }
        let text = resp.text().await.unwrap_or_default();
        Err(self.status_error(status.as_u16(), &headers, &text, what))
    }

    fn status_error(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &str,
        what: &str,
    ) -> ConfluenceError {
        let what = what.to_owned();
        let message = vendor_message(body);
        let retry_after = retry_after(headers).map(|d| d.min(self.max_retry_after));
        match status {
            429 => ConfluenceError::RateLimited {
                what,
                retry_after: retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
            },
            401 => ConfluenceError::Unauthorized { what, message },
            403 => ConfluenceError::Forbidden { what, message },
            404 | 410 => ConfluenceError::NotFound { what },
            408 | 500..=599 => ConfluenceError::Server {
                what,
                status,
                message,
                retry_after,
            },
            _ => ConfluenceError::Rejected {
                what,
                status,
                message,
            },
        }
    }
}

async fn read_json(resp: reqwest::Response, what: &str) -> Result<Answer, ConfluenceError> {
    let link_next = link_next(resp.headers());
    let bytes = resp.bytes().await.map_err(|e| transport_error(what, &e))?;
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ConfluenceError::decode(what, format!("not JSON: {e}")))?
    };
    Ok(Answer { body, link_next })
}

async fn read_limited(
    mut resp: reqwest::Response,
    what: &str,
    max_bytes: u64,
) -> Result<Vec<u8>, ConfluenceError> {
    let too_large = |size| ConfluenceError::TooLarge {
        what: what.to_owned(),
        limit: max_bytes,
        size,
    };
    let announced = resp.content_length();
    if let Some(len) = announced
        && len > max_bytes
    {
        return Err(too_large(Some(len)));
    }
    // Reserve what was announced (never more than the limit allows, nor a lot up front).
    let reserve = announced.unwrap_or(0).min(max_bytes).min(MAX_PREALLOCATION);
    let mut out = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(what, &e))? {
        let total = (out.len() as u64).saturating_add(chunk.len() as u64);
        if total > max_bytes {
            return Err(too_large(None));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

pub(crate) fn transport_error(what: &str, e: &reqwest::Error) -> ConfluenceError {
    if e.is_timeout() {
        ConfluenceError::Timeout {
            what: what.to_owned(),
        }
    } else {
        // Without the URL: it is known from `what`, and the error stays short.
        let mut reason = String::new();
        let mut source: Option<&dyn std::error::Error> = Some(e);
        while let Some(s) = source {
            if !reason.is_empty() {
                reason.push_str(": ");
            }
            reason.push_str(&s.to_string());
            source = s.source();
        }
        let reason = e
            .url()
            .map_or(reason.clone(), |u| reason.replace(u.as_str(), "<url>"));
        ConfluenceError::Connect {
            what: what.to_owned(),
            reason,
        }
    }
}

/// The vendor's own message from a v1 (`message`), v2 (`errors[0]`) or OAuth
/// (`error_description`) error body, else the start of the text.
pub(crate) fn vendor_message(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let from_json = v
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            let e = v.get("errors")?.get(0)?;
            let title = e.get("title").and_then(Value::as_str).unwrap_or("");
            let detail = e.get("detail").and_then(Value::as_str).unwrap_or("");
            Some(format!("{title} {detail}").trim().to_owned())
        })
        .or_else(|| {
            let err = v.get("error").and_then(Value::as_str)?;
            let desc = v
                .get("error_description")
                .and_then(Value::as_str)
                .unwrap_or("");
            Some(format!("{err}: {desc}"))
        });
    let s = from_json.unwrap_or_else(|| body.trim().to_owned());
    s.chars().take(MAX_MESSAGE).collect()
}

/// `Retry-After` as seconds or an HTTP date; else `X-RateLimit-Reset` (ISO 8601).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let now = chrono::Utc::now();
    let until =
        |t: chrono::DateTime<chrono::Utc>| Some((t - now).to_std().unwrap_or(Duration::ZERO));
    if let Some(v) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Ok(secs) = v.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        // Fractional seconds; NaN, infinities and negative numbers (which `parse` accepts
        // and `Duration::from_secs_f64` panics on) are not a wait and are ignored.
        if let Ok(secs) = v.parse::<f64>()
            && secs.is_finite()
            && secs >= 0.0
        {
            return Some(Duration::from_secs_f64(secs.min(1e9)));
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc2822(v) {
            return until(t.with_timezone(&chrono::Utc));
        }
    }
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())?;
    let reset = reset.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(reset) {
        return until(t.with_timezone(&chrono::Utc));
    }
    // `yyyy-MM-ddTHH:mmZ` (no seconds), as documented.
    chrono::NaiveDateTime::parse_from_str(reset.trim_end_matches('Z'), "%Y-%m-%dT%H:%M")
        .ok()
        .and_then(|t| until(t.and_utc()))
}

/// The `rel="next"` target of a `Link` header.
fn link_next(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(LINK) {
        let Ok(s) = value.to_str() else { continue };
        let mut rest = s;
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after.find('>')?;
            let target = &after[..close];
            let params_end = after[close..].find('<').map_or(after.len(), |i| close + i);
            let params = &after[close + 1..params_end];
            let is_next = params.split(';').any(|p| {
                let p = p.trim().trim_end_matches(',').trim();
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            });
            if is_next {
                return Some(target.to_owned());
            }
            rest = &after[params_end..];
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static(
                "</wiki/api/v2/pages?cursor=abc&limit=2>; rel=\"next\", <https://x.atlassian.net/wiki>; rel=\"base\"",
            ),
        );
        assert_eq!(
            link_next(&h).as_deref(),
            Some("/wiki/api/v2/pages?cursor=abc&limit=2")
        );
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static("<https://x/wiki>; rel=\"base\""),
        );
        assert_eq!(link_next(&h), None);
    }

    fn http(base: &str) -> Http {
        use bridge_core::config::{ConfluenceFlavor, Secret};
        let s = ConfluenceSettings::new(
            Url::parse(base).unwrap(),
            ConfluenceFlavor::DataCenter,
            Auth::Pat(Secret::new("p")),
        );
        Http::new(&s).unwrap()
    }

    fn answer(next: &str) -> Answer {
        Answer {
            body: serde_json::json!({"_links": {"next": next}}),
            link_next: None,
        }
    }

    #[test]
    fn urls_and_next_links_stay_on_the_site() {
        let root = http("https://dc.example/");
        let u = root.url("/rest/api/search", &[("cql", "a = \"b\"".into())]);
        assert_eq!(
            u.as_str(),
            "https://dc.example/rest/api/search?cql=a+%3D+%22b%22"
        );
        let n = root
            .next_url(&u, &answer("/rest/api/search?start=25"))
            .unwrap()
            .unwrap();
        assert_eq!(n.as_str(), "https://dc.example/rest/api/search?start=25");

        let ctx = http("https://dc.example/confluence");
        let u = ctx.url("/rest/api/content", &[]);
        assert_eq!(u.as_str(), "https://dc.example/confluence/rest/api/content");
        let n = ctx
            .next_url(&u, &answer("/rest/api/content?start=2"))
            .unwrap()
            .unwrap();
        assert_eq!(
            n.as_str(),
            "https://dc.example/confluence/rest/api/content?start=2"
        );
        let other = ctx
            .next_url(&u, &answer("/rest/api/space?start=2"))
            .unwrap()
            .unwrap();
        assert_eq!(
            other.as_str(),
            "https://dc.example/confluence/rest/api/space?start=2"
        );

        // The gateway keeps its own path; only the cursor is taken from a site-style link.
        let gw = http("https://api.atlassian.com/ex/confluence/abc/wiki");
        let u = gw.url("/api/v2/pages", &[]);
        let n = gw
            .next_url(&u, &answer("/wiki/api/v2/pages?cursor=xyz"))
            .unwrap()
            .unwrap();
        assert_eq!(
            n.as_str(),
            "https://api.atlassian.com/ex/confluence/abc/wiki/api/v2/pages?cursor=xyz"
        );

        for foreign in [
            "https://evil.example/wiki/api/v2/pages?cursor=x",
            "//evil.example/x",
        ] {
            assert!(matches!(
                gw.next_url(&u, &answer(foreign)),
                Err(ConfluenceError::ForeignHost { .. })
            ));
        }
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("9223372036854775807"));
        assert!(retry_after(&h).unwrap() > Duration::from_secs(3600));
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("1.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("1e300"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(1_000_000_000)));
    }

    #[test]
    fn retry_after_that_is_not_a_wait_is_ignored_without_panicking() {
        for bad in [
            "NaN", "nan", "-NaN", "inf", "-inf", "Infinity", "-1", "-0.5", "1e999",
        ] {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, HeaderValue::from_str(bad).unwrap());
            assert_eq!(retry_after(&h), None, "Retry-After: {bad}");
        }
        // An unusable Retry-After falls back to X-RateLimit-Reset.
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("NaN"));
        let reset = (chrono::Utc::now() + chrono::TimeDelta::seconds(120)).to_rfc3339();
        h.insert("x-ratelimit-reset", HeaderValue::from_str(&reset).unwrap());
        assert!(retry_after(&h).is_some_and(|d| d > Duration::from_secs(100)));
    }

    #[test]
    fn vendor_messages() {
        assert_eq!(
            vendor_message(r#"{"statusCode":400,"message":"bad cql"}"#),
            "bad cql"
        );
        assert_eq!(
            vendor_message(r#"{"errors":[{"status":404,"title":"Not Found","detail":null}]}"#),
            "Not Found"
        );
        assert_eq!(
            vendor_message(r#"{"error":"invalid_grant","error_description":"expired"}"#),
            "invalid_grant: expired"
        );
    }
}
