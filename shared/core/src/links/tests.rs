//! `resolve` on every form of docs §7, then property tests: tiny links for any id, generated
//! URLs of each form, and no panic on any input.

use super::*;
use proptest::prelude::*;

const CLOUD: &str = "https://acme.atlassian.net/wiki";
const CLOUD_NO_WIKI: &str = "https://acme.atlassian.net";
const CUSTOM: &str = "https://docs.acme.com/wiki";
const DC: &str = "https://confluence.acme.com/confluence";
const DC_ROOT: &str = "http://wiki.acme.local:8090/";

fn site(base: &str) -> Site {
    Site::new(Url::parse(base).expect("test base URL"))
}

fn content(id: u64) -> Result<LinkTarget, LinkError> {
    Ok(LinkTarget::Content(id))
}

fn title(key: &str, title: &str, day: Option<&str>) -> Result<LinkTarget, LinkError> {
    Ok(LinkTarget::Title {
        space_key: key.to_owned(),
        title: title.to_owned(),
        posting_day: day.map(str::to_owned),
    })
}

fn home(key: &str) -> Result<LinkTarget, LinkError> {
    Ok(LinkTarget::SpaceHome {
        space_key: key.to_owned(),
    })
}

fn check(base: &str, cases: &[(&str, Result<LinkTarget, LinkError>)]) {
    let site = site(base);
    for (url, expected) in cases {
        assert_eq!(&resolve(url, &site), expected, "{url} on {base}");
    }
}

