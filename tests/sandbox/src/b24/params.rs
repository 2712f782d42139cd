//! Call parameters: query strings and form bodies with PHP bracket keys (`fields[TITLE]=x`,
//! `ids[]=1`, `cmd[a]=...`) and JSON bodies, all turned into one `serde_json::Value` object.
//! Also the reverse (`http_build_query`) for the form-encoded events the fake sends.

use super::errors::ApiError;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parsed parameters of one call.
#[derive(Clone, Debug, Default)]
pub struct Params {
    pub value: Value,
    /// The keys of `cmd` in the order sent (JSON objects and the form lose it otherwise).
    pub cmd_order: Vec<String>,
}

/// Parses query and body. A JSON body (by content type, or a body starting with `{`) is merged
/// over the query's parameters; a form body is parsed together with the query.
pub fn parse(
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Params, ApiError> {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let trimmed = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| &body[i..]);
    let looks_json = ct.contains("json") || matches!(trimmed, Some([b'{', ..]));
    let mut pairs: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if looks_json && !body.is_empty() {
        let json: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad("INVALID_REQUEST", format!("Invalid JSON body: {e}")))?;
        let mut value = from_pairs(&pairs);
        let cmd_order = json_cmd_order(body);
        if let (Value::Object(base), Value::Object(over)) = (&mut value, json) {
            for (k, v) in over {
                base.insert(k, v);
            }
        } else {
            return Err(ApiError::bad(
                "INVALID_REQUEST",
                "The JSON body must be an object",
            ));
        }
        return Ok(Params { value, cmd_order });
    }
    if !body.is_empty() {
        pairs.extend(form_urlencoded::parse(body).into_owned());
    }
    Ok(Params {
        cmd_order: form_cmd_order(&pairs),
        value: from_pairs(&pairs),
    })
}

/// PHP's `parse_str`: bracket keys to nested objects, `[]` appends, objects keyed `0..n` become
/// arrays.
pub fn from_pairs(pairs: &[(String, String)]) -> Value {
    let mut root = Value::Object(Map::new());
    for (k, v) in pairs {
        let path = split_key(k);
        insert(&mut root, &path, Value::String(v.clone()));
    }
    // The top level stays an object (numbered keys there are positional parameters).
    match root {
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

fn split_key(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return vec![key.to_owned()];
    };
    if open == 0 || !key.ends_with(']') {
        return vec![key.to_owned()];
    }
    let mut path = vec![key[..open].to_owned()];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(close) => {
                path.push(stripped[..close].to_owned());
                rest = &stripped[close + 1..];
            }
            None => break,
        }
    }
    path
}

fn insert(node: &mut Value, path: &[String], leaf: Value) {
    let Some((head, tail)) = path.split_first() else {
        *node = leaf;
        return;
    };
    if head.is_empty() {
        if !node.is_array() {
            *node = Value::Array(Vec::new());
        }
        if let Value::Array(items) = node {
            let mut child = Value::Object(Map::new());
            insert(&mut child, tail, leaf);
            items.push(child);
        }
        return;
    }
    if let Value::Array(items) = node {
        // `a[]=x&a[k]=y`: PHP keeps both; index the array as a map.
        let map: Map<String, Value> = items
            .drain(..)
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect();
        *node = Value::Object(map);
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    if let Value::Object(map) = node {
        let child = map.entry(head.clone()).or_insert(Value::Null);
        if tail.is_empty() {
            *child = leaf;
        } else {
            insert(child, tail, leaf);
        }
    }
}

fn normalize(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let sequential =
                !map.is_empty() && (0..map.len()).all(|i| map.contains_key(&i.to_string()));
            if sequential {
                let mut map = map;
                Value::Array(
                    (0..map.len())
                        .map(|i| normalize(map.remove(&i.to_string()).unwrap_or(Value::Null)))
                        .collect(),
                )
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}

fn form_cmd_order(pairs: &[(String, String)]) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for (k, _) in pairs {
        let path = split_key(k);
        if path.len() >= 2 && path[0].eq_ignore_ascii_case("cmd") && !order.contains(&path[1]) {
            order.push(path[1].clone());
        }
    }
    order
}

struct OrderedKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for OrderedKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedKeys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map or a list")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<OrderedKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, _)) = m.next_entry::<String, IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(OrderedKeys(keys))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<OrderedKeys, A::Error> {
                let mut keys = Vec::new();
                while s.next_element::<IgnoredAny>()?.is_some() {
                    keys.push(keys.len().to_string());
                }
                Ok(OrderedKeys(keys))
            }
        }
        d.deserialize_any(V)
    }
}

