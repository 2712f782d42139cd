//! REST 3.0: `POST {portal}/rest/api/{method}` (OAuth: `auth` in the JSON body) or
//! `/rest/api/{user}/{secret}/{method}` (webhook); JSON bodies only; answers
//! `{result:{item|items|result}}`, errors `{error:{code, message, validation}}` with a 4xx
//! (read by [`http::parse`](super::http), which folds `validation` into the description).
//!
//! A v3 call is the same request as a classic one as far as the portal's budget, the token
//! and the portal's address go, so it runs through `B24Client::execute_with`: one slot of
//! the rate limit, refresh on `expired_token`, pauses on `QUERY_LIMIT_EXCEEDED`, the 302
//! domain change — only the URL and the optional `Idempotency-Key` header differ.

use super::B24Client;
use super::error::B24Error;
use serde_json::Value;
use url::Url;

/// The header that makes a REST 3.0 write replayable: the portal stores the first success
/// for 24 h and answers a repeat (same key, same body) with it and `Idempotent-Replayed`.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Which generation of the API a request goes to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Api<'a> {
    Classic,
    V3 { idempotency_key: Option<&'a str> },
}

impl Api<'_> {
    /// `base` is the classic REST base (`…/rest/` or `…/rest/{user}/{secret}/`).
    pub(crate) fn url(&self, base: &Url, method: &str) -> Result<Url, B24Error> {
        let bad = || B24Error::Invalid(format!("bad method name {method:?}"));
        match self {
            Api::Classic => base.join(method).map_err(|_| bad()),
            Api::V3 { .. } => v3_base(base)?.join(method).map_err(|_| bad()),
        }
    }

    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Api::V3 {
                idempotency_key: Some(key),
            } => vec![(IDEMPOTENCY_HEADER, (*key).to_owned())],
            _ => Vec::new(),
        }
    }
}

/// `…/rest/` → `…/rest/api/`, `…/rest/{user}/{secret}/` → `…/rest/api/{user}/{secret}/`.
fn v3_base(base: &Url) -> Result<Url, B24Error> {
    let path = base.path();
    let at = path.find("/rest/").ok_or_else(|| {
        B24Error::Invalid("the B24 REST base has no /rest/ segment; REST 3.0 needs one".into())
    })? + "/rest/".len();
    let mut url = base.clone();
    url.set_path(&format!("{}api/{}", &path[..at], &path[at..]));
    Ok(url)
}

/// What B24 accepts as an `Idempotency-Key`: 1–255 printable ASCII characters. Refused
/// here rather than by the portal, which would answer a permanent 400 anyway.
pub fn valid_idempotency_key(key: &str) -> bool {
    (1..=255).contains(&key.len())
        && key.bytes().all(|b| (0x20..0x7f).contains(&b))
        // Surrounding blanks would not survive as a header value.
        && key.trim() == key
}

impl B24Client {
    /// Calls REST 3.0 `method` with `params` (a JSON object, or null) and returns its
    /// `result` object. With `idempotency_key`, a repeat of the same call (after a lost
    /// answer, a crash, a redelivery) gets the stored first answer instead of running twice.
    pub async fn call_v3(
        &self,
        method: &str,
        params: Value,
        idempotency_key: Option<&str>,
    ) -> Result<Value, B24Error> {
        let mut params = match params {
            Value::Object(m) => m,
            Value::Null => serde_json::Map::new(),
            _ => {
                return Err(B24Error::Invalid(format!(
                    "{method}: params must be an object"
                )));
            }
        };
        params.remove("auth");
        if let Some(key) = idempotency_key
            && !valid_idempotency_key(key)
        {
            return Err(B24Error::Invalid(format!(
                "{method}: an Idempotency-Key must be 1 to 255 printable ASCII characters"
            )));
        }
        let reply = self
            .execute_with(method, Api::V3 { idempotency_key }, &|token: Option<
                &str,
            >| {
                let mut p = params.clone();
                if let Some(t) = token {
                    p.insert("auth".into(), Value::String(t.to_owned()));
                }
                serde_json::to_vec(&p).unwrap_or_default()
            })
            .await?;
        Ok(reply.result)
    }
}

