//! The deployment files agree with the code: docker-compose.yml only runs binaries the
//! workspace builds and runs every worker kind, every `BRIDGE_*` name in the deployment files
//! and docs is one the bridge reads (and every one it reads is documented in `.env.example`,
//! with its real default), and the Dockerfile ships the binaries compose runs.
//!
//! Pure file checks: no broker, no database.

use bridge_core::WorkerKind;
use bridge_core::config::{Config, Environment, KNOWN_VARS};
use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The binaries the image ships (`deploy/Dockerfile`) and compose runs.
const SHIPPED: [&str; 4] = ["bridge-ingress", "bridge-worker", "bridgectl", "sandbox"];

/// A valid `BRIDGE_SECRET_KEY` (base64 of 32 zero bytes) for `${BRIDGE_SECRET_KEY:?…}`.
const DUMMY_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let path = repo_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_toml(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: not TOML: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// The workspace's binaries
// ---------------------------------------------------------------------------------------------

/// Every binary target of the workspace members, by name, with the package that builds it.
/// Follows Cargo's rules: explicit `[[bin]]` targets, plus (unless `autobins = false`) the
/// package-named `src/main.rs` and `src/bin/*.rs` / `src/bin/*/main.rs` not claimed by one.
fn workspace_binaries() -> BTreeMap<String, String> {
    let root = repo_root();
    let manifest = read_toml(&root.join("Cargo.toml"));
    let members = manifest["workspace"]["members"]
        .as_array()
        .expect("[workspace] members is a list");
    let mut bins = BTreeMap::new();
    for member in members {
        let member = member.as_str().expect("a member is a path");
        assert!(
            !member.contains('*'),
            "glob member {member:?}: teach this test to expand it"
        );
        let dir = root.join(member);
        let manifest = read_toml(&dir.join("Cargo.toml"));
        let package = manifest["package"]["name"]
            .as_str()
            .expect("[package] name")
            .to_owned();
        let autobins = manifest["package"]
            .get("autobins")
            .and_then(toml::Value::as_bool)
            .unwrap_or(true);
        let mut explicit_paths = BTreeSet::new();
        for bin in manifest
            .get("bin")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = bin["name"].as_str().expect("[[bin]] name").to_owned();
            let path = bin
                .get("path")
                .and_then(toml::Value::as_str)
                .map(|p| p.trim_start_matches("./").to_owned())
                .unwrap_or_else(|| {
                    if name == package {
                        "src/main.rs".to_owned()
                    } else {
                        format!("src/bin/{name}.rs")
                    }
                });
            assert!(
                dir.join(&path).is_file(),
                "{member}: [[bin]] {name} points at {path}, which does not exist"
            );
            explicit_paths.insert(path);
            bins.insert(name, package.clone());
        }
        if !autobins {
            continue;
        }
        if dir.join("src/main.rs").is_file() && !explicit_paths.contains("src/main.rs") {
            bins.entry(package.clone())
                .or_insert_with(|| package.clone());
        }
        if let Ok(entries) = std::fs::read_dir(dir.join("src/bin")) {
            for entry in entries.flatten() {
                let path = entry.path();
                let name = if path.extension().is_some_and(|e| e == "rs") {
                    path.file_stem()
                } else if path.join("main.rs").is_file() {
                    path.file_name()
                } else {
                    None
                };
                if let Some(name) = name.and_then(|n| n.to_str()) {
                    bins.entry(name.to_owned())
                        .or_insert_with(|| package.clone());
                }
            }
        }
    }
    bins
}

