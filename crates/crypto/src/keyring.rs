//! `KeyRing`: the data keys (by id), the blind-index key and the token key, and the 0600 JSON
//! file they live in.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

use crate::error::KeyRingError;
use crate::primitives::random_array;

const FILE_VERSION: u32 = 1;

/// A 32-byte secret key, wiped when dropped.
#[derive(Clone)]
struct Key32(Zeroizing<[u8; 32]>);

impl Key32 {
    fn random() -> Self {
        Self(Zeroizing::new(random_array()))
    }

    fn from_base64(field: &str, encoded: &str) -> Result<Self, KeyRingError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded)
                .map_err(|_| KeyRingError::Malformed(format!("{field} is not valid base64")))?,
        );
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            KeyRingError::Malformed(format!("{field} must be 32 bytes, found {}", bytes.len()))
        })?;
        Ok(Self(Zeroizing::new(key)))
    }

    fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_slice())
    }
}

/// All of Leadline's secret keys.
///
/// Data keys are kept by id: [`crate::Cipher::seal`] uses the active one and writes its id into
/// the ciphertext, so after [`KeyRing::rotate`] old values still open. The blind-index key and the
/// token key never rotate (rotating them would orphan every stored index and signed link).
#[derive(Clone)]
pub struct KeyRing {
    data_keys: BTreeMap<u32, Key32>,
    active: u32,
    /// A copy of `data_keys[active]`, so sealing needs no lookup that could miss.
    active_key: Key32,
    blind_index_key: Key32,
    token_key: Key32,
}

/// The file format, as read. Its strings hold key material, so they are wiped when it is dropped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRingFile {
    version: u32,
    active: u32,
    data_keys: BTreeMap<u32, String>,
    blind_index_key: String,
    token_key: String,
}

impl Drop for KeyRingFile {
    fn drop(&mut self) {
        for encoded in self.data_keys.values_mut() {
            encoded.zeroize();
        }
        self.blind_index_key.zeroize();
        self.token_key.zeroize();
    }
}

impl KeyRing {
    /// Fresh random keys, with one data key of id 1, active.
    pub fn generate() -> KeyRing {
        let key = Key32::random();
        KeyRing {
            data_keys: BTreeMap::from([(1, key.clone())]),
            active: 1,
            active_key: key,
            blind_index_key: Key32::random(),
            token_key: Key32::random(),
        }
    }

