//! B24 events: `auth[application_token]` must equal the token stored when the portal
//! installed the app.

use subtle::ConstantTimeEq;

pub fn matches(stored: &str, presented: &str) -> bool {
    stored.as_bytes().ct_eq(presented.as_bytes()).into()
}
