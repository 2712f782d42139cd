//! The configuration contract (DESIGN §4): `BRIDGE_*` environment variables, optionally
//! added to by a TOML file named in `BRIDGE_CONFIG_FILE` (keys are the variable names without
//! the prefix, in lower case). The environment wins over the file.
//!
//! Everything is validated once at start-up; an error names the variable and what is wrong
//! with it, and never echoes a secret's value.

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use figment::value::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Every variable the bridge reads, for documentation checks (README, `.env.example`,
/// docker-compose).
pub const KNOWN_VARS: &[&str] = &[
    "BRIDGE_CONFIG_FILE",
    "BRIDGE_ENV",
    "BRIDGE_DATABASE_URL",
    "BRIDGE_AMQP_URL",
    "BRIDGE_HTTP_ADDR",
    "BRIDGE_PUBLIC_URL",
    "BRIDGE_SECRET_KEY",
    "BRIDGE_SECRET_KEYS_RETIRED",
    "BRIDGE_DEV_KEY_FILE",
    "BRIDGE_ADMIN_TOKEN",
    "BRIDGE_CONFLUENCE_URL",
    "BRIDGE_CONFLUENCE_FLAVOR",
    "BRIDGE_CONFLUENCE_EMAIL",
    "BRIDGE_CONFLUENCE_API_TOKEN",
    "BRIDGE_CONFLUENCE_PAT",
    "BRIDGE_CONFLUENCE_WEBHOOK_SECRET",
    "BRIDGE_B24_CLIENT_ID",
    "BRIDGE_B24_CLIENT_SECRET",
    "BRIDGE_B24_OAUTH_URL",
    "BRIDGE_B24_WEBHOOK_URL",
    "BRIDGE_OTLP_ENDPOINT",
    "BRIDGE_LOG_FORMAT",
    "BRIDGE_QUEUE_PREFIX",
    "BRIDGE_RETRY_SCHEDULE",
    "BRIDGE_WORKER_CONCURRENCY",
    "BRIDGE_WORKER_HTTP_ADDR",
    "BRIDGE_PUBLISH_TIMEOUT",
    "BRIDGE_SHUTDOWN_GRACE",
    "BRIDGE_MAX_BODY_BYTES",
    "BRIDGE_FANOUT_COALESCE_WINDOW",
    "BRIDGE_FANOUT_SKIP_MINOR",
    "BRIDGE_FANOUT_COMMENT_ON_MOVE",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("BRIDGE_CONFIG_FILE: cannot read {path}: {reason}")]
    File { path: String, reason: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    /// Local trying-out: a development key is created on disk when none is given.
    Dev,
    /// Every secret must be given explicitly.
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfluenceFlavor {
    Cloud,
    DataCenter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A secret string that never prints its value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A 32-byte encryption key that never prints its bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyBytes(pub [u8; 32]);

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyBytes(***)")
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub env: Environment,
    pub database_url: Secret,
    pub amqp_url: Secret,
    pub http_addr: SocketAddr,
    pub public_url: Url,
    /// 32-byte key that encrypts stored credentials.
    pub secret_key: Option<KeyBytes>,
    /// Older keys, still accepted for decryption while values are re-encrypted.
    pub secret_keys_retired: Vec<KeyBytes>,
    pub dev_key_file: PathBuf,
    pub admin_token: Option<Secret>,
    pub confluence_url: Option<Url>,
    pub confluence_flavor: ConfluenceFlavor,
    pub confluence_email: Option<String>,
    pub confluence_api_token: Option<Secret>,
    pub confluence_pat: Option<Secret>,
    pub confluence_webhook_secret: Option<Secret>,
    pub b24_client_id: Option<String>,
    pub b24_client_secret: Option<Secret>,
    pub b24_oauth_url: Url,
    pub b24_webhook_url: Option<Secret>,
    pub otlp_endpoint: Option<Url>,
    pub log_format: LogFormat,
    /// Prefix of every exchange and queue name, so several installs (or tests) share a broker.
    pub queue_prefix: String,
    /// Delays before retry 1, 2, …; its length is the number of retries before parking.
    pub retry_schedule: Vec<Duration>,
    /// Messages one worker handles at once (and its prefetch).
    pub worker_concurrency: u16,
    /// Where a worker process serves `/healthz`, `/readyz` and `/metrics`.
    pub worker_http_addr: SocketAddr,
    /// How long a publisher waits for the broker's confirm before giving up.
    pub publish_timeout: Duration,
    /// How long shutdown waits for in-flight messages.
    pub shutdown_grace: Duration,
    pub max_body_bytes: usize,
    /// Edits of one page within this window become one comment naming every editor
    /// (0 comments on every edit at once).
    pub fanout_coalesce_window: Duration,
    /// Edits made with notifications suppressed ("minor edits") get no comment.
    pub fanout_skip_minor: bool,
    /// A moved or renamed page also gets a comment on every linking task.
    pub fanout_comment_on_move: bool,
}

impl Config {
    /// Reads the process environment (and `BRIDGE_CONFIG_FILE` if set).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads the given `(name, value)` pairs as if they were the environment; tests use this
    /// so they never depend on or change the process environment.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("BRIDGE_"))
            .collect();
        let mut raw: BTreeMap<String, String> = BTreeMap::new();
        if let Some(path) = env.get("BRIDGE_CONFIG_FILE").filter(|p| !p.is_empty()) {
            raw.extend(read_file(path)?);
        }
        // The environment wins over the file.
        for (k, v) in env {
            raw.insert(k, v);
        }
        Raw(raw).into_config()
    }
}

fn read_file(path: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let file_err = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason,
    };
    if !std::path::Path::new(path).is_file() {
        return Err(file_err("no such file".into()));
    }
    let table: BTreeMap<String, Value> = Figment::new()
        .merge(Toml::file(path))
        .extract()
        .map_err(|e| file_err(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (k, v) in table {
        let var = format!("BRIDGE_{}", k.to_ascii_uppercase());
        let s = match v {
            Value::String(_, s) => s,
            Value::Bool(_, b) => b.to_string(),
            Value::Num(_, n) => {
                if let Some(i) = n.to_i128() {
                    i.to_string()
                } else if let Some(f) = n.to_f64() {
                    f.to_string()
                } else {
                    return Err(file_err(format!("key {k}: unsupported number")));
                }
            }
            Value::Array(_, items) => items
                .into_iter()
                .map(|i| i.into_string().ok_or(()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|()| file_err(format!("key {k}: a list must hold strings")))?
                .join(","),
            _ => {
                return Err(file_err(format!(
                    "key {k}: expected a string, number or list"
                )));
            }
        };
        if !KNOWN_VARS.contains(&var.as_str()) {
            return Err(file_err(format!(
                "unknown key {k} ({var} is not a bridge setting)"
            )));
        }
        out.insert(var, s);
    }
    // Keep the figment Env provider's prefix conventions documented in one place.
    let _ = Env::prefixed("BRIDGE_");
    Ok(out)
}

struct Raw(BTreeMap<String, String>);

fn bad(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.into(),
    }
}

impl Raw {
    fn get(&self, var: &'static str) -> Option<&str> {
        self.0.get(var).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    fn string(&self, var: &'static str, default: &str) -> String {
        self.get(var).unwrap_or(default).to_owned()
    }

    fn secret(&self, var: &'static str) -> Option<Secret> {
        self.get(var).map(Secret::new)
    }

    fn url(&self, var: &'static str) -> Result<Option<Url>, ConfigError> {
        self.get(var).map(|s| parse_http_url(var, s)).transpose()
    }

    fn url_or(&self, var: &'static str, default: &str) -> Result<Url, ConfigError> {
        parse_http_url(var, self.get(var).unwrap_or(default))
    }

    fn addr(&self, var: &'static str, default: &str) -> Result<SocketAddr, ConfigError> {
        let s = self.get(var).unwrap_or(default);
        s.parse().map_err(|_| {
            bad(
                var,
                format!("{s:?} is not a socket address such as 0.0.0.0:8080"),
            )
        })
    }

    fn duration(&self, var: &'static str, default: &str) -> Result<Duration, ConfigError> {
        parse_duration(var, self.get(var).unwrap_or(default))
    }

    fn boolean(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(bad(var, format!("{other:?} is neither true nor false"))),
        }
    }

    fn number<T: std::str::FromStr + PartialOrd + fmt::Display>(
        &self,
        var: &'static str,
        default: T,
        min: T,
    ) -> Result<T, ConfigError> {
        let Some(s) = self.get(var) else {
            return Ok(default);
        };
        let n: T = s
            .parse()
            .map_err(|_| bad(var, format!("{s:?} is not a whole number")))?;
        if n < min {
            return Err(bad(var, format!("must be at least {min}")));
        }
        Ok(n)
    }

    fn into_config(self) -> Result<Config, ConfigError> {
        let env = match self.get("BRIDGE_ENV").unwrap_or("dev") {
            "dev" | "development" => Environment::Dev,
            "prod" | "production" => Environment::Production,
            other => {
                return Err(bad(
                    "BRIDGE_ENV",
                    format!("{other:?} is neither dev nor production"),
                ));
            }
        };
        let database_url = self.string("BRIDGE_DATABASE_URL", "sqlite://bridge.db?mode=rwc");
        validate_database_url(&database_url)?;
        let amqp_url = self.string("BRIDGE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
        match Url::parse(&amqp_url) {
            Ok(u) if u.scheme() == "amqp" || u.scheme() == "amqps" => {}
            _ => return Err(bad("BRIDGE_AMQP_URL", "must be an amqp:// or amqps:// URL")),
        }
        let secret_key = self
            .get("BRIDGE_SECRET_KEY")
            .map(|s| parse_key("BRIDGE_SECRET_KEY", s))
            .transpose()?;
        if secret_key.is_none() && env == Environment::Production {
            return Err(bad(
                "BRIDGE_SECRET_KEY",
                "required when BRIDGE_ENV=production (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)",
            ));
        }
        let secret_keys_retired = self
            .get("BRIDGE_SECRET_KEYS_RETIRED")
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(|k| parse_key("BRIDGE_SECRET_KEYS_RETIRED", k))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let confluence_flavor = match self.get("BRIDGE_CONFLUENCE_FLAVOR").unwrap_or("cloud") {
            "cloud" => ConfluenceFlavor::Cloud,
            "datacenter" | "dc" | "server" => ConfluenceFlavor::DataCenter,
            other => {
                return Err(bad(
                    "BRIDGE_CONFLUENCE_FLAVOR",
                    format!("{other:?} is neither cloud nor datacenter"),
                ));
            }
        };
        let log_format = match self.get("BRIDGE_LOG_FORMAT").unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(bad(
                    "BRIDGE_LOG_FORMAT",
                    format!("{other:?} is neither text nor json"),
                ));
            }
        };
        let queue_prefix = self.string("BRIDGE_QUEUE_PREFIX", "bridge");
        if !queue_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad(
                "BRIDGE_QUEUE_PREFIX",
                "may hold only letters, digits, '-', '_' and '.'",
            ));
        }
        let retry_schedule = self
            .string("BRIDGE_RETRY_SCHEDULE", "5s,30s,2m,10m,1h")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| parse_duration("BRIDGE_RETRY_SCHEDULE", s))
            .collect::<Result<Vec<_>, _>>()?;
        // Wait queues are named and expire by whole milliseconds.
        if retry_schedule.iter().any(|d| d.as_millis() == 0) {
            return Err(bad(
                "BRIDGE_RETRY_SCHEDULE",
                "a retry delay must be at least 1ms",
            ));
        }
        let publish_timeout = self.duration("BRIDGE_PUBLISH_TIMEOUT", "5s")?;
        if publish_timeout.as_millis() == 0 {
            return Err(bad("BRIDGE_PUBLISH_TIMEOUT", "must be at least 1ms"));
        }
        let max_body_bytes = self.number("BRIDGE_MAX_BODY_BYTES", 1usize << 20, 1024)?;
        Ok(Config {
            env,
            database_url: Secret::new(database_url),
            amqp_url: Secret::new(amqp_url),
            http_addr: self.addr("BRIDGE_HTTP_ADDR", "0.0.0.0:8080")?,
            public_url: self.url_or("BRIDGE_PUBLIC_URL", "http://localhost:8080")?,
            secret_key,
            secret_keys_retired,
            dev_key_file: PathBuf::from(self.string("BRIDGE_DEV_KEY_FILE", ".bridge-dev.key")),
            admin_token: self.secret("BRIDGE_ADMIN_TOKEN"),
            confluence_url: self.url("BRIDGE_CONFLUENCE_URL")?,
            confluence_flavor,
            confluence_email: self.get("BRIDGE_CONFLUENCE_EMAIL").map(str::to_owned),
            confluence_api_token: self.secret("BRIDGE_CONFLUENCE_API_TOKEN"),
            confluence_pat: self.secret("BRIDGE_CONFLUENCE_PAT"),
            confluence_webhook_secret: self.secret("BRIDGE_CONFLUENCE_WEBHOOK_SECRET"),
            b24_client_id: self.get("BRIDGE_B24_CLIENT_ID").map(str::to_owned),
            b24_client_secret: self.secret("BRIDGE_B24_CLIENT_SECRET"),
            b24_oauth_url: self.url_or("BRIDGE_B24_OAUTH_URL", "https://oauth.bitrix.info")?,
            b24_webhook_url: self
                .url("BRIDGE_B24_WEBHOOK_URL")?
                .map(|u| Secret::new(u.to_string())),
            otlp_endpoint: self.url("BRIDGE_OTLP_ENDPOINT")?,
            log_format,
            queue_prefix,
            retry_schedule,
            worker_concurrency: self.number("BRIDGE_WORKER_CONCURRENCY", 8u16, 1)?,
            worker_http_addr: self.addr("BRIDGE_WORKER_HTTP_ADDR", "0.0.0.0:9090")?,
            publish_timeout,
            shutdown_grace: self.duration("BRIDGE_SHUTDOWN_GRACE", "30s")?,
            max_body_bytes,
            fanout_coalesce_window: self.duration("BRIDGE_FANOUT_COALESCE_WINDOW", "2m")?,
            fanout_skip_minor: self.boolean("BRIDGE_FANOUT_SKIP_MINOR", true)?,
            fanout_comment_on_move: self.boolean("BRIDGE_FANOUT_COMMENT_ON_MOVE", false)?,
        })
    }
}

