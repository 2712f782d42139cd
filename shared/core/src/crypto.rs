//! Encryption of stored credentials (DESIGN §5: "stored credentials are encrypted").
//!
//! A [`Keyring`] holds the current 256-bit key (`BRIDGE_SECRET_KEY`), which encrypts, and any
//! retired keys (`BRIDGE_SECRET_KEYS_RETIRED`), which only decrypt. Every sealed value carries
//! the id of the key that sealed it, so keys can rotate: add the new key, move the old one to
//! the retired list, re-encrypt (`bridgectl` / `CredentialStore::rotate_all`), then drop it.
//!
//! The cipher is AES-256-GCM with a random 96-bit nonce per value. The caller passes
//! *associated data* naming the row the value belongs to (owner kind, owner id, credential
//! name): decryption fails if a ciphertext is copied into another row, so a database writer
//! cannot swap one portal's token for another's.
//!
//! Nothing in this module prints key bytes or plaintext: `Debug` of a [`Keyring`] shows key
//! ids only, and errors never carry secret material.

use crate::config::{Config, Environment};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

/// Length of the random nonce stored in front of each ciphertext.
pub const NONCE_LEN: usize = 12;
/// Length of the GCM authentication tag at the end of each ciphertext.
pub const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error(
        "BRIDGE_SECRET_KEY is required when BRIDGE_ENV=production (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)"
    )]
    MissingKey,
    #[error("development key file {path}: {reason}")]
    DevKeyFile { path: String, reason: String },
    #[error(
        "value was encrypted with key {key_id}, which is neither BRIDGE_SECRET_KEY nor in BRIDGE_SECRET_KEYS_RETIRED"
    )]
    UnknownKey { key_id: String },
    /// Wrong key, tampered ciphertext, or the value was moved to another row.
    #[error("value does not decrypt: it was altered or does not belong to this record")]
    Tampered,
    #[error("value is too large to encrypt")]
    TooLarge,
    #[error("the operating system's random number generator failed")]
    Random,
}

/// A key id: the first 8 bytes of SHA-256 over a domain tag and the key, in hex. It names
/// the key in stored rows and error messages without revealing it.
pub fn key_id(key: &[u8; 32]) -> String {
    let digest = Sha256::new()
        .chain_update(b"bridge-credential-key-id/v1\0")
        .chain_update(key)
        .finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// An encrypted value as stored: the id of the sealing key, and `nonce || ciphertext || tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub key_id: String,
    pub data: Vec<u8>,
}

impl fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedValue")
            .field("key_id", &self.key_id)
            .field("len", &self.data.len())
            .finish()
    }
}

struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn new(bytes: &[u8; 32]) -> Self {
        Self {
            id: key_id(bytes),
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }
}

/// The current key plus retired keys; see the module documentation.
pub struct Keyring {
    current: Key,
    retired: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field(
                "retired",
                &self
                    .retired
                    .iter()
                    .map(|k| k.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Keyring {
    /// A keyring that encrypts with `current` and also decrypts values sealed with any of
    /// `retired`. A retired key equal to the current one (or repeated) is ignored.
    pub fn new(current: [u8; 32], retired: Vec<[u8; 32]>) -> Self {
        let current = Key::new(&current);
        let mut keys: Vec<Key> = Vec::with_capacity(retired.len());
        for bytes in &retired {
            let key = Key::new(bytes);
            if key.id != current.id && keys.iter().all(|k| k.id != key.id) {
                keys.push(key);
            }
        }
        Self {
            current,
            retired: keys,
        }
    }

    /// The keyring the configuration asks for. Without `BRIDGE_SECRET_KEY`, a development
    /// install reads (or creates, mode 0600) `config.dev_key_file`, so trying the bridge out
    /// needs no key management; production refuses to start.
    pub fn from_config(config: &Config) -> Result<Self, CryptoError> {
        let current = match (config.secret_key, config.env) {
            (Some(key), _) => key.0,
            (None, Environment::Dev) => load_or_create_dev_key(&config.dev_key_file)?,
            (None, Environment::Production) => return Err(CryptoError::MissingKey),
        };
        let retired = config.secret_keys_retired.iter().map(|k| k.0).collect();
        Ok(Self::new(current, retired))
    }

    /// Id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Whether a value sealed with `key_id` can be decrypted.
    pub fn knows(&self, key_id: &str) -> bool {
        self.key(key_id).is_some()
    }

    /// Seals `plaintext` with the current key; `aad` names the record it belongs to and must
    /// be given again to decrypt.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<SealedValue, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|_| CryptoError::Random)?;
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::TooLarge)?;
        let mut data = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&ciphertext);
        Ok(SealedValue {
            key_id: self.current.id.clone(),
            data,
        })
    }