#[test]
fn cloud_forms() {
    let h = "https://acme.atlassian.net";
    check(
        CLOUD,
        &[
            (
                &format!("{h}/wiki/spaces/ENG/pages/123456"),
                content(123_456),
            ),
            (
                &format!("{h}/wiki/spaces/ENG/pages/123456/"),
                content(123_456),
            ),
            (
                &format!("{h}/wiki/spaces/ENG/pages/123456/Release+Notes+2.0#Known-issues"),
                content(123_456),
            ),
            (
                &format!("{h}/wiki/spaces/ENG/pages/123456/Title?focusedCommentId=999#comment-999"),
                content(123_456),
            ),
            (
                &format!(
                    "{h}/wiki/spaces/ENG/pages/123456/Title?atlOrigin=eyJpIjoi&utm_source=slack&utm_medium=x"
                ),
                content(123_456),
            ),
            (
                &format!("{h}/wiki/spaces/~712020fe37626a/pages/42/My+notes"),
                content(42),
            ),
            (
                &format!("{h}/wiki/spaces/ENG/pages/edit-v2/123456"),
                content(123_456),
            ),
            (
                &format!(
                    "{h}/wiki/spaces/ENG/pages/edit-v2/123456?draftShareId=0c4c-44&inEditorTemplatesPanel=auto_closed"
                ),
                content(123_456),
            ),
            (
                &format!("{h}/wiki/spaces/ENG/pages/edit/123456"),
                content(123_456),
            ),
            // A page titled "edit", and one titled "edit-v2".
            (&format!("{h}/wiki/spaces/ENG/pages/777/edit"), content(777)),
            (
                &format!("{h}/wiki/spaces/ENG/pages/778/edit-v2"),
                content(778),
            ),
            (
                &format!("{h}/wiki/spaces/ENG/pages/edit/779/edit"),
                content(779),
            ),
            (
                &format!("{h}/wiki/pages/viewpage.action?pageId=5555"),
                content(5555),
            ),
            (
                &format!("{h}/wiki/pages/viewpage.action?pageId=5555&pageVersion=7"),
                content(5555),
            ),
            (
                &format!("{h}/wiki/pages/viewpage.action?pageVersion=7&pageId=5555#x"),
                content(5555),
            ),
            (
                &format!("{h}/wiki/pages/resumedraft.action?draftId=6666"),
                content(6666),
            ),
            (
                &format!("{h}/wiki/pages/resumedraft.action?draftId=6666&draftShareId=abc"),
                content(6666),
            ),
            (
                &format!(
                    "{h}/wiki/pages/diffpagesbyversion.action?pageId=8&selectedPageVersions=1"
                ),
                content(8),
            ),
            (&format!("{h}/wiki/x/3YE5C"), content(137_986_525)),
            (&format!("{h}/wiki/x/mwD-/"), content(16_711_835)),
            (
                &format!("{h}/wiki/x/_QN0CQ?atlOrigin=x"),
                content(158_598_137),
            ),
            (&format!("{h}/wiki/spaces/ENG"), home("ENG")),
            (&format!("{h}/wiki/spaces/ENG/"), home("ENG")),
            (&format!("{h}/wiki/spaces/ENG/overview"), home("ENG")),
            (
                &format!("{h}/wiki/spaces/ENG/overview?homepageId=1&mode=global"),
                home("ENG"),
            ),
            (
                &format!("{h}/wiki/spaces/~323528440/overview"),
                home("~323528440"),
            ),
            (&format!("{h}/wiki/spaces/%7E792023391"), home("~792023391")),
            (
                &format!("{h}/wiki/spaces/ENG/blog/2024/03/05/987654/Launch+day"),
                content(987_654),
            ),
            (
                &format!("{h}/wiki/spaces/ENG/blog/2024/3/5/987654"),
                content(987_654),
            ),
            (
                &format!("{h}/wiki/spaces/ENG/blog/987654/Launch+day"),
                content(987_654),
            ),
            (
                &format!("{h}/wiki/spaces/ENG/blog/edit-v2/987654"),
                content(987_654),
            ),
            (
                &format!("{h}/wiki/spaces/ENG/whiteboard/31337"),
                content(31_337),
            ),
            (
                &format!("{h}/wiki/spaces/ENG/folder/31338"),
                content(31_338),
            ),
            (
                &format!("{h}/wiki/spaces/ENG/database/31339"),
                content(31_339),
            ),
            // Legacy DC forms still answered by Cloud.
            (
                &format!("{h}/wiki/display/ENG/Release+Notes"),
                title("ENG", "Release Notes", None),
            ),
            // Any case for the scheme and host, http too, a scheme-less paste.
            (
                "HTTPS://ACME.atlassian.net/wiki/spaces/ENG/pages/1",
                content(1),
            ),
            (
                "http://acme.atlassian.net/wiki/spaces/ENG/pages/1",
                content(1),
            ),
            ("acme.atlassian.net/wiki/spaces/ENG/pages/2/T", content(2)),
            (
                "  https://acme.atlassian.net/wiki/x/U4I \n",
                content(33_363),
            ),
            (
                &format!("{h}/wiki/rest/api/content/4242?expand=version"),
                content(4242),
            ),
            (&format!("{h}/wiki/api/v2/pages/4243"), content(4243)),
            // Ids beyond 32 bits.
            (
                &format!("{h}/wiki/spaces/ENG/pages/5000000000"),
                content(5_000_000_000),
            ),
            (
                &format!("{h}/wiki/x/{}", tiny::encode(5_000_000_000)),
                content(5_000_000_000),
            ),
        ],
    );
}

#[test]
fn cloud_base_with_or_without_wiki_and_custom_domains() {
    let h = "https://acme.atlassian.net";
    // The base configured without `/wiki`: links still carry it.
    check(
        CLOUD_NO_WIKI,
        &[
            (&format!("{h}/wiki/spaces/ENG/pages/1/T"), content(1)),
            (&format!("{h}/wiki/x/U4I"), content(33_363)),
            (&format!("{h}/wiki/spaces/ENG"), home("ENG")),
            (&format!("{h}/spaces/ENG/pages/2"), content(2)),
        ],
    );
    // A custom domain may drop `/wiki` (UNCONFIRMED): both are accepted.
    check(
        CUSTOM,
        &[
            (
                "https://docs.acme.com/wiki/spaces/DOC/pages/3/T",
                content(3),
            ),
            ("https://docs.acme.com/spaces/DOC/pages/3/T", content(3)),
            ("https://docs.acme.com/x/U4I", content(33_363)),
            (
                "https://docs.acme.com/pages/viewpage.action?pageId=4",
                content(4),
            ),
            ("https://docs.acme.com/spaces/DOC/overview", home("DOC")),
        ],
    );
}

