//! Edits of a raw envelope body that keep every field as written.
//!
//! Retries and replays forward envelopes that a newer release may have written, with fields
//! this release does not know; decoding into the typed `Envelope` and serialising again
//! would drop them.

/// The body with its `attempt` set, or `None` when it is not a JSON object.
pub(crate) fn with_attempt(raw: &[u8], attempt: u32) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(raw).ok()?;
    value
        .as_object_mut()?
        .insert("attempt".to_owned(), attempt.into());
    serde_json::to_vec(&value).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_unknown_fields() {
        let raw = br#"{"attempt":0,"id":"x","added_later":{"a":[1,2]}}"#;
        let out = super::with_attempt(raw, 3).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["attempt"], 3);
        assert_eq!(v["added_later"]["a"][1], 2);
        assert!(super::with_attempt(b"[1]", 1).is_none());
    }
}