    /// Opens a sealed value with the key it names. Fails with [`CryptoError::UnknownKey`] if
    /// that key is not configured and [`CryptoError::Tampered`] if the data or `aad` differ
    /// from what was sealed.
    pub fn decrypt(&self, sealed: &SealedValue, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self
            .key(&sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey {
                key_id: sealed.key_id.clone(),
            })?;
        if sealed.data.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Tampered);
        }
        let (nonce, ciphertext) = sealed.data.split_at(NONCE_LEN);
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Tampered)
    }

    /// Whether the value was sealed with a key other than the current one and should be
    /// re-encrypted.
    pub fn needs_rotation(&self, sealed: &SealedValue) -> bool {
        sealed.key_id != self.current.id
    }

    fn key(&self, key_id: &str) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(&self.retired)
            .find(|k| k.id == key_id)
    }
}

/// Reads the development key file, or creates it with a fresh random key if it does not
/// exist. The file holds the key in base64 (the same form as `BRIDGE_SECRET_KEY`), so it can
/// be promoted to a real setting.
fn load_or_create_dev_key(path: &Path) -> Result<[u8; 32], CryptoError> {
    let err = |reason: String| CryptoError::DevKeyFile {
        path: path.display().to_string(),
        reason,
    };
    match create_new_private(path) {
        Ok(mut file) => {
            let mut key = [0u8; 32];
            OsRng
                .try_fill_bytes(&mut key)
                .map_err(|_| CryptoError::Random)?;
            let mut text = BASE64.encode(key);
            text.push('\n');
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| err(format!("cannot write: {}", e.kind())))?;
            Ok(key)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let mut text = String::new();
            std::fs::File::open(path)
                .and_then(|mut f| f.read_to_string(&mut text))
                .map_err(|e| err(format!("cannot read: {}", e.kind())))?;
            let bytes = BASE64
                .decode(text.trim())
                .map_err(|_| err("does not hold base64 of 32 bytes".into()))?;
            bytes
                .try_into()
                .map_err(|_| err("does not hold base64 of 32 bytes".into()))
        }
        Err(e) => Err(err(format!("cannot create: {}", e.kind()))),
    }
}