/// `result.item` of a REST 3.0 answer.
pub(crate) fn item(result: &Value) -> Option<&Value> {
    result.get("item").filter(|v| v.is_object())
}

/// `result.items` of a REST 3.0 answer (empty when absent).
pub(crate) fn items(result: &Value) -> &[Value] {
    result
        .get("items")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_urls() {
        let oauth = Url::parse("https://acme.bitrix24.com/rest/").unwrap();
        assert_eq!(
            Api::V3 {
                idempotency_key: None
            }
            .url(&oauth, "note.document.add")
            .unwrap()
            .as_str(),
            "https://acme.bitrix24.com/rest/api/note.document.add"
        );
        let hook = Url::parse("https://acme.bitrix24.com/rest/1/s3cr3t/").unwrap();
        assert_eq!(
            Api::V3 {
                idempotency_key: None
            }
            .url(&hook, "note.document.add")
            .unwrap()
            .as_str(),
            "https://acme.bitrix24.com/rest/api/1/s3cr3t/note.document.add"
        );
        assert_eq!(
            Api::Classic.url(&hook, "user.current").unwrap().as_str(),
            "https://acme.bitrix24.com/rest/1/s3cr3t/user.current"
        );
        let odd = Url::parse("https://acme.example/b24/").unwrap();
        assert!(
            Api::V3 {
                idempotency_key: None
            }
            .url(&odd, "m")
            .is_err()
        );
    }

    #[test]
    fn v3_errors_carry_code_validation_and_class() {
        use super::super::codes;
        use super::super::http::parse;
        use bridge_core::ErrorClass::{Permanent, Retryable};
        let e = parse(
            "note.file.add",
            400,
            None,
            br#"{"error":{"code":"BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION",
                "message":"Error during request object validation",
                "validation":[{"message":"invalid base64 payload","field":"fileContent"}]}}"#,
        )
        .unwrap_err();
        assert!(e.is_code(codes::V3_VALIDATION));
        assert_eq!((e.status(), e.class()), (Some(400), Permanent));
        assert!(
            e.to_string()
                .contains("fileContent: invalid base64 payload"),
            "{e}"
        );
        for (status, code, class) in [
            (400, codes::V3_ENTITY_NOT_FOUND, Permanent),
            (403, codes::V3_ACCESS_DENIED, Permanent),
            (403, codes::V3_INSUFFICIENT_SCOPE, Permanent),
            (422, codes::V3_IDEMPOTENCY_KEY_REUSED, Permanent),
            (400, codes::NOTE_DOCUMENT_HAS_UNSAVED_CHANGES, Permanent),
            (404, codes::METHOD_NOT_FOUND, Permanent),
            (503, "QUERY_LIMIT_EXCEEDED", Retryable),
            (429, "OPERATION_TIME_LIMIT", Retryable),
            (500, "INTERNAL_SERVER_ERROR", Retryable),
        ] {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#);
            let e = parse("m", status, None, body.as_bytes()).unwrap_err();
            assert!(e.is_code(code), "{e}");
            assert_eq!(e.class(), class, "{status} {code}");
        }
        // The OpenAPI document comes bare.
        let ok = parse(
            "rest.documentation.openapi",
            200,
            None,
            br#"{"openapi":"3.0.0","paths":{"/note.document.add":{}}}"#,
        )
        .unwrap();
        assert!(ok.result["paths"]["/note.document.add"].is_object());
    }

    #[test]
    fn idempotency_keys() {
        assert!(valid_idempotency_key(
            "9f1c1a7e-5f1b-4a1e-9a2c-2f5f2b6c7d80"
        ));
        assert!(valid_idempotency_key(&"k".repeat(255)));
        assert!(valid_idempotency_key("a b"));
        for bad in ["", " a", "a ", "é", "a\nb", "a\tb"] {
            assert!(!valid_idempotency_key(bad), "{bad:?}");
        }
        assert!(!valid_idempotency_key(&"k".repeat(256)));
    }
}