#[test]
fn data_center_forms() {
    let h = "https://confluence.acme.com/confluence";
    check(
        DC,
        &[
            (
                &format!("{h}/pages/viewpage.action?pageId=65538"),
                content(65_538),
            ),
            (
                &format!("{h}/pages/viewpage.action?pageId=65538&pageVersion=3#anchor"),
                content(65_538),
            ),
            (
                &format!("{h}/display/ENG/Release+Notes+2.0"),
                title("ENG", "Release Notes 2.0", None),
            ),
            (
                &format!("{h}/display/ENG/Release+Notes+2.0?focusedCommentId=5#comment-5"),
                title("ENG", "Release Notes 2.0", None),
            ),
            (
                &format!("{h}/display/ENG/C%2B%2B+%26+Rust%3A+a%2Fb"),
                title("ENG", "C++ & Rust: a/b", None),
            ),
            (
                &format!("{h}/display/ENG/%D0%9F%D0%BB%D0%B0%D0%BD+%D1%80%D0%B0%D0%B1%D0%BE%D1%82"),
                title("ENG", "План работ", None),
            ),
            (
                &format!("{h}/display/ENG/План+работ"),
                title("ENG", "План работ", None),
            ),
            (
                &format!("{h}/display/~jdoe/My+Page"),
                title("~jdoe", "My Page", None),
            ),
            (
                &format!("{h}/display/~john.doe@acme.com/Notes"),
                title("~john.doe@acme.com", "Notes", None),
            ),
            (
                &format!("{h}/display/ENG/2024/03/05/Launch+Day"),
                title("ENG", "Launch Day", Some("2024-03-05")),
            ),
            (
                &format!("{h}/display/ENG/2024/3/5/Launch+Day"),
                title("ENG", "Launch Day", Some("2024-03-05")),
            ),
            // A page titled like a year is a page.
            (&format!("{h}/display/ENG/2024"), title("ENG", "2024", None)),
            (&format!("{h}/display/ENG"), home("ENG")),
            (&format!("{h}/display/ENG/"), home("ENG")),
            (
                &format!("{h}/pages/viewpage.action?spaceKey=ENG&title=Release+Notes+2.0"),
                title("ENG", "Release Notes 2.0", None),
            ),
            (
                &format!("{h}/pages/viewpage.action?spaceKey=ENG&amp;title=Release%20Notes"),
                title("ENG", "Release Notes", None),
            ),
            (&format!("{h}/spaces/viewspace.action?key=ENG"), home("ENG")),
            (&format!("{h}/x/iADiE"), content(283_246_728)),
            (&format!("{h}/x/iADiE/"), content(283_246_728)),
            (
                &format!("{h}/spaces/ENG/pages/65539/Some+Title"),
                content(65_539),
            ),
            (
                &format!("{h}/plugins/viewsource/viewpagesrc.action?pageId=65540"),
                content(65_540),
            ),
            // The context path left out (accepted: the host is ours).
            (
                "https://confluence.acme.com/display/ENG/Home",
                title("ENG", "Home", None),
            ),
            ("https://confluence.acme.com/x/iADiE", content(283_246_728)),
        ],
    );
    let h = "http://wiki.acme.local:8090";
    check(
        DC_ROOT,
        &[
            (
                &format!("{h}/display/OPS/Runbook"),
                title("OPS", "Runbook", None),
            ),
            (&format!("{h}/pages/viewpage.action?pageId=12"), content(12)),
            (&format!("{h}/x/U4I"), content(33_363)),
        ],
    );
}