/// Creates `path` only if it does not exist (so two processes starting at once cannot both
/// write a key), readable by the owner only.
fn create_new_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: [u8; 32] = [1; 32];
    const K2: [u8; 32] = [2; 32];

    #[test]
    fn round_trip_with_random_nonces() {
        let ring = Keyring::new(K1, vec![]);
        let a = ring
            .encrypt(b"s3cr3t-token", b"portal|1|access_token")
            .unwrap();
        let b = ring
            .encrypt(b"s3cr3t-token", b"portal|1|access_token")
            .unwrap();
        assert_ne!(a.data, b.data, "nonces must differ");
        assert_eq!(a.key_id, ring.current_key_id());
        assert_eq!(a.data.len(), NONCE_LEN + b"s3cr3t-token".len() + TAG_LEN);
        assert!(!a.data.windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(
            ring.decrypt(&a, b"portal|1|access_token").unwrap(),
            b"s3cr3t-token"
        );
    }

    #[test]
    fn key_ids_are_stable_hex_and_distinct() {
        assert_eq!(key_id(&K1), key_id(&K1));
        assert_ne!(key_id(&K1), key_id(&K2));
        assert_eq!(key_id(&K1).len(), 16);
        assert!(key_id(&K1).chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn wrong_row_or_tampering_fails() {
        let ring = Keyring::new(K1, vec![]);
        let sealed = ring.encrypt(b"secret", b"portal|1|access_token").unwrap();
        assert_eq!(
            ring.decrypt(&sealed, b"portal|2|access_token"),
            Err(CryptoError::Tampered)
        );
        for i in 0..sealed.data.len() {
            let mut bad = sealed.clone();
            bad.data[i] ^= 0x01;
            assert_eq!(
                ring.decrypt(&bad, b"portal|1|access_token"),
                Err(CryptoError::Tampered)
            );
        }
        let short = SealedValue {
            key_id: sealed.key_id.clone(),
            data: vec![0; 5],
        };
        assert_eq!(ring.decrypt(&short, b""), Err(CryptoError::Tampered));
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let old = Keyring::new(K1, vec![]);
        let sealed = old.encrypt(b"secret", b"aad").unwrap();
        let new = Keyring::new(K2, vec![K1]);
        assert!(new.needs_rotation(&sealed));
        assert_eq!(new.decrypt(&sealed, b"aad").unwrap(), b"secret");
        let resealed = new.encrypt(b"secret", b"aad").unwrap();
        assert!(!new.needs_rotation(&resealed));
        // Once the old key is dropped entirely, the error names the missing key id.
        let only_new = Keyring::new(K2, vec![]);
        let e = only_new.decrypt(&sealed, b"aad").unwrap_err();
        assert_eq!(
            e,
            CryptoError::UnknownKey {
                key_id: key_id(&K1)
            }
        );
        assert!(e.to_string().contains(&key_id(&K1)));
    }

    #[test]
    fn retired_duplicates_are_ignored() {
        let ring = Keyring::new(K1, vec![K1, K2, K2]);
        assert_eq!(format!("{ring:?}").matches(&key_id(&K2)).count(), 1);
        assert!(ring.knows(&key_id(&K2)));
    }

    #[test]
    fn debug_shows_no_key_bytes_or_plaintext() {
        let key = [0xAB; 32];
        let ring = Keyring::new(key, vec![[0xCD; 32]]);
        let dbg = format!("{ring:?}");
        assert!(!dbg.contains("171, 171"), "{dbg}"); // byte-array Debug of 0xAB…
        assert!(!dbg.to_lowercase().contains("abababab"), "{dbg}");
        assert!(!dbg.contains(&BASE64.encode(key)), "{dbg}");
        let sealed = ring.encrypt(b"plain", b"").unwrap();
        assert!(!format!("{sealed:?}").contains("plain"));
    }

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn dev_key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("bridge-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("dev.key");
        let cfg = config(&[("BRIDGE_DEV_KEY_FILE", file.to_str().unwrap())]);
        let first = Keyring::from_config(&cfg).unwrap();
        let second = Keyring::from_config(&cfg).unwrap();
        assert_eq!(first.current_key_id(), second.current_key_id());
        let sealed = first.encrypt(b"x", b"").unwrap();
        assert_eq!(second.decrypt(&sealed, b"").unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&file, "not a key").unwrap();
        let e = Keyring::from_config(&cfg).unwrap_err();
        assert!(matches!(e, CryptoError::DevKeyFile { .. }), "{e}");
        assert!(!e.to_string().contains("not a key"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn configured_key_wins_and_production_requires_one() {
        let k = BASE64.encode(K1);
        let retired = BASE64.encode(K2);
        let cfg = config(&[
            ("BRIDGE_SECRET_KEY", &k),
            ("BRIDGE_SECRET_KEYS_RETIRED", &retired),
            ("BRIDGE_DEV_KEY_FILE", "/nonexistent/dir/never-created.key"),
        ]);
        let ring = Keyring::from_config(&cfg).unwrap();
        assert_eq!(ring.current_key_id(), key_id(&K1));
        assert!(ring.knows(&key_id(&K2)));

        let mut prod = cfg.clone();
        prod.env = Environment::Production;
        prod.secret_key = None;
        let e = Keyring::from_config(&prod).unwrap_err();
        assert_eq!(e, CryptoError::MissingKey);
        assert!(e.to_string().contains("BRIDGE_SECRET_KEY"));
    }
}