/// The whole URL is checked here, because a URL the database driver cannot parse ends up
/// quoted, password included, in its error message.
fn validate_database_url(url: &str) -> Result<(), ConfigError> {
    const VAR: &str = "BRIDGE_DATABASE_URL";
    let scheme_ok = ["postgres://", "postgresql://", "sqlite:"]
        .iter()
        .any(|p| url.starts_with(p));
    if !scheme_ok {
        return Err(bad(
            VAR,
            "must start with postgres://, postgresql:// or sqlite:",
        ));
    }
    match Url::parse(url) {
        Ok(u) if url.starts_with("sqlite:") || u.host().is_some() => Ok(()),
        Ok(_) => Err(bad(VAR, "a PostgreSQL URL needs a host")),
        // No echo of the value: it holds the database password.
        Err(e) => Err(bad(
            VAR,
            format!("not a valid URL ({e}); percent-encode special characters in the password"),
        )),
    }
}

fn parse_http_url(var: &'static str, s: &str) -> Result<Url, ConfigError> {
    match Url::parse(s) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => Ok(u),
        Ok(_) => Err(bad(var, "must be an http:// or https:// URL with a host")),
        // The URL may hold a secret (B24 webhook URLs do), so the value is not echoed.
        Err(e) => Err(bad(var, format!("not a URL ({e})"))),
    }
}