#[test]
fn the_workspace_builds_the_shipped_binaries() {
    let bins = workspace_binaries();
    for name in SHIPPED {
        assert!(
            bins.contains_key(name),
            "no workspace member builds a binary named {name}; binaries: {:?}",
            bins.keys().collect::<Vec<_>>()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------------------------

fn compose() -> Value {
    let mut doc: Value = serde_norway::from_str(&read("docker-compose.yml"))
        .unwrap_or_else(|e| panic!("docker-compose.yml is not YAML: {e}"));
    doc.apply_merge()
        .unwrap_or_else(|e| panic!("docker-compose.yml: bad `<<` merge: {e}"));
    doc
}

fn services(doc: &Value) -> Vec<(String, &Value)> {
    doc["services"]
        .as_mapping()
        .expect("docker-compose.yml has a services mapping")
        .iter()
        .map(|(k, v)| (k.as_str().expect("service names are strings").to_owned(), v))
        .collect()
}

/// The image the bridge services are built into (that of the services with a `build`).
fn bridge_image(doc: &Value) -> Option<String> {
    services(doc)
        .into_iter()
        .filter(|(_, s)| s.get("build").is_some())
        .find_map(|(_, s)| s.get("image").and_then(Value::as_str).map(str::to_owned))
}

/// Services that run the bridge's own image; the rest are third-party (rabbitmq, postgres,
/// the collector).
fn bridge_services(doc: &Value) -> Vec<(String, &Value)> {
    let image = bridge_image(doc);
    services(doc)
        .into_iter()
        .filter(|(_, s)| {
            s.get("build").is_some()
                || (image.is_some() && s.get("image").and_then(Value::as_str) == image.as_deref())
        })
        .collect()
}

/// The demo fakes (compose profile `sandbox`) run from the bridge image but are not part of
/// the bridge: no database, no production configuration.
fn is_sandbox(service: &Value) -> bool {
    service
        .get("profiles")
        .and_then(Value::as_sequence)
        .is_some_and(|p| p.iter().any(|v| v.as_str() == Some("sandbox")))
}

/// A compose command, entrypoint or healthcheck test as words (strings are shell-split on
/// whitespace, as compose does for the simple cases used here).
fn words(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => panic!("unexpected item {other:?} in a command"),
            })
            .collect(),
        other => panic!("a command is a string or a list, not {other:?}"),
    }
}

/// What the container runs: its entrypoint when set, else its command.
fn run_words(name: &str, service: &Value) -> Vec<String> {
    let v = service
        .get("entrypoint")
        .or_else(|| service.get("command"))
        .unwrap_or_else(|| panic!("service {name} runs the bridge image but sets no command"));
    let w = words(v);
    assert!(!w.is_empty(), "service {name} has an empty command");
    w
}

