//! `bridge_core::links` on arbitrary input: `resolve` and `find_urls` must never panic, on the
//! raw input and on the input placed after each kind of site's base URL (so that the host
//! check passes and the path forms are exercised); the tiny-link codec must round-trip.
#![no_main]

use std::sync::LazyLock;

use bridge_core::links::{LinkTarget, Site, find_urls, resolve, tiny};
use libfuzzer_sys::fuzz_target;
use url::Url;

const BASES: &[&str] = &[
    "https://acme.atlassian.net/wiki",
    "https://acme.atlassian.net",
    "https://confluence.acme.com/confluence",
    "http://wiki.acme.local:8090",
];

static SITES: LazyLock<Vec<Site>> = LazyLock::new(|| {
    BASES
        .iter()
        .map(|base| Site::new(Url::parse(base).expect("fuzz base URL")))
        .collect()
});

fuzz_target!(|data: &[u8]| {
    if let Some(bytes) = data.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
        let id = u64::from_le_bytes(bytes);
        assert_eq!(tiny::decode(&tiny::encode(id)), Some(id));
    }
    let text = String::from_utf8_lossy(data);
    for (base, site) in BASES.iter().zip(SITES.iter()) {
        let _ = resolve(&text, site);
        if let Ok(LinkTarget::Content(id)) = resolve(&format!("{base}/{text}"), site) {
            // Whatever resolved to an id also resolves from its tiny link.
            let tiny_link = format!("{base}/x/{}", tiny::encode(id));
            assert_eq!(resolve(&tiny_link, site), Ok(LinkTarget::Content(id)));
        }
        for url in find_urls(&text) {
            assert!(url.to_ascii_lowercase().starts_with("http"), "{url}");
            let _ = resolve(&url, site);
        }
    }
});