    /// The key ring as JSON. The string holds every key: write it only to a 0600 file.
    pub fn to_json(&self) -> String {
        // Written by hand because every value is an integer or base64, which JSON needs no
        // escaping for, and so this cannot fail (serde_json's writer returns a `Result`).
        let data_keys = self
            .data_keys
            .iter()
            .map(|(id, key)| Zeroizing::new(format!("\n    \"{id}\": \"{}\"", key.to_base64())))
            .collect::<Vec<_>>();
        let data_keys = Zeroizing::new(
            data_keys
                .iter()
                .map(|entry| entry.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        let blind_index_key = Zeroizing::new(self.blind_index_key.to_base64());
        let token_key = Zeroizing::new(self.token_key.to_base64());
        format!(
            "{{\n  \"version\": {FILE_VERSION},\n  \"active\": {},\n  \"data_keys\": {{{}\n  }},\n  \
             \"blind_index_key\": \"{}\",\n  \"token_key\": \"{}\"\n}}\n",
            self.active, *data_keys, *blind_index_key, *token_key
        )
    }

    /// Parse [`KeyRing::to_json`] output, checking the version, that every key is 32 bytes and
    /// that the active key is present.
    pub fn from_json(s: &str) -> Result<KeyRing, KeyRingError> {
        // Report only where the JSON is wrong: serde's messages can quote the offending value.
        let file: KeyRingFile = serde_json::from_str(s).map_err(|error| {
            KeyRingError::Malformed(format!(
                "not a valid key ring JSON document (line {}, column {})",
                error.line(),
                error.column()
            ))
        })?;
        if file.version != FILE_VERSION {
            return Err(KeyRingError::Malformed(format!(
                "unsupported key ring version {} (expected {FILE_VERSION})",
                file.version
            )));
        }
        let mut data_keys = BTreeMap::new();
        for (id, encoded) in &file.data_keys {
            if *id == 0 {
                return Err(KeyRingError::Malformed("key id 0 is reserved".to_owned()));
            }
            data_keys.insert(*id, Key32::from_base64(&format!("data key {id}"), encoded)?);
        }
        let Some(active_key) = data_keys.get(&file.active).cloned() else {
            return Err(KeyRingError::Malformed(format!(
                "active key id {} is not among the data keys",
                file.active
            )));
        };
        Ok(KeyRing {
            data_keys,
            active: file.active,
            active_key,
            blind_index_key: Key32::from_base64("blind_index_key", &file.blind_index_key)?,
            token_key: Key32::from_base64("token_key", &file.token_key)?,
        })
    }

    /// Read the key ring at `path`. On Unix, refuses a file that group or others may read or
    /// write.
    pub fn load(path: &Path) -> Result<KeyRing, KeyRingError> {
        let io_error = |source| KeyRingError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(io_error)?;
        // Check the handle we read from, not the path, so the file cannot be swapped in between.
        check_private(path, &file)?;
        let mut json = Zeroizing::new(String::new());
        file.read_to_string(&mut json).map_err(io_error)?;
        KeyRing::from_json(&json)
    }

    /// Generate a key ring and write it to a new file at `path`, mode 0600. Fails with
    /// [`KeyRingError::Exists`] if the file exists: an existing key ring is never overwritten.
    pub fn create(path: &Path) -> Result<KeyRing, KeyRingError> {
        let ring = KeyRing::generate();
        let json = Zeroizing::new(ring.to_json());
        let mut file = open_private(path).map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                KeyRingError::Exists(path.to_owned())
            } else {
                KeyRingError::Io {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        if let Err(source) = file
            .write_all(json.as_bytes())
            .and_then(|()| file.sync_all())
        {
            // Leave no half-written key ring behind to be loaded later. The write error is the
            // one worth reporting, so a failure to remove is deliberately dropped.
            drop(file);
            drop(fs::remove_file(path));
            return Err(KeyRingError::Io {
                path: path.to_owned(),
                source,
            });
        }
        sync_parent(path)?;
        Ok(ring)
    }

    /// Load the key ring at `path`, or create one there if there is none. The flag is true when
    /// it was created (the caller should tell the operator to back it up).
    pub fn load_or_create(path: &Path) -> Result<(KeyRing, bool), KeyRingError> {
        match KeyRing::load(path) {
            Ok(ring) => Ok((ring, false)),
            Err(KeyRingError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                match KeyRing::create(path) {
                    Ok(ring) => Ok((ring, true)),
                    // Another process created it between our two calls: use theirs.
                    Err(KeyRingError::Exists(_)) => KeyRing::load(path).map(|ring| (ring, false)),
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Write the key ring to `path`, replacing any file there atomically: a temporary 0600 file in
    /// the same directory is written, synced and renamed over `path`.
    pub fn save(&self, path: &Path) -> Result<(), KeyRingError> {
        let temp = temp_path(path);
        let json = Zeroizing::new(self.to_json());
        let written = open_private(&temp).and_then(|mut file| {
            file.write_all(json.as_bytes())?;
            file.sync_all()
        });
        if let Err(source) = written.and_then(|()| fs::rename(&temp, path)) {
            // The temporary file holds keys: remove it. The first error is the one to report.
            drop(fs::remove_file(&temp));
            return Err(KeyRingError::Io {
                path: path.to_owned(),
                source,
            });
        }
        sync_parent(path)
    }

    /// Add a fresh data key and make it the one new values are sealed with. Returns its id. Old
    /// keys stay, so values sealed with them still open.
    pub fn rotate(&mut self) -> u32 {
        let id = self.next_key_id();
        let key = Key32::random();
        self.data_keys.insert(id, key.clone());
        self.active = id;
        self.active_key = key;
        id
    }

    /// The id of the data key new values are sealed with.
    pub fn active_key_id(&self) -> u32 {
        self.active
    }

    /// Every data key id, ascending.
    pub fn key_ids(&self) -> Vec<u32> {
        self.data_keys.keys().copied().collect()
    }

    /// The key for signed links and tokens (HMAC).
    pub fn token_key(&self) -> &[u8] {
        self.token_key.0.as_slice()
    }

    pub(crate) fn data_key(&self, id: u32) -> Option<&[u8; 32]> {
        self.data_keys.get(&id).map(|key| &*key.0)
    }

    pub(crate) fn active_data_key(&self) -> (u32, &[u8; 32]) {
        (self.active, &self.active_key.0)
    }

    pub(crate) fn blind_index_key(&self) -> &[u8; 32] {
        &self.blind_index_key.0
    }

    pub(crate) fn token_key_array(&self) -> &[u8; 32] {
        &self.token_key.0
    }

    fn next_key_id(&self) -> u32 {
        let highest = self.data_keys.keys().next_back().copied().unwrap_or(0);
        // After u32::MAX, take the lowest free id. There is always one: 2^32 keys do not fit in
        // memory.
        highest.checked_add(1).unwrap_or_else(|| {
            (1..u32::MAX)
                .find(|id| !self.data_keys.contains_key(id))
                .unwrap_or(u32::MAX)
        })
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active)
            .field("data_key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

/// Open a new file that only its owner can read and write.
fn open_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(unix)]
fn check_private(path: &Path, file: &File) -> Result<(), KeyRingError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = file.metadata().map_err(|source| KeyRingError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyRingError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _file: &File) -> Result<(), KeyRingError> {
    Ok(())
}

/// A fresh name beside `path`, so the rename that replaces `path` stays on one filesystem.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keyring".to_owned());
    let suffix = hex::encode(random_array::<8>());
    path.with_file_name(format!(".{name}.{suffix}.tmp"))
}

/// Make a create or rename in `path`'s directory durable.
#[cfg(unix)]
fn sync_parent(path: &Path) -> Result<(), KeyRingError> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| KeyRingError::Io {
            path: parent.to_owned(),
            source,
        })
}

#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> Result<(), KeyRingError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_has_one_active_key_with_id_1() {
        let ring = KeyRing::generate();
        assert_eq!(ring.active_key_id(), 1);
        assert_eq!(ring.key_ids(), vec![1]);
        assert_eq!(ring.token_key().len(), 32);
        assert_ne!(ring.token_key(), ring.blind_index_key().as_slice());
    }

    #[test]
    fn json_round_trips_every_key() {
        let mut ring = KeyRing::generate();
        ring.rotate();
        let json = ring.to_json();
        let back = KeyRing::from_json(&json).unwrap();
        assert_eq!(back.active_key_id(), 2);
        assert_eq!(back.key_ids(), vec![1, 2]);
        assert_eq!(back.data_key(1), ring.data_key(1));
        assert_eq!(back.data_key(2), ring.data_key(2));
        assert_eq!(back.blind_index_key(), ring.blind_index_key());
        assert_eq!(back.token_key(), ring.token_key());
        assert_eq!(back.to_json(), json);
    }

    #[test]
    fn json_has_the_documented_shape() {
        let mut ring = KeyRing::generate();
        ring.rotate();
        let value: serde_json::Value = serde_json::from_str(&ring.to_json()).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["active"], 2);
        assert_eq!(value["data_keys"].as_object().unwrap().len(), 2);
        assert_eq!(
            value["data_keys"]["1"],
            STANDARD.encode(ring.data_key(1).unwrap())
        );
        assert!(value["blind_index_key"].is_string());
        assert!(value["token_key"].is_string());
    }

    fn json_with(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value: serde_json::Value =
            serde_json::from_str(&KeyRing::generate().to_json()).unwrap();
        edit(&mut value);
        value.to_string()
    }

    #[test]
    fn from_json_rejects_bad_documents() {
        let short_key = STANDARD.encode([7u8; 16]);
        let cases = [
            ("not json".to_owned(), "not a valid key ring JSON"),
            (json_with(|v| v["version"] = 2.into()), "version 2"),
            (json_with(|v| v["active"] = 9.into()), "active key id 9"),
            (
                json_with(|v| v["token_key"] = short_key.clone().into()),
                "token_key must be 32 bytes",
            ),
            (
                json_with(|v| v["data_keys"]["1"] = "!!".into()),
                "data key 1 is not valid base64",
            ),
            (
                json_with(|v| v["extra"] = 1.into()),
                "not a valid key ring JSON",
            ),
        ];
        for (json, expected) in cases {
            let error = KeyRing::from_json(&json).unwrap_err();
            assert!(
                matches!(&error, KeyRingError::Malformed(m) if m.contains(expected)),
                "{json}: {error}"
            );
        }
    }

    #[test]
    fn malformed_json_error_does_not_echo_values() {
        let key = STANDARD.encode([9u8; 32]);
        let json = json_with(|v| v["active"] = key.clone().into());
        let error = KeyRing::from_json(&json).unwrap_err().to_string();
        assert!(!error.contains(&key), "{error}");
    }

    #[test]
    fn rotate_adds_a_key_and_activates_it() {
        let mut ring = KeyRing::generate();
        let old = *ring.data_key(1).unwrap();
        assert_eq!(ring.rotate(), 2);
        assert_eq!(ring.rotate(), 3);
        assert_eq!(ring.active_key_id(), 3);
        assert_eq!(ring.key_ids(), vec![1, 2, 3]);
        assert_eq!(ring.data_key(1), Some(&old));
        assert_ne!(ring.data_key(3), Some(&old));
    }

    #[test]
    fn debug_shows_ids_but_no_key_bytes() {
        let mut ring = KeyRing::generate();
        ring.rotate();
        let debug = format!("{ring:?}");
        assert!(debug.contains("data_key_ids: [1, 2]"), "{debug}");
        for secret in [
            ring.data_key(1).unwrap().as_slice(),
            ring.data_key(2).unwrap().as_slice(),
            ring.blind_index_key().as_slice(),
            ring.token_key(),
        ] {
            assert!(!debug.contains(&STANDARD.encode(secret)));
            assert!(!debug.contains(&hex::encode(secret)));
            assert!(!debug.contains(&format!("{:?}", &secret[..4])));
        }
    }

    #[cfg(unix)]
    mod files {
        use std::os::unix::fs::PermissionsExt;

        use super::*;

        fn mode(path: &Path) -> u32 {
            fs::metadata(path).unwrap().permissions().mode() & 0o777
        }

        #[test]
        fn create_writes_a_0600_file_that_loads() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("keyring.json");
            let ring = KeyRing::create(&path).unwrap();
            assert_eq!(mode(&path), 0o600);
            let loaded = KeyRing::load(&path).unwrap();
            assert_eq!(loaded.to_json(), ring.to_json());
        }

        #[test]
        fn create_refuses_an_existing_file() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("keyring.json");
            let first = KeyRing::create(&path).unwrap();
            let error = KeyRing::create(&path).unwrap_err();
            assert!(matches!(error, KeyRingError::Exists(_)), "{error}");
            assert_eq!(KeyRing::load(&path).unwrap().to_json(), first.to_json());
        }

        #[test]
        fn load_refuses_a_file_others_can_read() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("keyring.json");
            KeyRing::create(&path).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            let error = KeyRing::load(&path).unwrap_err();
            assert!(
                matches!(error, KeyRingError::Permissions { mode: 0o644, .. }),
                "{error}"
            );
            let message = error.to_string();
            assert!(
                message.contains(&format!("chmod 600 {}", path.display())),
                "{message}"
            );
        }

        #[test]
        fn load_or_create_creates_once_then_loads() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("keyring.json");
            let (created, was_created) = KeyRing::load_or_create(&path).unwrap();
            assert!(was_created);
            let (loaded, was_created) = KeyRing::load_or_create(&path).unwrap();
            assert!(!was_created);
            assert_eq!(loaded.to_json(), created.to_json());
        }

        #[test]
        fn load_of_a_missing_file_is_an_io_error_naming_it() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("absent.json");
            let error = KeyRing::load(&path).unwrap_err();
            assert!(matches!(error, KeyRingError::Io { .. }));
            assert!(error.to_string().contains("absent.json"));
        }

        #[test]
        fn save_replaces_the_file_with_0600_and_leaves_no_temp_file() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("keyring.json");
            let mut ring = KeyRing::create(&path).unwrap();
            ring.rotate();
            ring.save(&path).unwrap();
            assert_eq!(mode(&path), 0o600);
            assert_eq!(KeyRing::load(&path).unwrap().key_ids(), vec![1, 2]);
            let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
            assert_eq!(entries.len(), 1);
        }
    }
}
