//! Contract tests of the fake Confluence, written from `../shared/docs/confluence-api.md`: each
//! documented behaviour the bridge relies on has a test that fails if the fake drifts. The
//! signatures (HMAC-SHA256, JWT HS256, `qsh`) are recomputed here with a local SHA-256, so the
//! checks share no code with the fake.

use bridge_sandbox::common::{Running, serve};
use bridge_sandbox::confluence::{CloudPayload, FakeConfluence, Flavor, Hook};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

// ---------- helpers ----------

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn call(
    method: reqwest::Method,
    url: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = client().request(method, url);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// GET `base_url + path` with the flavour's credentials.
async fn get(fc: &FakeConfluence, path: &str) -> (StatusCode, HeaderMap, Value) {
    let url = format!("{}{path}", fc.base_url());
    call(reqwest::Method::GET, &url, Some(&fc.auth_header()), None).await
}

async fn cloud() -> FakeConfluence {
    FakeConfluence::start(Flavor::Cloud).await.unwrap()
}

async fn dc() -> FakeConfluence {
    FakeConfluence::start(Flavor::DataCenter).await.unwrap()
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Clone, Debug)]
struct Got {
    path: String,
    query: Option<String>,
    headers: HeaderMapLite,
    body: String,
}

type HeaderMapLite = Vec<(String, String)>;

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A tiny webhook receiver answering 200 to everything.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    _running: Running,
}

impl Receiver {
    async fn start() -> Receiver {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let sink = got.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let sink = sink.clone();
            async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                sink.lock().unwrap().push(Got {
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().map(str::to_owned),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                        .collect(),
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                });
                "ok"
            }
        });
        let running = serve(app, "127.0.0.1:0").await.unwrap();
        Receiver {
            url: running.base_url.clone(),
            got,
            _running: running,
        }
    }
    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

// --- SHA-256, HMAC, base64url: local, independent of the fake ---

fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[4 * i],
                chunk[4 * i + 1],
                chunk[4 * i + 2],
                chunk[4 * i + 3],
            ]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, v) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(msg);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha256(&inner));
    sha256(&outer)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn b64url_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = alphabet.iter().position(|a| *a == c).expect("base64url") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