#[test]
fn compose_runs_only_binaries_the_workspace_builds() {
    let bins = workspace_binaries();
    let doc = compose();
    let ours = bridge_services(&doc);
    assert!(
        ours.len() > 2,
        "docker-compose.yml should run the bridge image (services with build:); found {:?}",
        ours.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for (name, service) in &ours {
        let run = run_words(name, service);
        assert!(
            bins.contains_key(&run[0]),
            "service {name} runs {:?}, which no workspace member builds (binaries: {:?})",
            run[0],
            bins.keys().collect::<Vec<_>>()
        );
        assert!(
            SHIPPED.contains(&run[0].as_str()),
            "service {name} runs {}, which deploy/Dockerfile does not ship",
            run[0]
        );
        if let Some(test) = service.get("healthcheck").and_then(|h| h.get("test")) {
            let test = words(test);
            let bin = match test.first().map(String::as_str) {
                Some("CMD") => test.get(1).cloned(),
                Some("CMD-SHELL") => test
                    .get(1)
                    .and_then(|s| s.split_whitespace().next().map(str::to_owned)),
                Some("NONE") | None => None,
                Some(_) => test.first().cloned(),
            };
            if let Some(bin) = bin {
                assert!(
                    SHIPPED.contains(&bin.as_str()) && bins.contains_key(&bin),
                    "service {name}: the healthcheck runs {bin}, which the image does not ship"
                );
            }
        }
    }
    // The one-shot migration runs before anything that uses the database.
    let migrate_name = ours
        .iter()
        .find(|(name, s)| run_words(name, s)[..] == ["bridgectl", "migrate", "up"])
        .map(|(name, _)| name.clone())
        .expect("a compose service runs `bridgectl migrate up`");
    for (name, service) in &ours {
        if *name == migrate_name || is_sandbox(service) {
            continue;
        }
        let condition = service
            .get("depends_on")
            .and_then(|d| d.get(migrate_name.as_str()))
            .and_then(|d| d.get("condition"))
            .and_then(Value::as_str);
        assert_eq!(
            condition,
            Some("service_completed_successfully"),
            "service {name} must wait for {migrate_name} to complete successfully"
        );
    }
}

#[test]
fn compose_runs_every_worker_kind() {
    let doc = compose();
    let mut covered = BTreeSet::new();
    let mut reconciles = false;
    for (name, service) in bridge_services(&doc) {
        let run = run_words(&name, service);
        if run[0] != "bridge-worker" {
            continue;
        }
        for arg in &run[1..] {
            if arg == "--all" {
                covered.extend(WorkerKind::ALL);
                reconciles = true;
                continue;
            }
            if arg == "--reconcile" {
                reconciles = true;
                continue;
            }
            let kind: WorkerKind = arg
                .parse()
                .unwrap_or_else(|e| panic!("service {name}: bridge-worker {arg}: {e}"));
            covered.insert(kind);
        }
    }
    let missing: Vec<_> = WorkerKind::ALL
        .into_iter()
        .filter(|k| !covered.contains(k))
        .map(WorkerKind::as_str)
        .collect();
    assert!(
        missing.is_empty(),
        "no compose service runs bridge-worker for: {missing:?}"
    );
    assert!(
        reconciles,
        "no compose service runs the reconcilers (bridge-worker --reconcile)"
    );
}

/// Resolves compose `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?message}`
/// with an empty environment, except that `BRIDGE_SECRET_KEY` gets a valid dummy key.
fn interpolate(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .unwrap_or_else(|| panic!("unclosed ${{ in {s:?}"))
            + start;
        let expr = &rest[start + 2..end];
        let name_end = expr
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(expr.len());
        let (name, op) = expr.split_at(name_end);
        if name == "BRIDGE_SECRET_KEY" {
            out.push_str(DUMMY_KEY);
        } else if let Some(default) = op.strip_prefix(":-").or_else(|| op.strip_prefix('-')) {
            out.push_str(default);
        } else if op.starts_with(":?") || op.starts_with('?') {
            panic!("{name} is required by docker-compose.yml; only BRIDGE_SECRET_KEY should be");
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest.replace("$$", "$").as_str());
    out
}

#[test]
fn compose_environment_is_a_valid_production_config() {
    let doc = compose();
    for (name, service) in bridge_services(&doc) {
        if is_sandbox(service) {
            continue;
        }
        let env = service
            .get("environment")
            .unwrap_or_else(|| panic!("service {name} has no environment"));
        let vars: Vec<(String, String)> = match env {
            Value::Mapping(m) => m
                .iter()
                .map(|(k, v)| {
                    let k = k.as_str().expect("variable names are strings").to_owned();
                    let v = match v {
                        Value::String(s) => interpolate(s),
                        Value::Null => String::new(),
                        other => serde_norway::to_string(other)
                            .expect("scalar")
                            .trim()
                            .to_owned(),
                    };
                    (k, v)
                })
                .collect(),
            Value::Sequence(items) => items
                .iter()
                .map(|i| {
                    let s = interpolate(i.as_str().expect("KEY=value"));
                    let (k, v) = s.split_once('=').unwrap_or((s.as_str(), ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect(),
            other => panic!("service {name}: environment is {other:?}"),
        };
        let config = Config::from_vars(vars)
            .unwrap_or_else(|e| panic!("service {name}: the compose environment is invalid: {e}"));
        assert_eq!(config.env, Environment::Production, "service {name}");
        assert!(
            config.database_url.expose().starts_with("postgres"),
            "service {name} should use the compose PostgreSQL"
        );
        assert!(config.secret_key.is_some(), "service {name}");
    }
}

// ---------------------------------------------------------------------------------------------
// BRIDGE_* names in files
// ---------------------------------------------------------------------------------------------

/// Every `BRIDGE_…` word in `text` (upper-case letters, digits and `_` after the prefix, not
/// preceded by an identifier character). A trailing `_` marks a family (`BRIDGE_B24_*`).
fn bridge_names(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("BRIDGE_") {
        let start = from + i;
        from = start + "BRIDGE_".len();
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let end = text[from..]
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .map_or(text.len(), |j| from + j);
        if end > from {
            names.insert(text[start..end].to_owned());
        }
        from = end;
    }
    names
}

fn assert_known(file: &str, names: &BTreeSet<String>, allowed_prefix: Option<&str>) {
    for name in names {
        if allowed_prefix.is_some_and(|p| name.starts_with(p)) {
            continue;
        }
        let known = if name.ends_with('_') {
            KNOWN_VARS.iter().any(|v| v.starts_with(name.as_str()))
        } else {
            KNOWN_VARS.contains(&name.as_str())
        };
        assert!(
            known,
            "{file} names {name}, which the bridge does not read (not in bridge_core::config::KNOWN_VARS)"
        );
    }
}

#[test]
fn every_bridge_variable_in_files_is_known() {
    let compose = read("docker-compose.yml");
    let names = bridge_names(&compose);
    assert!(
        names.contains("BRIDGE_SECRET_KEY") && names.contains("BRIDGE_DATABASE_URL"),
        "the scan finds the variables docker-compose.yml sets"
    );
    assert_known("docker-compose.yml", &names, None);
    assert_known(".env.example", &bridge_names(&read(".env.example")), None);
    assert_known(
        "deploy/Dockerfile",
        &bridge_names(&read("deploy/Dockerfile")),
        None,
    );
    if repo_root().join("README.md").is_file() {
        // BRIDGE_TEST_* are read by the test suite only (never by the bridge); the README may
        // say how to point the tests at a database.
        assert_known(
            "README.md",
            &bridge_names(&read("README.md")),
            Some("BRIDGE_TEST_"),
        );
    }
}

/// `.env.example` as (name, value, the comment lines just above it).
fn env_example() -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    let mut comments = Vec::new();
    for line in read(".env.example").lines() {
        let line = line.trim();
        if line.is_empty() {
            comments.clear();
        } else if let Some(c) = line.strip_prefix('#') {
            comments.push(c.trim().to_owned());
        } else {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!(".env.example: {line:?} is not NAME=value"));
            out.push((
                name.trim().to_owned(),
                value.trim().to_owned(),
                std::mem::take(&mut comments),
            ));
        }
    }
    out
}

#[test]
fn env_example_documents_every_variable_with_its_default() {
    let entries = env_example();
    let mut seen = BTreeSet::new();
    for (name, value, comments) in &entries {
        assert!(seen.insert(name.clone()), ".env.example sets {name} twice");
        assert!(
            !comments.is_empty(),
            ".env.example: {name} has no comment line above it"
        );
        if !name.starts_with("BRIDGE_") {
            continue;
        }
        let expected = if value.is_empty() {
            "Default: none".to_owned()
        } else {
            format!("Default: {value}")
        };
        assert!(
            comments.iter().any(|c| c.contains(&expected)),
            ".env.example: the comment above {name} should say {expected:?}; it says {comments:?}"
        );
    }
    let missing: Vec<_> = KNOWN_VARS.iter().filter(|v| !seen.contains(**v)).collect();
    assert!(
        missing.is_empty(),
        ".env.example does not document {missing:?}"
    );

    // The values written there are the real defaults: reading them changes nothing.
    let documented = Config::from_vars(
        entries
            .iter()
            .filter(|(n, _, _)| n.starts_with("BRIDGE_"))
            .map(|(n, v, _)| (n.clone(), v.clone())),
    )
    .unwrap_or_else(|e| panic!(".env.example is not a valid configuration: {e}"));
    let default = Config::from_vars(std::iter::empty()).expect("the defaults are valid");
    assert_eq!(
        documented.database_url.expose(),
        default.database_url.expose(),
        ".env.example: BRIDGE_DATABASE_URL"
    );
    assert_eq!(
        documented.amqp_url.expose(),
        default.amqp_url.expose(),
        ".env.example: BRIDGE_AMQP_URL"
    );
    assert_eq!(
        format!("{documented:#?}"),
        format!("{default:#?}"),
        ".env.example: a documented default differs from config.rs"
    );
}

// ---------------------------------------------------------------------------------------------
// deploy/Dockerfile
// ---------------------------------------------------------------------------------------------

/// Dockerfile instructions of the last stage (the runtime image) and of the whole file, as
/// (INSTRUCTION, arguments) with continuation lines joined.
fn dockerfile() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in read("deploy/Dockerfile").lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if trimmed.starts_with('#') {
            continue; // a comment inside a continued instruction
        }
        if let Some(part) = trimmed.strip_suffix('\\') {
            current.push_str(part);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (instr, args) = current
            .split_once(char::is_whitespace)
            .unwrap_or((&current, ""));
        instructions.push((instr.to_ascii_uppercase(), args.trim().to_owned()));
        current.clear();
    }
    instructions
}

/// A JSON-array (exec form) or shell-form instruction argument as words.
fn exec_words(args: &str) -> Vec<String> {
    if args.starts_with('[') {
        serde_json::from_str(args).unwrap_or_else(|e| panic!("{args}: bad exec form: {e}"))
    } else {
        args.split_whitespace().map(str::to_owned).collect()
    }
}

#[test]
fn dockerfile_ships_the_binaries() {
    let bins = workspace_binaries();
    let all = dockerfile();
    let last_from = all
        .iter()
        .rposition(|(i, _)| i == "FROM")
        .expect("deploy/Dockerfile has a FROM");
    assert!(
        all[..last_from].iter().any(|(i, _)| i == "FROM"),
        "deploy/Dockerfile is multi-stage (a builder, then the runtime image)"
    );
    let runtime = &all[last_from..];

    // The builder builds every package that owns a shipped binary, from the lock file.
    let build = all[..last_from]
        .iter()
        .filter(|(i, _)| i == "RUN")
        .map(|(_, a)| a.as_str())
        .find(|a| a.contains("cargo build"))
        .expect("the builder stage runs cargo build");
    assert!(
        build.contains("--release") && build.contains("--locked"),
        "{build}"
    );
    let build_words: Vec<&str> = build.split_whitespace().collect();
    for name in SHIPPED {
        let package = &bins[name];
        let built = build_words
            .windows(2)
            .any(|w| (w[0] == "-p" || w[0] == "--package") && w[1] == package)
            || build_words.contains(&"--workspace");
        assert!(
            built,
            "the builder does not build package {package} ({name})"
        );
    }

    // The runtime stage copies each binary from the builder into /usr/local/bin.
    let mut copied = BTreeSet::new();
    for (_, args) in runtime.iter().filter(|(i, _)| i == "COPY") {
        let w = exec_words(args);
        let paths: Vec<&String> = w.iter().filter(|a| !a.starts_with("--")).collect();
        if !w.iter().any(|a| a.starts_with("--from=")) || paths.len() < 2 {
            continue;
        }
        let (dest, sources) = paths.split_last().expect("checked above");
        for src in sources {
            let base = src.rsplit('/').next().unwrap_or(src);
            let target = if dest.ends_with('/') {
                format!("{dest}{base}")
            } else if sources.len() == 1 && !dest.ends_with("/bin") {
                (*dest).clone()
            } else {
                format!("{dest}/{base}")
            };
            copied.insert(target);
        }
    }
    for name in SHIPPED {
        let target = format!("/usr/local/bin/{name}");
        assert!(
            copied.contains(&target),
            "the runtime stage of deploy/Dockerfile does not copy {target}; it copies {copied:?}"
        );
    }

    // The default command is the all-in-one mode, and both default ports are exposed.
    let (_, cmd) = runtime
        .iter()
        .rfind(|(i, _)| i == "CMD")
        .expect("the runtime stage has a CMD");
    assert_eq!(exec_words(cmd), ["bridgectl", "standalone"]);
    let exposed: BTreeSet<String> = runtime
        .iter()
        .filter(|(i, _)| i == "EXPOSE")
        .flat_map(|(_, a)| {
            a.split_whitespace()
                .map(|p| p.trim_end_matches("/tcp").to_owned())
        })
        .collect();
    let default = Config::from_vars(std::iter::empty()).expect("the defaults are valid");
    for port in [default.http_addr.port(), default.worker_http_addr.port()] {
        assert!(
            exposed.contains(&port.to_string()),
            "deploy/Dockerfile does not EXPOSE {port}"
        );
    }
    assert!(
        runtime
            .iter()
            .any(|(i, a)| i == "USER" && !a.starts_with("root") && !a.starts_with('0')),
        "the runtime image runs as a non-root user"
    );
}

#[test]
fn helpers_read_what_they_should() {
    assert_eq!(
        bridge_names("x BRIDGE_ENV=1 ${BRIDGE_B24_*} XBRIDGE_NO `BRIDGE_`"),
        BTreeSet::from(["BRIDGE_B24_".to_owned(), "BRIDGE_ENV".to_owned()])
    );
    assert_eq!(interpolate("${BRIDGE_LOG_FORMAT:-json}"), "json");
    assert_eq!(interpolate("a${X}b${Y-c}"), "abc");
    assert_eq!(interpolate("${BRIDGE_SECRET_KEY:?set it}"), DUMMY_KEY);
    assert_eq!(
        words(&Value::String("bridge-worker  fanout".into())),
        ["bridge-worker", "fanout"]
    );
}
