//! `batch`: many calls in one request (one rate-limit slot), at most 50 commands each —
//! longer inputs are split into several requests, in order.
//!
//! Commands go as a JSON object `cmd: {key: "method?query"}` whose text is written by hand in
//! the caller's order (serde_json without `preserve_order` would sort the keys, and the order
//! matters for `halt` and for `$result[key]` references). Query strings use PHP bracket
//! encoding (`FILTER[ID]=1`, `ids[0]=5`); in a JSON body they are encoded once. The answer's
//! maps may come as objects or, when empty or keyed 0…n, as lists: both are read.

use super::B24Client;
use super::error::B24Error;
use super::http::{Reply, number, text};
use serde_json::Value;
use std::collections::HashSet;

/// Most commands B24 accepts in one `batch`.
pub const MAX_COMMANDS: usize = 50;

/// One command of a batch; `key` names its result (and `$result[key]` references).
#[derive(Clone, Debug)]
pub struct BatchCommand {
    pub key: String,
    pub method: String,
    pub params: Value,
}

impl BatchCommand {
    pub fn new(key: impl Into<String>, method: impl Into<String>, params: Value) -> Self {
        Self {
            key: key.into(),
            method: method.into(),
            params,
        }
    }

    /// `method?urlencoded=params`.
    pub fn to_cmd(&self) -> String {
        let query = php_query(&self.params);
        if query.is_empty() {
            self.method.clone()
        } else {
            format!("{}?{query}", self.method)
        }
    }
}

/// The outcome of one command.
#[derive(Debug)]
pub struct BatchItem {
    pub key: String,
    pub method: String,
    pub result: Result<Reply, B24Error>,
}

/// PHP `http_build_query` of a JSON value: nested keys in brackets, lists by index,
/// booleans as 1/0, nulls left out.
pub fn php_query(params: &Value) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    fn walk(prefix: &str, v: &Value, out: &mut url::form_urlencoded::Serializer<'_, String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}[{k}]")
                    };
                    walk(&key, v, out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), v, out);
                }
            }
            Value::Null => {}
            Value::Bool(b) => {
                out.append_pair(prefix, if *b { "1" } else { "0" });
            }
            Value::String(s) => {
                out.append_pair(prefix, s);
            }
            Value::Number(n) => {
                out.append_pair(prefix, &n.to_string());
            }
        }
    }
    if params.is_object() {
        walk("", params, &mut out);
    }
    out.finish()
}

/// Entry `key` of a batch answer's map, which may be a JSON object or a list.
fn entry<'a>(map: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    match map? {
        Value::Object(m) => m.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

impl B24Client {
    /// Runs `commands` through `batch`, 50 per request, and returns one outcome per
    /// command in the same order. With `halt`, B24 stops at the first failing command;
    /// it and later chunks are then not sent, and their commands come back as
    /// [`B24Error::NotRun`]. Fails as a whole only when a request itself fails.
    pub async fn batch(
        &self,
        commands: Vec<BatchCommand>,
        halt: bool,
    ) -> Result<Vec<BatchItem>, B24Error> {
        let mut seen = HashSet::new();
        for c in &commands {
            if c.key.is_empty() || !seen.insert(c.key.as_str()) {
                return Err(B24Error::Invalid(format!(
                    "batch keys must be unique and non-empty ({:?})",
                    c.key
                )));
            }
        }
        let mut out = Vec::with_capacity(commands.len());
        let mut halted = false;
        for chunk in commands.chunks(MAX_COMMANDS) {
            if halted {
                out.extend(chunk.iter().map(|c| BatchItem {
                    key: c.key.clone(),
                    method: c.method.clone(),
                    result: Err(B24Error::NotRun(c.key.clone())),
                }));
                continue;
            }
            let items = self.batch_chunk(chunk, halt).await?;
            halted = halt && items.iter().any(|i| i.result.is_err());
            out.extend(items);
        }
        Ok(out)
    }

    async fn batch_chunk(
        &self,
        chunk: &[BatchCommand],
        halt: bool,
    ) -> Result<Vec<BatchItem>, B24Error> {
        // `{"halt":0,"cmd":{"k":"m?q",…}[,"auth":"…"]}`, keys in the caller's order.
        let mut cmd = String::from("{");
        for (i, c) in chunk.iter().enumerate() {
            if i > 0 {
                cmd.push(',');
            }
            cmd.push_str(&Value::String(c.key.clone()).to_string());
            cmd.push(':');
            cmd.push_str(&Value::String(c.to_cmd()).to_string());
        }
        cmd.push('}');
        let halt_flag = u8::from(halt);
        let reply = self
            .execute("batch", &|token: Option<&str>| {
                let auth = token
                    .map(|t| format!(",\"auth\":{}", Value::String(t.to_owned())))
                    .unwrap_or_default();
                format!("{{\"halt\":{halt_flag},\"cmd\":{cmd}{auth}}}").into_bytes()
            })
            .await?;
        let r = &reply.result;
        let (results, errors) = (r.get("result"), r.get("result_error"));
        let (totals, nexts, times) = (
            r.get("result_total"),
            r.get("result_next"),
            r.get("result_time"),
        );
        Ok(chunk
            .iter()
            .map(|c| {
                let result = if let Some(e) = entry(errors, &c.key) {
                    let (code, description) = match e {
                        Value::Object(o) if o.get("code").is_some() => (
                            o.get("code").map(text).unwrap_or_default(),
                            o.get("message").map(text).unwrap_or_default(),
                        ),
                        Value::Object(o) => (
                            o.get("error").map(text).unwrap_or_default(),
                            o.get("error_description").map(text).unwrap_or_default(),
                        ),
                        other => (text(other), String::new()),
                    };
                    Err(B24Error::Api {
                        method: c.method.clone(),
                        status: 200,
                        code,
                        description,
                        retry_after: None,
                    })
                } else if let Some(v) = entry(results, &c.key) {
                    Ok(Reply {
                        result: v.clone(),
                        total: entry(totals, &c.key).and_then(number),
                        next: entry(nexts, &c.key).and_then(number),
                        time: entry(times, &c.key).cloned(),
                    })
                } else {
                    Err(B24Error::NotRun(c.key.clone()))
                };
                BatchItem {
                    key: c.key.clone(),
                    method: c.method.clone(),
                    result,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn php_encoding() {
        let q = php_query(
            &json!({"FILTER": {"ID": 5, "NAME": "a b"}, "ids": [1, 2], "on": true, "x": null}),
        );
        assert_eq!(
            q,
            "FILTER%5BID%5D=5&FILTER%5BNAME%5D=a+b&ids%5B0%5D=1&ids%5B1%5D=2&on=1"
        );
        assert_eq!(
            BatchCommand::new("k", "user.current", json!({})).to_cmd(),
            "user.current"
        );
    }

    #[test]
    fn maps_as_lists() {
        let list = json!(["a", "b"]);
        assert_eq!(entry(Some(&list), "1"), Some(&json!("b")));
        assert_eq!(entry(Some(&json!([])), "x"), None);
    }
}