#[test]
fn sandbox_confluence_local_sha256_is_right() {
    assert_eq!(
        hex(&sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    // RFC 4231 test case 2.
    assert_eq!(
        hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

// ---------- REST v1 content ----------

#[tokio::test]
async fn sandbox_confluence_v1_content_shape_and_default_expansions() {
    let fc = cloud().await;
    fc.create_space("ENG", "Engineering").unwrap();
    let (parent, _) = fc
        .create_page("ENG", "Runbooks", "<p>top</p>", None)
        .await
        .unwrap();
    let (id, v) = fc
        .create_page("ENG", "Deploy Guide", "<p>How to deploy</p>", Some(parent))
        .await
        .unwrap();
    assert!(id > u64::from(u32::MAX), "ids exceed 2^32 as on Cloud");
    assert_eq!(v, 1);

    let (s, _, c) = get(&fc, &format!("/rest/api/content/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(c["id"], json!(id.to_string()), "v1 ids are strings");
    assert_eq!(c["type"], "page");
    assert_eq!(c["status"], "current");
    assert_eq!(c["title"], "Deploy Guide");
    // Default expansions: space, history, version.
    assert_eq!(c["space"]["key"], "ENG");
    assert!(c["space"]["id"].is_u64(), "space.id is an int64");
    assert_eq!(c["version"]["number"], 1);
    assert!(
        c["version"]["when"].as_str().unwrap().ends_with('Z'),
        "Cloud times are UTC with Z"
    );
    assert!(c["version"]["by"]["accountId"].is_string());
    assert!(c["history"]["createdBy"].is_object());
    assert!(c["body"].is_null() && c["_expandable"]["body"].is_string());
    let links = &c["_links"];
    assert_eq!(links["base"], json!(fc.base_url()));
    assert!(fc.base_url().ends_with("/wiki"));
    assert_eq!(links["context"], "/wiki");
    assert_eq!(
        links["webui"],
        json!(format!("/spaces/ENG/pages/{id}/Deploy+Guide"))
    );
    let tiny = links["tinyui"].as_str().unwrap();
    assert!(tiny.starts_with("/x/"));
    assert_eq!(
        links["self"],
        json!(format!("{}/rest/api/content/{id}", fc.base_url()))
    );

    let (_, _, c) = get(
        &fc,
        &format!("/rest/api/content/{id}?expand=body.storage,version,space,history,ancestors"),
    )
    .await;
    assert_eq!(c["body"]["storage"]["value"], "<p>How to deploy</p>");
    assert_eq!(c["body"]["storage"]["representation"], "storage");
    let ancestors: Vec<&str> = c["ancestors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        ancestors,
        ["Engineering Home", "Runbooks"],
        "root first, parent last"
    );

    // More than 8 expansions → 400.
    let (s, _, e) = get(
        &fc,
        &format!("/rest/api/content/{id}?expand=a,b,c,d,e,f,g,h,i"),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(e["statusCode"], 400);

    // Unknown id → 404 in the v1 error shape.
    let (s, _, e) = get(&fc, "/rest/api/content/99").await;
    assert_eq!((s.as_u16(), e["statusCode"].as_u64()), (404, Some(404)));
}

#[tokio::test]
async fn sandbox_confluence_dc_content_shape_context_path_and_users() {
    let fc = dc().await;
    assert!(
        fc.base_url().ends_with("/confluence"),
        "DC has a context path"
    );
    let (id, _) = fc
        .create_page("DEMO", "Release Notes", "<p>x</p>", None)
        .await
        .unwrap();
    let (odd, _) = fc
        .create_page("DEMO", "Q&A: what?", "<p>y</p>", None)
        .await
        .unwrap();
    let (s, _, c) = get(&fc, &format!("/rest/api/content/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(c["_links"]["base"], json!(fc.base_url()));
    assert_eq!(c["_links"]["context"], "/confluence");
    assert_eq!(c["_links"]["webui"], "/display/DEMO/Release+Notes");
    let by = &c["version"]["by"];
    assert!(by["userKey"].is_string() && by["username"].is_string() && by["accountId"].is_null());
    assert!(
        c["version"]["when"].as_str().unwrap().ends_with("+02:00"),
        "DC answers with an offset"
    );
    let (_, _, c) = get(&fc, &format!("/rest/api/content/{odd}")).await;
    assert_eq!(
        c["_links"]["webui"],
        json!(format!("/pages/viewpage.action?pageId={odd}"))
    );
}

#[tokio::test]
async fn sandbox_confluence_v1_offset_paging_follows_next() {
    for fc in [cloud().await, dc().await] {
        fc.create_space("PG", "Paging").unwrap();
        for i in 0..6 {
            fc.create_page("PG", &format!("Page {i}"), "<p/>", None)
                .await
                .unwrap();
        }
        let (s, _, first) = get(&fc, "/rest/api/content?spaceKey=PG&type=page&limit=3").await;
        assert_eq!(s, 200);
        assert_eq!(
            (
                first["start"].as_u64(),
                first["limit"].as_u64(),
                first["size"].as_u64()
            ),
            (Some(0), Some(3), Some(3))
        );
        let next = first["_links"]["next"].as_str().unwrap();
        assert!(
            next.starts_with("/rest/api/content?") && next.contains("start=3"),
            "{next}"
        );
        let mut titles = Vec::new();
        let mut page = first;
        loop {
            titles.extend(
                page["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["title"].as_str().unwrap().to_owned()),
            );
            let Some(next) = page["_links"]["next"].as_str() else {
                break;
            };
            // `next` is relative to `_links.base`.
            let url = format!("{}{next}", page["_links"]["base"].as_str().unwrap());
            page = call(reqwest::Method::GET, &url, Some(&fc.auth_header()), None)
                .await
                .2;
        }
        assert_eq!(titles.len(), 7, "6 pages + the home page: {titles:?}");

        // The server clamps `limit` silently.
        fc.set_knobs(|k| k.v1_limit_cap = 2);
        let (_, _, p) = get(&fc, "/rest/api/content?spaceKey=PG&limit=50").await;
        assert_eq!(
            (p["limit"].as_u64(), p["size"].as_u64()),
            (Some(2), Some(2))
        );
        assert!(p["_links"]["next"].is_string());
    }
}

// ---------- REST v2 ----------

#[tokio::test]
async fn sandbox_confluence_v2_cursor_paging_with_link_header() {
    let fc = cloud().await;
    let space = fc.create_space("CUR", "Cursor").unwrap();
    for i in 0..5 {
        fc.create_page("CUR", &format!("P{i}"), &format!("<p>{i}</p>"), None)
            .await
            .unwrap();
    }
    let (s, h, first) = get(
        &fc,
        &format!("/api/v2/spaces/{space}/pages?limit=2&body-format=storage"),
    )
    .await;
    assert_eq!(s, 200);
    let next = first["_links"]["next"].as_str().unwrap().to_owned();
    assert!(
        next.starts_with("/wiki/api/v2/") && next.contains("cursor="),
        "{next}"
    );
    let link = h.get("link").unwrap().to_str().unwrap();
    assert!(link.contains(&format!("<{next}>; rel=\"next\"")), "{link}");
    assert!(link.contains("rel=\"base\""));
    assert_eq!(
        first["results"][0]["body"]["storage"]["representation"],
        "storage"
    );
    assert!(first["results"][0]["id"].is_string() && first["results"][0]["spaceId"].is_string());

    let mut seen = Vec::new();
    let mut page = first;
    loop {
        seen.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["title"].as_str().unwrap().to_owned()),
        );
        let Some(next) = page["_links"]["next"].as_str() else {
            break;
        };
        // Site-root relative (already contains /wiki).
        let url = format!("{}{next}", fc.root_url());
        let (_, h, p) = call(reqwest::Method::GET, &url, Some(&fc.auth_header()), None).await;
        if p["_links"]["next"].is_null() {
            assert!(
                !h.get("link")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .contains("rel=\"next\"")
            );
        }
        page = p;
    }
    assert_eq!(seen.len(), 6);

    // Single page: no body unless asked; `_links.base`; v2 error shape for a bad cursor.
    let id = fc.page_id("CUR", "P1").unwrap();
    let (_, _, p) = get(&fc, &format!("/api/v2/pages/{id}")).await;
    assert_eq!(p["body"], json!({}));
    assert_eq!(p["version"]["number"], 1);
    assert!(p["version"]["authorId"].is_string());
    assert_eq!(p["_links"]["base"], json!(fc.base_url()));
    assert!(p["parentId"].is_string(), "under the space home page");
    let (s, _, e) = get(&fc, "/api/v2/pages?cursor=garbage").await;
    assert_eq!(s, 400);
    assert_eq!(e["errors"][0]["status"], 400);
}

#[tokio::test]
async fn sandbox_confluence_v2_tree_versions_and_moves() {
    let fc = cloud().await;
    let (a, _) = fc.create_page("DEMO", "A", "<p>a</p>", None).await.unwrap();
    let (b, _) = fc
        .create_page("DEMO", "B", "<p>b</p>", Some(a))
        .await
        .unwrap();
    let (c, _) = fc.create_page("DEMO", "C", "<p>c</p>", None).await.unwrap();
    let (_, _, kids) = get(&fc, &format!("/api/v2/pages/{a}/children")).await;
    assert_eq!(kids["results"][0]["id"], json!(b.to_string()));

    fc.move_page(b, Some(c), None).await.unwrap();
    let (_, _, anc) = get(&fc, &format!("/api/v2/pages/{b}/ancestors")).await;
    let ids: Vec<&str> = anc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    let home = fc.page_id("DEMO", "Demo space Home").unwrap().to_string();
    assert_eq!(
        ids,
        [home.as_str(), &c.to_string()],
        "highest ancestor first"
    );

    let (_, v2) = fc.rename_page(b, "B renamed").await.unwrap();
    let (_, v3) = fc.edit_page(b, "<p>b3</p>").await.unwrap();
    assert_eq!((v2, v3), (2, 3));
    let (_, _, vs) = get(&fc, &format!("/api/v2/pages/{b}/versions")).await;
    let numbers: Vec<u64> = vs["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2, 1]);
    let (_, _, old) = get(
        &fc,
        &format!("/api/v2/pages/{b}?version=1&body-format=storage"),
    )
    .await;
    assert_eq!(
        (
            old["title"].as_str(),
            old["body"]["storage"]["value"].as_str()
        ),
        (Some("B"), Some("<p>b</p>"))
    );
    let (_, _, v1old) = get(
        &fc,
        &format!("/rest/api/content/{b}?version=2&expand=body.storage"),
    )
    .await;
    assert_eq!(v1old["status"], "historical");
    assert_eq!(v1old["title"], "B renamed");
    let (_, _, hist) = get(&fc, &format!("/rest/api/content/{b}/version")).await;
    assert_eq!(hist["results"][0]["number"], 3, "newest first");
}

#[tokio::test]
async fn sandbox_confluence_dc_has_no_v2() {
    let fc = dc().await;
    let (s, _, _) = get(&fc, "/api/v2/pages").await;
    assert_eq!(s, 404);
    let (s, _, _) = get(&fc, "/rest/api/content?spaceKey=DEMO").await;
    assert_eq!(s, 200);
}

// ---------- auth ----------

#[tokio::test]
async fn sandbox_confluence_cloud_auth_basic_only_on_the_site() {
    let fc = cloud().await;
    let url = format!("{}/rest/api/content?spaceKey=DEMO", fc.base_url());
    let v2 = format!("{}/api/v2/pages", fc.base_url());
    let creds = fc.credentials();
    let wrong = format!(
        "Basic {}",
        b64(&format!("{}:not-the-token", creds.cloud_email))
    );
    for auth in [
        None,
        Some(wrong.as_str()),
        Some("Bearer whatever"),
        Some(&fc.dc_pat()[..]),
    ] {
        let (s, h, body) = call(reqwest::Method::GET, &url, auth, None).await;
        assert_eq!(s, 401, "{auth:?}");
        assert!(h.contains_key("www-authenticate"));
        assert_eq!(body["statusCode"], 401);
        let (s, _, body) = call(reqwest::Method::GET, &v2, auth, None).await;
        assert_eq!(s, 401);
        assert_eq!(body["errors"][0]["status"], 401, "v2 error shape");
    }
    let (s, _, _) = call(reqwest::Method::GET, &url, Some(&fc.cloud_basic()), None).await;
    assert_eq!(s, 200);
    assert_eq!(
        fc.cloud_basic(),
        format!(
            "Basic {}",
            b64(&format!("{}:{}", creds.cloud_email, creds.cloud_api_token))
        )
    );
}

#[tokio::test]
async fn sandbox_confluence_dc_auth_pat_bearer_or_basic_password() {
    let fc = dc().await;
    let url = format!("{}/rest/api/content?spaceKey=DEMO", fc.base_url());
    let creds = fc.credentials();
    let pat_as_password = format!(
        "Basic {}",
        b64(&format!("{}:{}", creds.dc_username, creds.dc_pat))
    );
    for auth in [
        None,
        Some("Bearer wrong-pat"),
        Some(pat_as_password.as_str()),
    ] {
        let (s, _, _) = call(reqwest::Method::GET, &url, auth, None).await;
        assert_eq!(s, 401, "{auth:?}");
    }
    for auth in [fc.dc_pat(), fc.dc_basic()] {
        let (s, _, _) = call(reqwest::Method::GET, &url, Some(&auth), None).await;
        assert_eq!(s, 200, "{auth}");
    }
}

fn b64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn sandbox_confluence_oauth_refresh_tokens_rotate() {
    let fc = cloud().await;
    let creds = fc.credentials();
    // The consent redirect carries code and state.
    let authorize = format!(
        "{}/authorize?audience=api.atlassian.com&client_id={}&scope=read%3Apage%3Aconfluence%20offline_access&redirect_uri={}&state=s1&response_type=code&prompt=consent",
        fc.root_url(),
        creds.oauth_client_id,
        enc("http://app.example/cb")
    );
    let (s, h, _) = call(reqwest::Method::GET, &authorize, None, None).await;
    assert_eq!(s, 302);
    let location = h.get("location").unwrap().to_str().unwrap().to_owned();
    assert!(location.starts_with("http://app.example/cb?"), "{location}");
    let q: std::collections::HashMap<&str, &str> = location
        .split_once('?')
        .unwrap()
        .1
        .split('&')
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    assert_eq!(q["state"], "s1");

    let token = async |body: Value| {
        call(
            reqwest::Method::POST,
            &fc.oauth_token_url(),
            None,
            Some(body),
        )
        .await
    };
    let (s, _, t1) = token(json!({
        "grant_type": "authorization_code", "client_id": creds.oauth_client_id,
        "client_secret": creds.oauth_client_secret, "code": q["code"], "redirect_uri": "http://app.example/cb"
    }))
    .await;
    assert_eq!(s, 200, "{t1}");
    assert_eq!(
        (t1["token_type"].as_str(), t1["expires_in"].as_u64()),
        (Some("Bearer"), Some(3600))
    );
    let access = format!("Bearer {}", t1["access_token"].as_str().unwrap());

    // The access token works on the gateway, not on the site.
    let (s, _, _) = call(
        reqwest::Method::GET,
        &format!("{}/api/v2/pages", fc.gateway_base_url()),
        Some(&access),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = call(
        reqwest::Method::GET,
        &format!("{}/api/v2/pages", fc.base_url()),
        Some(&access),
        None,
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, sites) = call(
        reqwest::Method::GET,
        &format!("{}/oauth/token/accessible-resources", fc.root_url()),
        Some(&access),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        fc.gateway_base_url()
            .contains(sites[0]["id"].as_str().unwrap())
    );

    let refresh = |rt: &str| {
        json!({"grant_type": "refresh_token", "client_id": creds.oauth_client_id,
               "client_secret": creds.oauth_client_secret, "refresh_token": rt})
    };
    let (s, _, t2) = token(refresh(t1["refresh_token"].as_str().unwrap())).await;
    assert_eq!(s, 200);
    assert_ne!(
        t2["refresh_token"], t1["refresh_token"],
        "a new refresh token each time"
    );
    let (s, _, e) = token(refresh(t1["refresh_token"].as_str().unwrap())).await;
    assert_eq!(s, 403, "the old refresh token is dead");
    assert_eq!(e["error"], "unauthorized_client");
    let (s, _, _) = token(refresh(t2["refresh_token"].as_str().unwrap())).await;
    assert_eq!(s, 200);
    let mut bad = refresh("x");
    bad["client_secret"] = json!("wrong");
    let (s, _, e) = token(bad).await;
    assert_eq!(
        (s.as_u16(), e["error"].as_str()),
        (401, Some("access_denied"))
    );
}

// ---------- statuses ----------

#[tokio::test]
async fn sandbox_confluence_trashed_and_deleted_answers() {
    for fc in [cloud().await, dc().await] {
        let (id, _) = fc
            .create_page("DEMO", "Doomed", "<p/>", None)
            .await
            .unwrap();
        fc.trash(id).await.unwrap();
        let (s, _, _) = get(&fc, &format!("/rest/api/content/{id}")).await;
        assert_eq!(s, 404, "trashed content is not `current`");
        for status in ["trashed", "any"] {
            let (s, _, c) = get(&fc, &format!("/rest/api/content/{id}?status={status}")).await;
            assert_eq!(s, 200);
            assert_eq!(c["status"], "trashed");
        }
        if fc.flavor() == Flavor::Cloud {
            let (s, _, _) = get(&fc, &format!("/api/v2/pages/{id}")).await;
            assert_eq!(s, 404);
            let (s, _, p) = get(&fc, &format!("/api/v2/pages/{id}?status=trashed")).await;
            assert_eq!((s.as_u16(), p["status"].as_str()), (200, Some("trashed")));
        }
        fc.purge(id).await.unwrap();
        let (s, _, _) = get(&fc, &format!("/rest/api/content/{id}?status=any")).await;
        assert_eq!(s, 404, "purged content is gone");
        if fc.flavor() == Flavor::Cloud {
            let (s, _, _) = get(&fc, &format!("/api/v2/pages/{id}?status=trashed")).await;
            assert_eq!(s, 404);
        }
        assert_eq!(
            fc.content(id).unwrap().status,
            bridge_sandbox::confluence::Status::Deleted
        );
    }
}

// ---------- CQL ----------

async fn search(fc: &FakeConfluence, cql: &str, extra: &str) -> (StatusCode, Value) {
    let (s, _, v) = get(fc, &format!("/rest/api/search?cql={}{extra}", enc(cql))).await;
    (s, v)
}

fn titles(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["content"]["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sandbox_confluence_cql_subset_and_escaping() {
    let fc = cloud().await;
    fc.create_space("ENG", "Engineering").unwrap();
    fc.create_page("ENG", "Deploy steps", "<p>Run the deploy script</p>", None)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    fc.create_page(
        "ENG",
        "Rollback",
        "<p>When the deploy fails badly</p>",
        None,
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    fc.create_page("ENG", r#"Say "hi" \ now"#, "<p>greetings</p>", None)
        .await
        .unwrap();
    fc.create_blogpost("ENG", "Deploy news", "<p>deploy</p>")
        .await
        .unwrap();
    fc.create_page("DEMO", "Deploy elsewhere", "<p>deploy</p>", None)
        .await
        .unwrap();

    let (s, r) = search(
        &fc,
        r#"type=page AND space="ENG" AND text ~ "deploy" order by lastmodified asc"#,
        "",
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(titles(&r), ["Deploy steps", "Rollback"]);
    assert_eq!(r["totalSize"], 2);
    assert!(r["cqlQuery"].as_str().unwrap().contains("text ~"));
    assert!(
        r["results"][0]["title"]
            .as_str()
            .unwrap()
            .contains("@@@hl@@@"),
        "highlighted title"
    );
    assert_eq!(r["results"][0]["entityType"], "content");
    assert!(
        r["results"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("/spaces/ENG/pages/")
    );

    let (_, r) = search(
        &fc,
        r#"space = ENG and type = page order by lastmodified desc"#,
        "",
    )
    .await;
    assert_eq!(
        titles(&r)[..3],
        [r#"Say "hi" \ now"#, "Rollback", "Deploy steps"]
    );

    let (_, r) = search(&fc, r#"title ~ "rollback" OR type = blogpost"#, "").await;
    let mut t = titles(&r);
    t.sort();
    assert_eq!(t, ["Deploy news", "Rollback"]);

    // Escaping: backslash first, then quotes.
    let escaped = r#"title = "Say \"hi\" \\ now""#;
    let (_, r) = search(&fc, escaped, "").await;
    assert_eq!(titles(&r), [r#"Say "hi" \ now"#]);
    // Exact phrase: the phrase in escaped quotes.
    let (_, r) = search(&fc, r#"text ~ "\"deploy script\"""#, "").await;
    assert_eq!(titles(&r), ["Deploy steps"]);
    let (_, r) = search(&fc, r#"text ~ "\"script deploy\"""#, "").await;
    assert!(titles(&r).is_empty());

    // Dates: today finds, tomorrow does not; both documented literal forms parse.
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let (_, r) = search(
        &fc,
        &format!(
            r#"space = ENG AND lastmodified >= "{}""#,
            today.format("%Y-%m-%d")
        ),
        "",
    )
    .await;
    assert_eq!(r["totalSize"], 5, "home page, three pages, one blog post");
    let (_, r) = search(
        &fc,
        &format!(
            r#"space = ENG AND lastmodified >= "{} 00:00""#,
            tomorrow.format("%Y/%m/%d")
        ),
        "",
    )
    .await;
    assert_eq!(r["totalSize"], 0);
    let (_, r) = search(&fc, r#"space = ENG AND lastModified > now("-7d")"#, "").await;
    assert_eq!(r["totalSize"], 5);

    // Bad CQL → 400 in Confluence's error shape.
    for bad in [
        r#"title ~ "unterminated"#,
        "nosuchfield = 1",
        "type = page order lastmodified",
        "text = x",
    ] {
        let (s, e) = search(&fc, bad, "").await;
        assert_eq!(s, 400, "{bad}");
        assert_eq!(e["statusCode"], 400);
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("Could not parse cql"),
            "{e}"
        );
    }

    // content/search gives a plain ContentArray.
    let (s, _, r) = get(
        &fc,
        &format!(
            "/rest/api/content/search?cql={}",
            enc("space = ENG and type = page")
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(r["results"][0]["type"], "page");
}

#[tokio::test]
async fn sandbox_confluence_cql_paging_cursor_on_cloud_start_on_dc() {
    for fc in [cloud().await, dc().await] {
        let cql = "space = DEMO and type = page";
        for i in 0..4 {
            fc.create_page("DEMO", &format!("S{i}"), "<p/>", None)
                .await
                .unwrap();
        }
        let (_, first) = search(&fc, cql, "&limit=2").await;
        assert_eq!(first["size"], 2);
        let next = first["_links"]["next"].as_str().unwrap();
        match fc.flavor() {
            Flavor::Cloud => assert!(
                next.contains("cursor=") && !next.contains("start="),
                "{next}"
            ),
            Flavor::DataCenter => {
                assert!(next.contains("start=2"), "{next}");
                assert_eq!(first["totalSize"], 5);
            }
        }
        let mut all = titles(&first);
        let mut page = first;
        while let Some(next) = page["_links"]["next"].as_str() {
            let url = format!("{}{next}", page["_links"]["base"].as_str().unwrap());
            page = call(reqwest::Method::GET, &url, Some(&fc.auth_header()), None)
                .await
                .2;
            all.extend(titles(&page));
        }
        assert_eq!(all.len(), 5);
    }
}

// ---------- children, comments, attachments, watchers ----------

#[tokio::test]
async fn sandbox_confluence_comments_replies_and_attachments() {
    let fc = cloud().await;
    let (page, _) = fc.create_page("DEMO", "Spec", "<p/>", None).await.unwrap();
    let (c1, _) = fc.add_comment(page, "<p>first</p>").await.unwrap();
    let (reply, _) = fc.add_comment(c1, "<p>reply</p>").await.unwrap();
    let (_, _, top) = get(
        &fc,
        &format!("/rest/api/content/{page}/child/comment?expand=body.storage"),
    )
    .await;
    assert_eq!(top["size"], 1);
    let (_, _, all) = get(
        &fc,
        &format!("/rest/api/content/{page}/child/comment?depth=all&expand=container,ancestors"),
    )
    .await;
    assert_eq!(all["size"], 2);
    let r = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(reply.to_string()))
        .unwrap();
    assert_eq!(r["container"]["id"], json!(page.to_string()));
    assert_eq!(r["ancestors"][0]["id"], json!(c1.to_string()));
    let (_, _, v2) = get(&fc, &format!("/api/v2/pages/{page}/footer-comments")).await;
    assert_eq!(v2["results"][0]["pageId"], json!(page.to_string()));
    let (_, _, kids) = get(&fc, &format!("/api/v2/footer-comments/{c1}/children")).await;
    assert_eq!(kids["results"][0]["parentCommentId"], json!(c1.to_string()));

    let bytes = b"%PDF-1.4 sandbox".to_vec();
    let (att, _) = fc
        .add_attachment(page, "spec sheet.pdf", "application/pdf", bytes.clone())
        .await
        .unwrap();
    let (_, _, list) = get(&fc, &format!("/rest/api/content/{page}/child/attachment")).await;
    let a = &list["results"][0];
    assert_eq!(
        (a["type"].as_str(), a["title"].as_str()),
        (Some("attachment"), Some("spec sheet.pdf"))
    );
    assert_eq!(a["extensions"]["fileSize"], bytes.len());
    let download = a["_links"]["download"].as_str().unwrap();
    assert!(
        download.starts_with(&format!("/download/attachments/{page}/")),
        "{download}"
    );
    let got = client()
        .get(format!("{}{download}", fc.base_url()))
        .header("authorization", fc.cloud_basic())
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes);
    let (s, h, _) = get(
        &fc,
        &format!("/rest/api/content/{page}/child/attachment/{att}/download"),
    )
    .await;
    assert_eq!(s, 302);
    assert!(
        h.get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("/download/attachments/")
    );
    let (_, _, v2) = get(&fc, &format!("/api/v2/pages/{page}/attachments")).await;
    let a = &v2["results"][0];
    assert_eq!(a["downloadLink"], json!(download));
    assert_eq!(a["pageId"], json!(page.to_string()));
    assert_eq!(a["fileSize"], bytes.len());
}

/// GET with optional credentials; the raw body (downloads are not JSON).
async fn get_raw(url: &str, auth: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = client().get(url);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.bytes().await.unwrap().to_vec())
}

/// `n` attachments `f{i}.bin` with distinct bytes; returns their bytes by file name.
async fn attach_files(fc: &FakeConfluence, on: u64, n: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..n {
        let name = format!("f{i}.bin");
        let bytes = format!("bytes of file {i} {}", "x".repeat(i)).into_bytes();
        fc.add_attachment(on, &name, "application/octet-stream", bytes.clone())
            .await
            .unwrap();
        out.push((name, bytes));
    }
    out
}

#[tokio::test]
async fn sandbox_confluence_v2_attachments_page_by_cursor_and_download_with_auth() {
    let fc = cloud().await;
    let (page, _) = fc.create_page("DEMO", "Files", "<p/>", None).await.unwrap();
    let files = attach_files(&fc, page, 5).await;

    let (s, h, first) = get(&fc, &format!("/api/v2/pages/{page}/attachments?limit=2")).await;
    assert_eq!(s, 200);
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    let next = first["_links"]["next"].as_str().unwrap().to_owned();
    assert!(
        next.starts_with(&format!("/wiki/api/v2/pages/{page}/attachments?"))
            && next.contains("cursor="),
        "site-root relative with /wiki: {next}"
    );
    let link = h.get("link").unwrap().to_str().unwrap();
    assert!(link.contains(&format!("<{next}>; rel=\"next\"")), "{link}");
    assert!(
        link.contains(&format!("<{}>; rel=\"base\"", fc.base_url())),
        "{link}"
    );

    let mut items: Vec<Value> = Vec::new();
    let mut body = first;
    loop {
        items.extend(body["results"].as_array().unwrap().iter().cloned());
        let Some(next) = body["_links"]["next"].as_str() else {
            break;
        };
        let url = format!("{}{next}", fc.root_url());
        let (s, _, b) = call(reqwest::Method::GET, &url, Some(&fc.auth_header()), None).await;
        assert_eq!(s, 200);
        body = b;
    }
    assert_eq!(
        items.len(),
        5,
        "every attachment once across the cursor pages"
    );
    for (name, bytes) in &files {
        let a = items.iter().find(|a| a["title"] == json!(name)).unwrap();
        // AttachmentBulk fields (docs §2).
        let id = a["id"].as_str().unwrap();
        assert!(
            id.starts_with("att") && id[3..].parse::<u64>().is_ok(),
            "{id}"
        );
        assert_eq!(a["status"], "current");
        assert_eq!(a["pageId"], json!(page.to_string()));
        assert_eq!(a["mediaType"], "application/octet-stream");
        assert_eq!(a["fileSize"], json!(bytes.len()));
        assert_eq!(a["version"]["number"], 1);
        assert!(a["fileId"].is_string() && a["webuiLink"].is_string());
        let download = a["downloadLink"].as_str().unwrap();
        assert_eq!(a["_links"]["download"], json!(download));
        assert!(
            a["_links"].get("base").is_none(),
            "list items carry no base"
        );
        assert!(
            download.starts_with(&format!("/download/attachments/{page}/{name}?version=1")),
            "relative to the /wiki base: {download}"
        );
        // The binary, relative to the site `/wiki` base, with the API's auth.
        let url = format!("{}{download}", fc.base_url());
        let (s, h, got) = get_raw(&url, Some(&fc.cloud_basic())).await;
        assert_eq!(s, 200);
        assert_eq!(&got, bytes);
        assert_eq!(
            h.get("content-length").and_then(|v| v.to_str().ok()),
            Some(bytes.len().to_string().as_str())
        );
        let (s, _, _) = get_raw(&url, None).await;
        assert_eq!(s, 401, "downloads need the same auth as the API");
        let (s, _, _) = get_raw(&url, Some(&b64_basic("sandbox@example.com", "wrong"))).await;
        assert_eq!(s, 401);
    }

    // Default limit 50, at most 250; a single attachment by its prefixed id has the base.
    let (_, _, all) = get(&fc, &format!("/api/v2/pages/{page}/attachments?limit=999")).await;
    assert_eq!(all["results"].as_array().unwrap().len(), 5);
    assert!(all["_links"]["next"].is_null());
    let one = items[0]["id"].as_str().unwrap();
    let (s, _, single) = get(&fc, &format!("/api/v2/attachments/{one}")).await;
    assert_eq!(s, 200);
    assert_eq!(single["_links"]["base"], json!(fc.base_url()));

    // No type polymorphism in v2: a blog post's attachments only under /blogposts.
    let (blog, _) = fc.create_blogpost("DEMO", "News", "<p/>").await.unwrap();
    attach_files(&fc, blog, 1).await;
    let (s, _, b) = get(&fc, &format!("/api/v2/blogposts/{blog}/attachments")).await;
    assert_eq!(s, 200);
    assert_eq!(b["results"][0]["blogPostId"], json!(blog.to_string()));
    let (s, _, e) = get(&fc, &format!("/api/v2/pages/{blog}/attachments")).await;
    assert_eq!(
        (s.as_u16(), e["errors"][0]["status"].as_u64()),
        (404, Some(404))
    );
    let (s, _, _) = get(&fc, &format!("/api/v2/blogposts/{page}/attachments")).await;
    assert_eq!(s, 404);
}

fn b64_basic(user: &str, secret: &str) -> String {
    format!("Basic {}", b64(&format!("{user}:{secret}")))
}

#[tokio::test]
async fn sandbox_confluence_v1_child_attachments_page_by_offset_and_download_with_auth() {
    for fc in [cloud().await, dc().await] {
        let flavor = fc.flavor();
        let (page, _) = fc.create_page("DEMO", "Files", "<p/>", None).await.unwrap();
        let files = attach_files(&fc, page, 5).await;
        let path = format!("/rest/api/content/{page}/child/attachment");
        let (s, _, first) = get(&fc, &format!("{path}?limit=2&expand=version")).await;
        assert_eq!(s, 200, "{flavor:?}");
        assert_eq!(
            (
                first["start"].as_u64(),
                first["limit"].as_u64(),
                first["size"].as_u64()
            ),
            (Some(0), Some(2), Some(2))
        );
        let next = first["_links"]["next"].as_str().unwrap().to_owned();
        assert!(
            next.starts_with(&format!("{path}?")) && next.contains("start=2"),
            "{next}"
        );
        let mut items: Vec<Value> = Vec::new();
        let mut body = first;
        loop {
            items.extend(body["results"].as_array().unwrap().iter().cloned());
            let Some(next) = body["_links"]["next"].as_str() else {
                break;
            };
            // `next` is relative to `_links.base`.
            let url = format!("{}{next}", body["_links"]["base"].as_str().unwrap());
            body = call(reqwest::Method::GET, &url, Some(&fc.auth_header()), None)
                .await
                .2;
        }
        assert_eq!(items.len(), 5, "{flavor:?}");
        for (name, bytes) in &files {
            let a = items.iter().find(|a| a["title"] == json!(name)).unwrap();
            // Attachment item (docs §1.4).
            assert!(a["id"].is_string());
            assert_eq!(a["type"], "attachment");
            assert_eq!(a["version"]["number"], 1, "expand=version");
            assert_eq!(a["metadata"]["mediaType"], "application/octet-stream");
            assert_eq!(a["extensions"]["mediaType"], "application/octet-stream");
            assert_eq!(a["extensions"]["fileSize"], json!(bytes.len()));
            let download = a["_links"]["download"].as_str().unwrap();
            assert!(
                download.starts_with(&format!("/download/attachments/{page}/{name}?version=1")),
                "{download}"
            );
            let url = format!("{}{download}", fc.base_url());
            let (s, _, got) = get_raw(&url, Some(&fc.auth_header())).await;
            assert_eq!((s, &got), (StatusCode::OK, bytes), "{flavor:?}");
            let (s, _, _) = get_raw(&url, None).await;
            assert_eq!(s, 401, "{flavor:?}");
        }
        // The server clamps `limit` silently; `next` still leads on.
        fc.set_knobs(|k| k.v1_limit_cap = 3);
        let (_, _, p) = get(&fc, &format!("{path}?limit=200")).await;
        assert_eq!(
            (p["limit"].as_u64(), p["size"].as_u64()),
            (Some(3), Some(3))
        );
        assert!(p["_links"]["next"].is_string());
    }
}

#[tokio::test]
async fn sandbox_confluence_parent_of_a_page_v2_parent_id_and_v1_ancestors() {
    let fc = cloud().await;
    let space = fc.create_space("TREE", "Tree").unwrap();
    let home = fc.page_id("TREE", "Tree Home").unwrap();
    let (top, _) = fc.create_page("TREE", "Top", "<p/>", None).await.unwrap();
    let (nested, _) = fc
        .create_page("TREE", "Nested", "<p/>", Some(top))
        .await
        .unwrap();
    let (_, _, h) = get(&fc, &format!("/api/v2/pages/{home}")).await;
    assert!(
        h["parentId"].is_null() && h["parentType"].is_null(),
        "root page: {h}"
    );
    let (_, _, n) = get(&fc, &format!("/api/v2/pages/{nested}")).await;
    assert_eq!(
        n["parentId"],
        json!(top.to_string()),
        "parentId is a string"
    );
    assert_eq!(n["parentType"], "page");
    let (_, _, t) = get(&fc, &format!("/api/v2/pages/{top}")).await;
    assert_eq!(
        t["parentId"],
        json!(home.to_string()),
        "top-level pages hang under the home page"
    );
    let (_, _, list) = get(&fc, &format!("/api/v2/spaces/{space}/pages")).await;
    let listed = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == json!(nested.to_string()))
        .unwrap();
    assert_eq!(
        (&listed["parentId"], &listed["parentType"]),
        (&json!(top.to_string()), &json!("page")),
        "PageBulk has them too"
    );

    for fc in [cloud().await, dc().await] {
        let flavor = fc.flavor();
        fc.create_space("TREE", "Tree").unwrap();
        let home = fc.page_id("TREE", "Tree Home").unwrap();
        let (top, _) = fc.create_page("TREE", "Top", "<p/>", None).await.unwrap();
        let (nested, _) = fc
            .create_page("TREE", "Nested", "<p/>", Some(top))
            .await
            .unwrap();
        let (_, _, h) = get(&fc, &format!("/rest/api/content/{home}?expand=ancestors")).await;
        assert_eq!(h["ancestors"], json!([]), "{flavor:?}: root page");
        let (_, _, n) = get(&fc, &format!("/rest/api/content/{nested}?expand=ancestors")).await;
        let chain: Vec<(&str, &str)> = n["ancestors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["id"].as_str().unwrap(), a["type"].as_str().unwrap()))
            .collect();
        assert_eq!(
            chain,
            [
                (home.to_string().as_str(), "page"),
                (top.to_string().as_str(), "page")
            ],
            "{flavor:?}: root first, the parent last"
        );
        let (_, _, list) = get(
            &fc,
            "/rest/api/content?spaceKey=TREE&type=page&expand=ancestors",
        )
        .await;
        let listed = list["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == json!(nested.to_string()))
            .unwrap();
        assert_eq!(
            listed["ancestors"].as_array().unwrap().len(),
            2,
            "{flavor:?}"
        );
        let (_, _, plain) = get(&fc, &format!("/rest/api/content/{nested}")).await;
        assert!(
            plain.get("ancestors").is_none(),
            "{flavor:?}: only when expanded"
        );
    }
}

#[tokio::test]
async fn sandbox_confluence_watchers_per_flavour() {
    let fc = cloud().await;
    let (page, _) = fc
        .create_page("DEMO", "Watched", "<p/>", None)
        .await
        .unwrap();
    let (_, _, w) = get(
        &fc,
        &format!("/rest/api/content/{page}/notification/child-created"),
    )
    .await;
    assert_eq!(
        w["results"][0]["watcher"]["accountId"],
        json!(fc.state().users[0].account_id)
    );
    assert_eq!(w["results"][0]["contentId"], json!(page));
    let alice = fc.state().users[1].account_id.clone();
    let url = format!(
        "{}/rest/api/user/watch/content/{page}?accountId={alice}",
        fc.base_url()
    );
    let (s, _, _) = call(reqwest::Method::POST, &url, Some(&fc.cloud_basic()), None).await;
    assert_eq!(s, 403, "XSRF header required");
    let r = client()
        .post(&url)
        .header("authorization", fc.cloud_basic())
        .header("X-Atlassian-Token", "no-check")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, _, watching) = call(reqwest::Method::GET, &url, Some(&fc.cloud_basic()), None).await;
    assert_eq!(watching["watching"], true);

    let fc = dc().await;
    let (page, _) = fc
        .create_page("DEMO", "Watched", "<p/>", None)
        .await
        .unwrap();
    let (s, _, w) = get(&fc, &format!("/rest/api/content/{page}/watchers")).await;
    assert_eq!(s, 200);
    assert!(w["results"][0]["watcher"]["userKey"].is_string());
    let (s, _, _) = get(
        &fc,
        &format!("/rest/api/content/{page}/notification/child-created"),
    )
    .await;
    assert_eq!(s, 404, "a Cloud-only path");
}

// ---------- webhooks ----------

#[tokio::test]
async fn sandbox_confluence_dc_webhook_signature_verifies() {
    let fc = dc().await;
    let rx = Receiver::start().await;
    let secret = "s3cr3t-Δ";
    fc.set_webhook_target(&format!("{}/hooks/confluence", rx.url), secret);
    let (id, _) = fc
        .create_page("DEMO", "Hooked", "<p/>", None)
        .await
        .unwrap();
    fc.edit_page(id, "<p>v2</p>").await.unwrap();
    let got = rx.got();
    assert_eq!(got.len(), 2);
    let upd = &got[1];
    assert_eq!(upd.path, "/hooks/confluence");
    let body = upd.json();
    assert_eq!(body["event"], "page_updated", "DC names the event");
    assert_eq!(body["page"]["id"], json!(id), "id as a JSON number");
    assert_eq!(body["updateTrigger"], "edit_page");
    assert!(body["userKey"].is_string() && body["timestamp"].is_u64());
    let expected = hex(&hmac_sha256(secret.as_bytes(), upd.body.as_bytes()));
    assert_eq!(
        upd.header("x-hub-signature"),
        Some(format!("sha256={expected}").as_str())
    );

    fc.set_knobs(|k| k.hub_signature_prefix = false);
    fc.trash(id).await.unwrap();
    let t = rx.got().pop().unwrap();
    assert_eq!(t.json()["event"], "page_trashed");
    assert_eq!(
        t.header("x-hub-signature"),
        Some(hex(&hmac_sha256(secret.as_bytes(), t.body.as_bytes())).as_str())
    );
}

#[tokio::test]
async fn sandbox_confluence_cloud_connect_webhook_jwt_and_qsh() {
    let fc = cloud().await;
    let rx = Receiver::start().await;
    let secret = "connect-shared-secret";
    fc.add_webhook(Hook::connect(
        &format!("{}/app", rx.url),
        "/cloud/{event}?tenant=t%201&a=z",
        secret,
    ));
    let (id, _) = fc
        .create_page("DEMO", "Connect", "<p/>", None)
        .await
        .unwrap();
    fc.edit_page(id, "<p>2</p>").await.unwrap();
    let got = rx.got();
    assert_eq!(
        got.iter().map(|g| g.path.as_str()).collect::<Vec<_>>(),
        ["/app/cloud/page_created", "/app/cloud/page_updated"]
    );
    let g = &got[1];
    let body = g.json();
    assert!(
        body.get("event").is_none() && body.get("webhookEvent").is_none(),
        "no event name in the body"
    );
    assert_eq!(body["page"]["id"], json!(id));
    assert_eq!(body["page"]["idAsString"], json!(id.to_string()));
    assert_eq!(body["updateTrigger"], "edit_page");
    assert!(
        body["page"]["self"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/wiki/spaces/DEMO/pages/{id}/Connect"))
    );

    let token = g
        .header("authorization")
        .unwrap()
        .strip_prefix("JWT ")
        .unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&b64url_decode(parts[0])).unwrap();
    assert_eq!(header["alg"], "HS256");
    let sig = hmac_sha256(
        secret.as_bytes(),
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
    );
    assert_eq!(
        b64url_decode(parts[2]),
        sig.to_vec(),
        "HS256 with the shared secret"
    );
    let claims: Value = serde_json::from_slice(&b64url_decode(parts[1])).unwrap();
    assert!(claims["iss"].is_string());
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    // Canonical request: METHOD & path relative to the app baseUrl & sorted, encoded query.
    assert_eq!(g.query.as_deref(), Some("tenant=t%201&a=z"));
    let canonical = "POST&/cloud/page_updated&a=z&tenant=t%201";
    assert_eq!(claims["qsh"], json!(hex(&sha256(canonical.as_bytes()))));

    // The `jwt` query variant.
    fc.set_knobs(|k| k.jwt_in_query = true);
    fc.trash(id).await.unwrap();
    let g = rx.got().pop().unwrap();
    assert!(g.header("authorization").is_none());
    assert!(g.query.unwrap().contains("jwt="));
}

#[tokio::test]
async fn sandbox_confluence_cloud_admin_webhook_and_payload_variants() {
    let fc = cloud().await;
    let rx = Receiver::start().await;
    // Registered through the admin endpoint, as a client would.
    let (s, _, hook) = call(
        reqwest::Method::POST,
        &format!("{}/rest/webhooks/1.0/webhook", fc.base_url()),
        Some(&fc.cloud_basic()),
        Some(json!({"name": "bridge", "url": format!("{}/in?token=abc123", rx.url), "events": ["comment_created"]})),
    )
    .await;
    assert_eq!(s, 201, "{hook}");
    let (page, _) = fc
        .create_page("DEMO", "Discussed", "<p/>", None)
        .await
        .unwrap();
    let (c1, _) = fc.add_comment(page, "<p>top</p>").await.unwrap();
    fc.set_knobs(|k| k.cloud_payload = CloudPayload::StringIds);
    let (reply, _) = fc.add_comment(c1, "<p>reply</p>").await.unwrap();
    let got = rx.got();
    assert_eq!(got.len(), 2, "only the registered event");
    for g in &got {
        assert_eq!(
            g.query.as_deref(),
            Some("token=abc123"),
            "the query string is delivered verbatim"
        );
        assert!(
            g.header("authorization").is_none() && g.header("x-hub-signature").is_none(),
            "unsigned"
        );
        assert!(g.json().get("event").is_none());
    }
    let top = got[0].json();
    assert_eq!(top["comment"]["id"], json!(c1), "number by default");
    assert_eq!(
        top["comment"]["parent"]["id"],
        json!(page),
        "a top-level comment carries its page"
    );
    let r = got[1].json();
    assert_eq!(
        r["comment"]["id"],
        json!(reply.to_string()),
        "string ids variant"
    );
    assert_eq!(r["comment"]["idAsString"], json!(reply.to_string()));
    let parent = &r["comment"]["parent"];
    assert_eq!(
        parent["contentType"], "comment",
        "a reply carries the parent comment"
    );
    assert!(parent.get("parent").is_none(), "…without the page");
    assert!(
        r["comment"]["self"]
            .as_str()
            .unwrap()
            .contains(&format!("/pages/{page}/"))
    );

    fc.set_knobs(|k| k.cloud_payload = CloudPayload::Legacy);
    fc.clear_webhooks();
    fc.set_webhook_target(&rx.url, "x");
    fc.edit_page(page, "<p>legacy</p>").await.unwrap();
    let legacy = rx.got().pop().unwrap().json();
    assert!(legacy["page"]["id"].is_u64() && legacy["page"].get("idAsString").is_none());
}

#[tokio::test]
async fn sandbox_confluence_webhook_drop_duplicate_reorder_knobs() {
    let fc = dc().await;
    let rx = Receiver::start().await;
    fc.set_webhook_target(&rx.url, "k");
    let (id, _) = fc.create_page("DEMO", "Knobs", "<p/>", None).await.unwrap();
    assert_eq!(rx.got().len(), 1);

    fc.faults().update(|k| k.drop_outgoing_share = 1.0);
    fc.edit_page(id, "<p>dropped</p>").await.unwrap();
    assert_eq!(rx.got().len(), 1, "dropped");
    assert!(fc.sent_webhooks().last().unwrap().dropped);

    fc.faults().update(|k| {
        k.drop_outgoing_share = 0.0;
        k.duplicate_outgoing_share = 1.0;
    });
    fc.edit_page(id, "<p>twice</p>").await.unwrap();
    let got = rx.got();
    assert_eq!(got.len(), 3, "duplicated");
    assert_eq!(got[1].body, got[2].body);

    fc.faults().update(|k| {
        k.duplicate_outgoing_share = 0.0;
        k.reorder_outgoing = true;
    });
    fc.rename_page(id, "Knobs 2").await.unwrap();
    fc.trash(id).await.unwrap();
    assert_eq!(rx.got().len(), 3, "held");
    fc.flush_webhooks().await;
    let events: Vec<String> = rx.got()[3..]
        .iter()
        .map(|g| g.json()["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["page_trashed", "page_updated"], "reversed");
}

#[tokio::test]
async fn sandbox_confluence_rate_limit_and_5xx_knobs() {
    let fc = cloud().await;
    fc.faults().update(|k| {
        k.too_many_requests_share = 1.0;
        k.retry_after_secs = 7;
    });
    let (s, h, _) = get(&fc, "/api/v2/pages").await;
    assert_eq!(s, 429);
    assert_eq!(h.get("retry-after").unwrap(), "7");
    fc.faults().update(|k| {
        k.too_many_requests_share = 0.0;
        k.error_5xx_share = 1.0;
    });
    let (s, _, _) = get(&fc, "/rest/api/content?spaceKey=DEMO").await;
    assert!(s.is_server_error());
    fc.faults().update(|k| k.error_5xx_share = 0.0);
    let (s, _, _) = get(&fc, "/rest/api/content?spaceKey=DEMO").await;
    assert_eq!(s, 200);
    let log = fc.requests().all();
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 503, 200]
    );
}

// ---------- inspection API and page ----------

#[tokio::test]
async fn sandbox_confluence_inspection_api_drives_changes_and_html_escapes() {
    let fc = cloud().await;
    let rx = Receiver::start().await;
    let root = fc.root_url();
    let post = async |path: &str, body: Value| {
        call(
            reqwest::Method::POST,
            &format!("{root}{path}"),
            None,
            Some(body),
        )
        .await
    };
    let (s, _, _) = post(
        "/_sandbox/webhooks/target",
        json!({"url": rx.url, "secret": "k"}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, p) = post(
        "/_sandbox/pages",
        json!({"space": "DEMO", "title": "<script>x</script>", "body": "<p>1</p>"}),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let (_, _, e) = post(
        &format!("/_sandbox/pages/{id}/edit"),
        json!({"body": "<p>2</p>"}),
    )
    .await;
    assert_eq!(e["version"], 2);
    let (s, _, _) = post(
        &format!("/_sandbox/content/{id}/comments"),
        json!({"body": "<p>c</p>"}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = post(&format!("/_sandbox/pages/{id}/trash"), json!({})).await;
    assert_eq!(s, 204);
    let paths: Vec<String> = rx.got().iter().map(|g| g.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/page_created",
            "/page_updated",
            "/comment_created",
            "/page_trashed"
        ]
    );

    let (_, _, sent) = call(
        reqwest::Method::GET,
        &format!("{root}/_sandbox/webhooks"),
        None,
        None,
    )
    .await;
    assert_eq!(sent.as_array().unwrap().len(), 4);
    let html = client()
        .get(&root)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("&lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>x"));
    let (_, _, st) = call(
        reqwest::Method::GET,
        &format!("{root}/_sandbox/state"),
        None,
        None,
    )
    .await;
    assert!(st["contents"].as_object().unwrap().contains_key(&id));

    let (s, _, _) = post("/_sandbox/reset", json!({})).await;
    assert_eq!(s, 204);
    assert!(fc.content(id.parse().unwrap()).is_none());
    assert!(fc.sent_webhooks().is_empty());
}

#[tokio::test]
async fn sandbox_confluence_v1_writes_need_the_next_version() {
    let fc = dc().await;
    let rx = Receiver::start().await;
    fc.set_webhook_target(&rx.url, "k");
    let url = format!("{}/rest/api/content", fc.base_url());
    let (s, _, c) = call(
        reqwest::Method::POST,
        &url,
        Some(&fc.dc_pat()),
        Some(
            json!({"type": "page", "title": "Via API", "space": {"key": "DEMO"},
                    "body": {"storage": {"value": "<p>a</p>", "representation": "storage"}}}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    let id = c["id"].as_str().unwrap();
    let put = async |n: u64| {
        call(
            reqwest::Method::PUT,
            &format!("{url}/{id}"),
            Some(&fc.dc_pat()),
            Some(
                json!({"type": "page", "title": "Via API", "version": {"number": n},
                        "body": {"storage": {"value": "<p>b</p>", "representation": "storage"}}}),
            ),
        )
        .await
    };
    let (s, _, _) = put(1).await;
    assert_eq!(s, 409, "the version must be incremented");
    let (s, _, c) = put(2).await;
    assert_eq!(
        (s.as_u16(), c["version"]["number"].as_u64()),
        (200, Some(2))
    );
    let events: Vec<String> = rx
        .got()
        .iter()
        .map(|g| g.json()["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["page_created", "page_updated"]);
}