#[test]
fn refused() {
    let cloud = site(CLOUD);
    let dc_root = site(DC_ROOT);
    let foreign = |host: &str| {
        Err::<LinkTarget, _>(LinkError::ForeignHost {
            host: host.to_owned(),
        })
    };
    assert_eq!(resolve("", &cloud), Err(LinkError::NotAUrl));
    assert_eq!(resolve("not a url", &cloud), Err(LinkError::NotAUrl));
    assert_eq!(resolve("/wiki/x/U4I", &cloud), Err(LinkError::NotAUrl));
    assert_eq!(
        resolve("acme.atlassian.net.evil.com/wiki/x/U4I", &cloud),
        Err(LinkError::NotAUrl)
    );
    assert_eq!(
        resolve("https://evil.com/wiki/x/U4I", &cloud),
        foreign("evil.com")
    );
    assert_eq!(
        resolve("https://acme.atlassian.net.evil.com/wiki/x/U4I", &cloud),
        foreign("acme.atlassian.net.evil.com")
    );
    assert_eq!(
        resolve("https://other.atlassian.net/wiki/x/U4I", &cloud),
        foreign("other.atlassian.net")
    );
    assert_eq!(
        resolve("https://acme.atlassian.net:8443/wiki/x/U4I", &cloud),
        foreign("acme.atlassian.net:8443")
    );
    assert_eq!(
        resolve(
            "https://evil.com/?u=https://acme.atlassian.net/wiki/x/U4I",
            &cloud
        ),
        foreign("evil.com")
    );
    assert_eq!(
        resolve("http://wiki.acme.local/x/U4I", &dc_root),
        foreign("wiki.acme.local")
    );
    assert_eq!(
        resolve("http://wiki.acme.local:8091/x/U4I", &dc_root),
        foreign("wiki.acme.local:8091")
    );
    // Userinfo does not change the host.
    assert_eq!(
        resolve("https://acme.atlassian.net@evil.com/wiki/x/U4I", &cloud),
        foreign("evil.com")
    );

    for url in [
        "ftp://acme.atlassian.net/wiki/x/U4I",
        "javascript:alert(1)",
        "mailto:someone@acme.atlassian.net",
        "https://acme.atlassian.net/",
        "https://acme.atlassian.net/wiki",
        "https://acme.atlassian.net/wiki/spaces/ENG/pages",
        "https://acme.atlassian.net/wiki/spaces/ENG/pages/abc/Title",
        "https://acme.atlassian.net/wiki/spaces/ENG/pages/+12",
        "https://acme.atlassian.net/wiki/spaces/ENG/pages/99999999999999999999999",
        "https://acme.atlassian.net/wiki/spaces/ENG/pages/edit-v2/",
        "https://acme.atlassian.net/wiki/spaces/ENG/blog/2024/03/05",
        "https://acme.atlassian.net/wiki/spaces/ENG/settings/home",
        "https://acme.atlassian.net/wiki/x/",
        "https://acme.atlassian.net/wiki/x/not+a+code",
        "https://acme.atlassian.net/wiki/x/AAAAAAAAAAAA",
        "https://acme.atlassian.net/wiki/x/U4I/extra",
        "https://acme.atlassian.net/wiki/pages/viewpage.action",
        "https://acme.atlassian.net/wiki/pages/viewpage.action?pageId=12abc",
        "https://acme.atlassian.net/wiki/pages/viewpage.action?spaceKey=ENG",
        "https://acme.atlassian.net/wiki/pages/resumedraft.action?draftShareId=1",
        "https://acme.atlassian.net/wiki/display/ENG/2024/03/05",
        "https://acme.atlassian.net/wiki/display/ENG/A/B",
        "https://acme.atlassian.net/wiki/display/ENG/+",
        "https://acme.atlassian.net/wiki/search?text=x",
        "https://acme.atlassian.net/wiki/home",
    ] {
        match resolve(url, &cloud) {
            Err(LinkError::Unrecognised(reason)) => assert!(!reason.is_empty(), "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[test]
fn reasons_are_readable() {
    let cloud = site(CLOUD);
    let reason = |url: &str| resolve(url, &cloud).expect_err(url).to_string();
    assert_eq!(
        reason("https://acme.atlassian.net/wiki/spaces/ENG/pages/abc/T"),
        "not a link to Confluence content: /wiki/spaces/ENG/pages/abc/T: no page id after /pages/"
    );
    assert_eq!(
        reason("https://evil.com/wiki/x/U4I"),
        "evil.com is not the configured Confluence site"
    );
    assert!(reason("https://acme.atlassian.net/wiki/x/$$").contains("tiny-link code"));
}

#[test]
fn found_urls_resolve() {
    let cloud = site(CLOUD);
    let text = "Spec: [url=https://acme.atlassian.net/wiki/x/3YE5C]the spec[/url], \
                plan (https://acme.atlassian.net/wiki/spaces/ENG/pages/42/Plan). \
                Elsewhere: https://example.com/x/3YE5C";
    let resolved: Vec<_> = find_urls(text).iter().map(|u| resolve(u, &cloud)).collect();
    assert_eq!(
        resolved,
        [
            content(137_986_525),
            content(42),
            Err(LinkError::ForeignHost {
                host: "example.com".to_owned()
            }),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Cloud keys, DC keys, personal space keys.
fn space_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Z][A-Z0-9]{0,9}",
        "[a-z][a-z0-9]{0,9}",
        "~[0-9]{6,12}",
        "~[0-9a-f]{24,40}",
        "~[a-z][a-z0-9._@-]{0,15}",
    ]
}

/// Titles as Confluence stores them: trimmed, no control characters, anything else.
fn page_title() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9 ]{1,30}",
        "\\PC{1,30}",
        Just("edit".to_owned()),
        Just("edit-v2".to_owned()),
        Just("2024".to_owned()),
        Just("C++ & Rust: a/b?c=d#e".to_owned()),
    ]
    .prop_map(|t| t.trim().to_owned())
    .prop_filter("a title has a visible character", |t| !t.is_empty())
}

/// `+` for spaces and percent-encoding, as Confluence writes titles into URLs.
fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// What may follow a URL's path without changing its target.
fn noise() -> impl Strategy<Value = (Vec<(String, String)>, Option<String>)> {
    let param = prop_oneof![
        "[0-9]{1,3}".prop_map(|v| ("pageVersion".to_owned(), v)),
        "[a-z]{1,8}".prop_map(|v| ("utm_source".to_owned(), v)),
        "[a-z]{1,8}".prop_map(|v| ("utm_medium".to_owned(), v)),
        "[A-Za-z0-9]{4,20}".prop_map(|v| ("atlOrigin".to_owned(), v)),
        "[0-9]{1,9}".prop_map(|v| ("focusedCommentId".to_owned(), v)),
    ];
    (
        prop::collection::vec(param, 0..3),
        prop::option::of("[A-Za-z0-9._-]{0,20}"),
    )
}

fn with_noise(mut url: String, params: &[(String, String)], fragment: Option<&str>) -> String {
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (key, value) in params {
        url.push(separator);
        url.push_str(&format!("{key}={}", encode(value)));
        separator = '&';
    }
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

#[derive(Clone, Debug)]
enum Form {
    CloudPage,
    CloudPageSlug,
    CloudEditV2,
    CloudEdit,
    ViewPage,
    ResumeDraft,
    Tiny,
    TinySlash,
    SpaceRoot,
    SpaceOverview,
    CloudBlog,
    DcDisplay,
    DcBlog,
    DcViewPageTitle,
    DcSpacesPages,
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        Just(Form::CloudPage),
        Just(Form::CloudPageSlug),
        Just(Form::CloudEditV2),
        Just(Form::CloudEdit),
        Just(Form::ViewPage),
        Just(Form::ResumeDraft),
        Just(Form::Tiny),
        Just(Form::TinySlash),
        Just(Form::SpaceRoot),
        Just(Form::SpaceOverview),
        Just(Form::CloudBlog),
        Just(Form::DcDisplay),
        Just(Form::DcBlog),
        Just(Form::DcViewPageTitle),
        Just(Form::DcSpacesPages),
    ]
}

/// A URL of `form` under `base` (no trailing slash) and what it must resolve to.
fn build(
    form: &Form,
    base: &str,
    id: u64,
    key: &str,
    title: &str,
    (y, m, d): (u32, u32, u32),
) -> (String, LinkTarget) {
    let k = encode(key);
    let t = encode(title);
    match form {
        Form::CloudPage => (
            format!("{base}/spaces/{k}/pages/{id}"),
            LinkTarget::Content(id),
        ),
        Form::CloudPageSlug => (
            format!("{base}/spaces/{k}/pages/{id}/{t}"),
            LinkTarget::Content(id),
        ),
        Form::CloudEditV2 => (
            format!("{base}/spaces/{k}/pages/edit-v2/{id}"),
            LinkTarget::Content(id),
        ),
        Form::CloudEdit => (
            format!("{base}/spaces/{k}/pages/edit/{id}"),
            LinkTarget::Content(id),
        ),
        Form::ViewPage => (
            format!("{base}/pages/viewpage.action?pageId={id}"),
            LinkTarget::Content(id),
        ),
        Form::ResumeDraft => (
            format!("{base}/pages/resumedraft.action?draftId={id}"),
            LinkTarget::Content(id),
        ),
        Form::Tiny => (
            format!("{base}/x/{}", tiny::encode(id)),
            LinkTarget::Content(id),
        ),
        Form::TinySlash => (
            format!("{base}/x/{}/", tiny::encode(id)),
            LinkTarget::Content(id),
        ),
        Form::SpaceRoot => (
            format!("{base}/spaces/{k}"),
            LinkTarget::SpaceHome {
                space_key: key.to_owned(),
            },
        ),
        Form::SpaceOverview => (
            format!("{base}/spaces/{k}/overview"),
            LinkTarget::SpaceHome {
                space_key: key.to_owned(),
            },
        ),
        Form::CloudBlog => (
            format!("{base}/spaces/{k}/blog/{y:04}/{m:02}/{d:02}/{id}/{t}"),
            LinkTarget::Content(id),
        ),
        Form::DcDisplay => (
            format!("{base}/display/{k}/{t}"),
            LinkTarget::Title {
                space_key: key.to_owned(),
                title: title.to_owned(),
                posting_day: None,
            },
        ),
        Form::DcBlog => (
            format!("{base}/display/{k}/{y:04}/{m:02}/{d:02}/{t}"),
            LinkTarget::Title {
                space_key: key.to_owned(),
                title: title.to_owned(),
                posting_day: Some(format!("{y:04}-{m:02}-{d:02}")),
            },
        ),
        Form::DcViewPageTitle => (
            format!("{base}/pages/viewpage.action?spaceKey={k}&title={t}"),
            LinkTarget::Title {
                space_key: key.to_owned(),
                title: title.to_owned(),
                posting_day: None,
            },
        ),
        Form::DcSpacesPages => (
            format!("{base}/spaces/{k}/pages/{id}/{t}"),
            LinkTarget::Content(id),
        ),
    }
}

const BASES: &[&str] = &[CLOUD, CLOUD_NO_WIKI, CUSTOM, DC, DC_ROOT];

/// The prefix links on `base` carry: Cloud links always carry `/wiki`, a custom domain's
/// may or may not.
fn link_prefixes(base: &str) -> Vec<String> {
    let base = base.trim_end_matches('/');
    match base {
        CLOUD_NO_WIKI => vec![format!("{base}/wiki")],
        CUSTOM => vec![base.to_owned(), "https://docs.acme.com".to_owned()],
        _ => vec![base.to_owned()],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tiny_links_round_trip(id in any::<u64>(), slash in any::<bool>()) {
        for base in BASES {
            let code = tiny::encode(id);
            prop_assert_eq!(tiny::decode(&code), Some(id));
            for prefix in link_prefixes(base) {
                let url = format!("{prefix}/x/{code}{}", if slash { "/" } else { "" });
                prop_assert_eq!(resolve(&url, &site(base)), Ok(LinkTarget::Content(id)), "{}", url);
            }
        }
    }

    #[test]
    fn generated_urls_resolve(
        form in form(),
        base in prop::sample::select(BASES),
        prefix_pick in any::<prop::sample::Index>(),
        id in any::<u64>(),
        key in space_key(),
        title in page_title(),
        day in (1990u32..2100, 1u32..=12, 1u32..=28),
        (params, fragment) in noise(),
    ) {
        let prefixes = link_prefixes(base);
        let prefix = prefix_pick.get(&prefixes);
        let (url, expected) = build(&form, prefix, id, &key, &title, day);
        let url = with_noise(url, &params, fragment.as_deref());
        prop_assert_eq!(resolve(&url, &site(base)), Ok(expected.clone()), "{}", url);

        // The same URL found in a task's text resolves alike: in BB-code, in HTML, and in
        // running text when its end is not part of a title.
        let cloud_like = matches!(expected, LinkTarget::Content(_)) && fragment.is_none();
        let mut texts = vec![
            format!("see [url={url}]the page[/url] today"),
            format!("[url]{url}[/url]"),
            format!("<p><a href=\"{url}\">x</a></p>"),
        ];
        if cloud_like {
            texts.push(format!("Look at {url}, please (or {url}). Thanks!"));
        }
        for text in texts {
            let found = find_urls(&text);
            prop_assert_eq!(found.len(), 1, "{}: {:?}", text, found);
            prop_assert_eq!(resolve(&found[0], &site(base)), Ok(expected.clone()), "{}", text);
        }
    }

    #[test]
    fn other_hosts_are_foreign(
        form in form(),
        host in "[a-z]{1,10}\\.(com|net|org)",
        id in any::<u64>(),
        key in space_key(),
        title in page_title(),
    ) {
        let (url, _) = build(&form, &format!("https://{host}/wiki"), id, &key, &title, (2024, 1, 1));
        prop_assert_eq!(
            resolve(&url, &site(CLOUD)),
            Err(LinkError::ForeignHost { host: host.clone() })
        );
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        for base in BASES {
            let site = site(base);
            let _ = resolve(&text, &site);
            let _ = resolve(&format!("{base}/{text}"), &site);
            for url in find_urls(&text) {
                let _ = resolve(&url, &site);
            }
        }
        let _ = tiny::decode(&text);
    }

    #[test]
    fn url_shaped_text_never_panics(
        text in "(https?://(acme\\.atlassian\\.net|confluence\\.acme\\.com|\\[::1\\]))?(/(wiki|confluence|spaces|pages|display|blog|x|edit|edit-v2|overview|viewpage\\.action|resumedraft\\.action|[0-9]{1,22}|[A-Za-z0-9~%+._-]{0,12})){0,9}/?(\\?((pageId|draftId|spaceKey|title|key|amp;title)=[A-Za-z0-9%+&;=]{0,12})){0,3}(#.{0,8})?",
    ) {
        for base in BASES {
            let site = site(base);
            let _ = resolve(&text, &site);
            for url in find_urls(&format!("x {text}. [url={text}]y[/url]")) {
                let _ = resolve(&url, &site);
            }
        }
    }
}