fn json_cmd_order(body: &[u8]) -> Vec<String> {
    struct Top(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Top {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Top;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Top, A::Error> {
                    let mut out = Vec::new();
                    while let Some(k) = m.next_key::<String>()? {
                        if k.eq_ignore_ascii_case("cmd") {
                            out = m.next_value::<OrderedKeys>()?.0;
                        } else {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                    Ok(Top(out))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_slice::<Top>(body)
        .map(|t| t.0)
        .unwrap_or_default()
}

/// PHP's `http_build_query`: nested values to bracket-keyed pairs; `true` → "1",
/// `false` → "0", `null` skipped.
pub fn to_form_pairs(value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(map) = value {
        for (k, v) in map {
            flatten(k.clone(), v, &mut out);
        }
    }
    out
}

fn flatten(prefix: String, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push((prefix, if *b { "1" } else { "0" }.to_owned())),
        Value::Number(n) => out.push((prefix, n.to_string())),
        Value::String(s) => out.push((prefix, s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(format!("{prefix}[{i}]"), item, out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                flatten(format!("{prefix}[{k}]"), item, out);
            }
        }
    }
}

/// Pairs as an `application/x-www-form-urlencoded` body.
pub fn encode_form(pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A key of an object, case-insensitively (B24 parameter names are).
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let map = v.as_object()?;
    map.get(key)
        .or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

/// The first of `keys` present.
pub fn get_any<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| get(v, k))
}

pub fn str_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "Y" } else { "N" }.to_owned()),
        _ => None,
    }
}

pub fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

pub fn get_str(v: &Value, key: &str) -> Option<String> {
    get(v, key).and_then(str_of)
}

pub fn get_int(v: &Value, key: &str) -> Option<i64> {
    get(v, key).and_then(int_of)
}

/// Y/N flags as B24 takes them: "Y", "1", true.
pub fn is_yes(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => matches!(s.to_ascii_uppercase().as_str(), "Y" | "1" | "TRUE"),
        _ => false,
    }
}

/// An array, the values of an object (PHP arrays with keys), or one scalar.
pub fn list_of(v: Option<&Value>) -> Vec<Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(map)) => map.values().cloned().collect(),
        Some(other) => vec![other.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bracket_keys_nest_and_append() {
        let p = parse(
            Some("auth=t"),
            Some("application/x-www-form-urlencoded"),
            b"fields[TITLE]=x&fields[UF_A]=1&select[]=ID&select[]=TITLE&cmd[b]=m1&cmd[a]=m2",
        )
        .unwrap();
        assert_eq!(
            p.value,
            json!({"auth":"t","fields":{"TITLE":"x","UF_A":"1"},"select":["ID","TITLE"],
                   "cmd":{"b":"m1","a":"m2"}})
        );
        assert_eq!(p.cmd_order, vec!["b", "a"]);
    }

    #[test]
    fn json_keeps_cmd_order_and_roundtrips_to_form() {
        let p = parse(
            None,
            Some("application/json"),
            br#"{"cmd":{"z":"a","b":"c"},"halt":1}"#,
        )
        .unwrap();
        assert_eq!(p.cmd_order, vec!["z", "b"]);
        let pairs = to_form_pairs(&json!({"data":{"FIELDS_AFTER":{"ID":"5"}},"ok":true}));
        assert_eq!(
            pairs,
            vec![
                ("data[FIELDS_AFTER][ID]".to_owned(), "5".to_owned()),
                ("ok".to_owned(), "1".to_owned())
            ]
        );
    }
}