fn parse_duration(var: &'static str, s: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(s).map_err(|e| {
        bad(
            var,
            format!("{s:?} is not a duration such as 5s, 2m or 1h ({e})"),
        )
    })
}

fn parse_key(var: &'static str, s: &str) -> Result<KeyBytes, ConfigError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| bad(var, "not valid base64"))?;
    bytes
        .try_into()
        .map(KeyBytes)
        .map_err(|v: Vec<u8>| bad(var, format!("must decode to 32 bytes, got {}", v.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.database_url.expose(), "sqlite://bridge.db?mode=rwc");
        assert_eq!(c.amqp_url.expose(), "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(c.http_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(c.confluence_flavor, ConfluenceFlavor::Cloud);
        assert_eq!(c.b24_oauth_url.as_str(), "https://oauth.bitrix.info/");
        assert_eq!(c.retry_schedule.len(), 5);
        assert_eq!(c.retry_schedule[4], Duration::from_secs(3600));
        assert!(c.otlp_endpoint.is_none());
    }

    #[test]
    fn errors_name_the_variable() {
        let e = cfg(&[("BRIDGE_HTTP_ADDR", "nope")]).unwrap_err();
        assert!(e.to_string().starts_with("BRIDGE_HTTP_ADDR: "), "{e}");
        let e = cfg(&[("BRIDGE_RETRY_SCHEDULE", "5s,soon")]).unwrap_err();
        assert!(e.to_string().starts_with("BRIDGE_RETRY_SCHEDULE: "), "{e}");
        let e = cfg(&[("BRIDGE_ENV", "production")]).unwrap_err();
        assert!(
            e.to_string().starts_with("BRIDGE_SECRET_KEY: required"),
            "{e}"
        );
        let e = cfg(&[("BRIDGE_SECRET_KEY", "c2hvcnQ=")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "BRIDGE_SECRET_KEY: must decode to 32 bytes, got 5"
        );
    }

    #[test]
    fn database_urls_are_checked_without_echoing_the_password() {
        let e = cfg(&[(
            "BRIDGE_DATABASE_URL",
            "postgres://bridge:ab/cd+ef@db:5432/bridge",
        )])
        .unwrap_err();
        assert!(e.to_string().starts_with("BRIDGE_DATABASE_URL: "), "{e}");
        assert!(!e.to_string().contains("ab/cd"), "{e}");
        assert!(
            cfg(&[(
                "BRIDGE_DATABASE_URL",
                "postgres://bridge:ab%2Fcd@db:5432/bridge"
            )])
            .is_ok()
        );
        assert!(cfg(&[("BRIDGE_DATABASE_URL", "sqlite::memory:")]).is_ok());
        assert!(cfg(&[("BRIDGE_DATABASE_URL", "mysql://x")]).is_err());
        assert!(cfg(&[("BRIDGE_RETRY_SCHEDULE", "500us")]).is_err());
        assert!(cfg(&[("BRIDGE_PUBLISH_TIMEOUT", "0s")]).is_err());
    }

    #[test]
    fn secrets_do_not_leak_into_errors_or_debug() {
        let e = cfg(&[("BRIDGE_B24_WEBHOOK_URL", "https//portal/rest/1/s3cr3t/")]).unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"));
        let c = cfg(&[
            ("BRIDGE_ADMIN_TOKEN", "s3cr3t"),
            // 32 bytes of 0x41 ("A"), so the key would show as 65s in a derived Debug.
            (
                "BRIDGE_SECRET_KEY",
                "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
            ),
        ])
        .unwrap();
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("s3cr3t") && !debug.contains("65, 65"),
            "{debug}"
        );
    }

    #[test]
    fn file_adds_and_environment_wins() {
        let dir = std::env::temp_dir().join(format!("bridge-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bridge.toml");
        std::fs::write(
            &file,
            "queue_prefix = \"fromfile\"\nworker_concurrency = 3\nretry_schedule = [\"1s\", \"2s\"]\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let c = cfg(&[
            ("BRIDGE_CONFIG_FILE", path),
            ("BRIDGE_WORKER_CONCURRENCY", "5"),
        ])
        .unwrap();
        assert_eq!(c.queue_prefix, "fromfile");
        assert_eq!(c.worker_concurrency, 5);
        assert_eq!(
            c.retry_schedule,
            vec![Duration::from_secs(1), Duration::from_secs(2)]
        );
        std::fs::write(&file, "no_such_setting = 1\n").unwrap();
        let e = cfg(&[("BRIDGE_CONFIG_FILE", path)]).unwrap_err();
        assert!(e.to_string().contains("unknown key no_such_setting"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
