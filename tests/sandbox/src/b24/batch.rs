//! `batch`: up to 50 commands (`cmd` map or list of `"method?query"`), run in order with
//! `$result[key][field]...` references to earlier results; `halt=1` stops at the first error.
//! The outer call answers 200 with `result`, `result_error`, `result_total`, `result_next`,
//! `result_time` (empty ones as `[]`). No nested batch, no file uploads.

use super::context::{Caller, Outgoing, Reply};
use super::dispatch;
use super::errors::{ApiError, ApiResult};
use super::methods;
use super::params::{self, Params};
use super::state::World;
use serde_json::{Map, Value, json};

pub const MAX_COMMANDS: usize = 50;

/// The `(key, command)` pairs in the order sent.
fn commands(p: &Params) -> Vec<(String, String)> {
    let Some(cmd) = params::get(&p.value, "cmd") else {
        return Vec::new();
    };
    let text = |v: &Value| params::str_of(v).unwrap_or_default();
    match cmd {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), text(v)))
            .collect(),
        Value::Object(map) => {
            let mut keys: Vec<String> = p
                .cmd_order
                .iter()
                .filter(|k| map.contains_key(*k))
                .cloned()
                .collect();
            keys.extend(
                map.keys()
                    .filter(|k| !keys.contains(k))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            keys.into_iter()
                .map(|k| (k.clone(), text(&map[&k])))
                .collect()
        }
        other => vec![("0".to_owned(), text(other))],
    }
}

/// Replaces `$result[a][b][0]` with the value from earlier results.
fn substitute(s: &str, results: &Map<String, Value>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(pos) = rest.find("$result[") {
        out.push_str(&rest[..pos]);
        let mut tail = &rest[pos + "$result".len()..];
        let mut path = Vec::new();
        while let Some(inner) = tail.strip_prefix('[') {
            let Some(close) = inner.find(']') else { break };
            path.push(inner[..close].to_owned());
            tail = &inner[close + 1..];
        }
        let mut cur = path.first().and_then(|k| results.get(k));
        for seg in path.iter().skip(1) {
            cur = cur.and_then(|v| match v {
                Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
                Value::Object(m) => m.get(seg),
                _ => None,
            });
        }
        match cur {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Null) | None => {}
            Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                out.push_str(&params::str_of(v).unwrap_or_default())
            }
            Some(v) => out.push_str(&v.to_string()),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn empty_as_list(m: Map<String, Value>) -> Value {
    if m.is_empty() {
        json!([])
    } else {
        Value::Object(m)
    }
}

pub fn run(
    world: &mut World,
    caller: &Caller,
    p: &Params,
    out: &mut Vec<Outgoing>,
) -> ApiResult<Reply> {
    let cmds = commands(p);
    if cmds.len() > MAX_COMMANDS {
        return Err(ApiError::bad(
            "ERROR_BATCH_LENGTH_EXCEEDED",
            "Max batch length exceeded",
        ));
    }
    let halt = params::is_yes(params::get(&p.value, "halt"));
    let (mut results, mut errors, mut totals, mut nexts, mut times) =
        (Map::new(), Map::new(), Map::new(), Map::new(), Map::new());
    for (key, cmd) in &cmds {
        let (name, query) = cmd.split_once('?').unwrap_or((cmd.as_str(), ""));
        let name = name.trim().trim_start_matches('/').to_ascii_lowercase();
        let name = name.trim_end_matches(".json").to_owned();
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .map(|(k, v)| (k, substitute(&v, &results)))
            .collect();
        let sub = params::from_pairs(&pairs);
        let started = std::time::Instant::now();
        let outcome = match methods::classic(&name) {
            _ if name == "batch" => Err(ApiError::new(
                405,
                "ERROR_BATCH_METHOD_NOT_ALLOWED",
                "Method is not allowed for batch usage",
            )),
            Some(def) if def.no_batch => Err(ApiError::new(
                405,
                "ERROR_BATCH_METHOD_NOT_ALLOWED",
                "Method is not allowed for batch usage",
            )),
            Some(def) => dispatch::run_method(world, caller, def, &name, &sub, out),
            None => Err(ApiError::method_not_found(&name)),
        };
        let secs = started.elapsed().as_secs_f64();
        times.insert(key.clone(), json!({"duration": secs, "processing": secs}));
        match outcome {
            Ok(r) => {
                results.insert(key.clone(), r.result);
                if let Some(t) = r.total {
                    totals.insert(key.clone(), json!(t));
                }
                if let Some(n) = r.next {
                    nexts.insert(key.clone(), json!(n));
                }
            }
            Err(e) => {
                errors.insert(key.clone(), e.classic_body());
                if halt {
                    break;
                }
            }
        }
    }
    let listed = matches!(params::get(&p.value, "cmd"), Some(Value::Array(_)));
    let result = if listed && errors.is_empty() && !results.is_empty() {
        Value::Array(
            (0..results.len())
                .filter_map(|i| results.get(&i.to_string()).cloned())
                .collect(),
        )
    } else {
        empty_as_list(results)
    };
    Ok(Reply::of(json!({
        "result": result,
        "result_error": empty_as_list(errors),
        "result_total": empty_as_list(totals),
        "result_next": empty_as_list(nexts),
        "result_time": empty_as_list(times),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_into_nested_results() {
        let mut r = Map::new();
        r.insert(
            "t".into(),
            json!({"task": {"id": "7"}, "list": [{"ID": "3"}]}),
        );
        assert_eq!(
            substitute("x=$result[t][task][id]&y=$result[t][list][0][ID]", &r),
            "x=7&y=3"
        );
    }
}
