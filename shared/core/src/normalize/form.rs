//! PHP-style bracket-key forms (`data[FIELDS_AFTER][ID]=7`, `ids[]=1`), as Bitrix24 sends
//! events, → a JSON tree. Values stay strings: B24 sends every scalar as text.

use serde_json::{Map, Value};

/// Deepest nesting accepted; B24 events nest four or five levels.
const MAX_DEPTH: usize = 16;

pub fn parse(body: &[u8]) -> Result<Value, String> {
    let mut root = Value::Object(Map::new());
    for (key, value) in form_urlencoded::parse(body) {
        let path = split_key(&key)?;
        insert(&mut root, &path, Value::String(value.into_owned()))?;
    }
    Ok(root)
}

/// `a[b][]` → `["a", "b", ""]`.
fn split_key(key: &str) -> Result<Vec<String>, String> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(format!("form key {key:?} has no name"));
    }
    let mut path = vec![head.to_owned()];
    while !rest.is_empty() {
        let close = rest
            .find(']')
            .filter(|_| rest.starts_with('['))
            .ok_or_else(|| format!("form key {key:?} has unbalanced brackets"))?;
        path.push(rest[1..close].to_owned());
        rest = &rest[close + 1..];
        if path.len() > MAX_DEPTH {
            return Err(format!("form key {key:?} nests too deep"));
        }
    }
    Ok(path)
}

fn insert(node: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        *node = value;
        return Ok(());
    };
    if first.is_empty() {
        // `[]` appends to a list.
        let list = match node {
            Value::Array(a) => a,
            Value::Object(m) if m.is_empty() => {
                *node = Value::Array(Vec::new());
                node.as_array_mut().ok_or("unreachable")?
            }
            _ => return Err("a form key mixes `[]` with named keys".into()),
        };
        list.push(Value::Object(Map::new()));
        let last = list.last_mut().ok_or("unreachable")?;
        return insert(last, rest, value);
    }
    let map = match node {
        Value::Object(m) => m,
        _ => {
            return Err(format!(
                "form key part {first:?} is both a value and a group"
            ));
        }
    };
    let child = map
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if rest.is_empty() {
        *child = value;
        return Ok(());
    }
    insert(child, rest, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nests_bracket_keys() {
        let v = parse(b"event=ONTASKUPDATE&data%5BFIELDS_AFTER%5D%5BID%5D=7&data[FIELDS_BEFORE]=undefined&auth[member_id]=m1&ids[]=1&ids[]=2&ts=1").unwrap();
        assert_eq!(v["event"], "ONTASKUPDATE");
        assert_eq!(v["data"]["FIELDS_AFTER"]["ID"], "7");
        assert_eq!(v["data"]["FIELDS_BEFORE"], "undefined");
        assert_eq!(v["auth"]["member_id"], "m1");
        assert_eq!(v["ids"], json!(["1", "2"]));
    }

    #[test]
    fn refuses_malformed_keys_without_panicking() {
        assert!(parse(b"a[b=1").is_err());
        assert!(parse(b"[x]=1").is_err());
        assert!(parse(b"a=1&a[b]=2").is_err());
        let deep = format!("a{}=1", "[x]".repeat(40));
        assert!(parse(deep.as_bytes()).is_err());
        assert!(parse(b"").unwrap().as_object().unwrap().is_empty());
    }
}
