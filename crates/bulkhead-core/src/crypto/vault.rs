//! The master key (KEK) and sealing: AES-256-GCM from `ring`.
//!
//! Everything Bulkhead keeps secret at rest (signing keys now, workspace data keys later) is
//! sealed under the host's 256-bit master key. A sealed value is
//! `version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)`, with associated data
//! that binds it to where it belongs (an organization and a key id, say), so a sealed value
//! copied to another row does not open.
//!
//! The master key never enters the database. What does is a check value sealed under it, so
//! opening a database with the wrong master key fails at once with a clear error instead of
//! producing garbage later.
//!
//! Key bytes held here are zeroed when dropped: the master key's, a new data key's, every
//! opened value ([`Zeroizing`]: data keys and signing secrets are opened with it). `ring`'s
//! expanded keys (`LessSafeKey`, `hmac::Key`, `Ed25519KeyPair`) are not: it offers no way to.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize as _, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

const SEALED_VERSION: u8 = 1;
const CHECK_AAD: &[u8] = b"bulkhead/master-key-check/v1";
const CHECK_PLAINTEXT: &[u8] = b"bulkhead master key check";

/// Fills `buf` with random bytes from the system's CSPRNG.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<()> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| Error::crypto("the system random source failed"))
}

/// `n` random bytes as base64url text (for ids such as `kid` and `jti`).
pub(crate) fn random_token(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    random_bytes(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// An AES-256-GCM key and the sealed-value format of the module docs.
struct Sealer(LessSafeKey);

impl Sealer {
    /// A key from its 32 bytes (`ring` refuses any other length).
    fn new(bytes: &[u8]) -> Result<Self> {
        UnboundKey::new(&AES_256_GCM, bytes)
            .map(|k| Self(LessSafeKey::new(k)))
            .map_err(|_| Error::crypto("could not load a 256-bit key"))
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let mut in_out = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| Error::crypto("could not seal a value"))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(SEALED_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let failed = || {
            Error::crypto(
                "a sealed value does not open: wrong key, or the value was moved or corrupted",
            )
        };
        let (version, rest) = sealed.split_first().ok_or_else(failed)?;
        if *version != SEALED_VERSION {
            return Err(failed());
        }
        let (nonce, ciphertext) = rest.split_first_chunk::<NONCE_LEN>().ok_or_else(failed)?;
        // Opened in place: the plaintext never leaves this buffer, zeroed when dropped.
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let len = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| failed())?
            .len();
        in_out.truncate(len);
        Ok(in_out)
    }
}

/// A workspace's data key (DEK): seals that workspace's secret fields. Stored only sealed
/// under the master key; destroying every sealed copy makes every secret of the workspace
/// unreadable (crypto-shredding; `OrgScope::purge_workspace` says what a purge reaches). It
/// keeps only `ring`'s expanded key, not its bytes.
pub(crate) struct DataKey(Sealer);

impl DataKey {
    /// A new random data key, and its 32 bytes to seal (zeroed when dropped).
    pub(crate) fn generate() -> Result<(Self, Zeroizing<Vec<u8>>)> {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        random_bytes(&mut bytes)?;
        Ok((Self(Sealer::new(&bytes)?), bytes))
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != 32 {
            return Err(Error::crypto("a data key is not 32 bytes"));
        }
        Ok(Self(Sealer::new(bytes)?))
    }

    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        self.0.seal(plaintext, aad)
    }

    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.0.open(sealed, aad)
    }
}

/// The host's 256-bit master key (key-encryption key).
///
/// Its `Debug` output shows only a fingerprint (the first 8 bytes of its SHA-256, in hex),
/// which is also how errors refer to it. Its bytes are zeroed when it is dropped.
pub struct MasterKey {
    bytes: [u8; 32],
    key: Sealer,
    fingerprint: String,
}

impl MasterKey {
    /// A master key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self> {
        let key = Sealer::new(&bytes)?;
        let hash = digest(&SHA256, &bytes);
        let fingerprint = hash
            .as_ref()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            bytes,
            key,
            fingerprint,
        })
    }

    /// A new random master key.
    pub fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        random_bytes(bytes.as_mut_slice())?;
        Self::from_bytes(*bytes)
    }

    /// A master key from base64 text (standard or URL-safe alphabet, padding optional) of
    /// exactly 32 bytes. `source` names where the text came from, for the error.
    pub fn from_base64(text: &str, source: &'static str) -> Result<Self> {
        let text = text.trim();
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .map_err(|_| Error::invalid_input(source, "is not base64"))?,
        );
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            Error::invalid_input(
                source,
                format!("holds {} bytes; a master key is 32 bytes", decoded.len()),
            )
        })?;
        Self::from_bytes(bytes)
    }

    /// Reads a key file written by [`MasterKey::create_file`]. On Unix the file is checked
    /// through the descriptor it is read from, never by a second look-up of the path: it must
    /// be a regular file, not a symbolic link, owned by the user this process runs as (see
    /// [`effective_uid`]), and not readable or writable by group or others.
    pub fn load_file(path: &Path) -> Result<Self> {
        use std::io::Read as _;
        let field = "master key file";
        let mut file = open_key_file(path)?;
        let mut text = Zeroizing::new(String::new());
        file.read_to_string(&mut text).map_err(|e| {
            Error::invalid_input(
                field,
                format!("`{}` could not be read: {e}", path.display()),
            )
        })?;
        Self::from_base64(&text, field)
    }

    /// Writes a new random key to `path` (which must not exist) with mode 0600 (set on the
    /// open file before the key is written, so whatever the umask), and returns it.
    pub fn create_file(path: &Path) -> Result<Self> {
        let key = Self::generate()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| {
            Error::invalid_input(
                "master key file",
                format!("`{}` could not be created: {e}", path.display()),
            )
        })?;
        // The mode given to `open` is narrowed by the umask, never widened; a umask without
        // the owner's bits would leave the owner unable to read the key. Set it exactly.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            if let Err(e) = file.set_permissions(std::fs::Permissions::from_mode(0o600)) {
                drop(file);
                let _ = std::fs::remove_file(path);
                return Err(Error::invalid_input(
                    "master key file",
                    format!("`{}` could not be made private: {e}", path.display()),
                ));
            }
        }
        let text = Zeroizing::new(STANDARD.encode(key.bytes));
        writeln!(file, "{}", text.as_str())
            .and_then(|()| file.sync_all())
            .map_err(|e| {
                Error::invalid_input(
                    "master key file",
                    format!("`{}` could not be written: {e}", path.display()),
                )
            })?;
        Ok(key)
    }

    /// The key as standard base64, for the host's secret manager. Handle with care.
    pub fn export_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// The key's fingerprint: the first 8 bytes of its SHA-256, in hex. Not secret.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Seals `plaintext`, binding it to `aad`.
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        self.key.seal(plaintext, aad)
    }

    /// Opens a value sealed by [`MasterKey::seal`] with the same `aad`.
    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.key.open(sealed, aad)
    }

    /// A check value to store beside the data this key seals.
    pub(crate) fn check_value(&self) -> Result<Vec<u8>> {
        self.seal(CHECK_PLAINTEXT, CHECK_AAD)
    }

    /// Whether `stored` is a check value made by this key.
    pub(crate) fn verify_check_value(&self, stored: &[u8]) -> Result<()> {
        match self.open(stored, CHECK_AAD) {
            Ok(plain) if plain.as_slice() == CHECK_PLAINTEXT => Ok(()),
            _ => Err(Error::crypto(format!(
                "the master key (fingerprint {}) is not the one this database was created with; use the original key (BULKHEAD_MASTER_KEY or the key file)",
                self.fingerprint
            ))),
        }
    }
}

/// Opens the key file at `path` for reading, after the checks of [`MasterKey::load_file`].
///
/// `std` has no `O_NOFOLLOW` without `libc`, so a symbolic link is refused by looking at the
/// path itself first (`lstat`), and the file then opened is checked to be that same file
/// (device and inode of the open descriptor): a path swapped for a link in between is
/// refused. Mode and owner are read from the open descriptor (`fstat`), so they are those of
/// the file read.
#[cfg(unix)]
fn open_key_file(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::MetadataExt as _;
    let refused = |detail: String| {
        Error::invalid_input("master key file", format!("`{}` {detail}", path.display()))
    };
    let unreadable = |e: std::io::Error| refused(format!("could not be read: {e}"));
    let seen = std::fs::symlink_metadata(path).map_err(unreadable)?;
    if seen.file_type().is_symlink() {
        return Err(refused(
            "is a symbolic link; give the path of the key file itself".to_owned(),
        ));
    }
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let opened = file.metadata().map_err(unreadable)?;
    if (opened.dev(), opened.ino()) != (seen.dev(), seen.ino()) {
        return Err(refused(
            "changed while it was being opened; try again".to_owned(),
        ));
    }
    if !opened.file_type().is_file() {
        return Err(refused("is not a regular file".to_owned()));
    }
    let mode = opened.mode();
    if mode & 0o077 != 0 {
        return Err(refused(format!(
            "has mode {:o}; it must be readable by its owner only (chmod 600)",
            mode & 0o777
        )));
    }
    let uid = effective_uid()?;
    if opened.uid() != uid {
        return Err(refused(format!(
            "is owned by uid {}, not by the user this process runs as (uid {uid}); chown it",
            opened.uid()
        )));
    }
    Ok(file)
}

#[cfg(not(unix))]
fn open_key_file(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| {
        Error::invalid_input(
            "master key file",
            format!("`{}` could not be read: {e}", path.display()),
        )
    })
}

/// The effective uid of this process, without `libc`: on Linux the second field of the `Uid:`
/// line of `/proc/self/status` (real, effective, saved and file-system uids); where there is
/// no such file, the owner of a file this process creates in the temporary directory (a new
/// file belongs to the effective uid) and removes at once.
#[cfg(unix)]
fn effective_uid() -> Result<u32> {
    let from_proc = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        });
    if let Some(uid) = from_proc {
        return Ok(uid);
    }
    use std::os::unix::fs::MetadataExt as _;
    let probe = std::env::temp_dir().join(format!("bulkhead-uid-{}", random_token(12)?));
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|file| file.metadata());
    let _ = std::fs::remove_file(&probe);
    created.map(|meta| meta.uid()).map_err(|e| {
        Error::invalid_input(
            "master key file",
            format!("its owner cannot be checked: this process's user id is unknown ({e})"),
        )
    })
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl ZeroizeOnDrop for MasterKey {}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_value_opens_only_with_its_key_and_aad() {
        let key = MasterKey::generate().unwrap();
        let other = MasterKey::generate().unwrap();
        let sealed = key.seal(b"secret", b"org-1/kid-1").unwrap();
        assert_eq!(
            key.open(&sealed, b"org-1/kid-1").unwrap().as_slice(),
            b"secret"
        );
        assert!(key.open(&sealed, b"org-2/kid-1").is_err());
        assert!(other.open(&sealed, b"org-1/kid-1").is_err());
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn tampered_ciphertext_does_not_open() {
        let key = MasterKey::generate().unwrap();
        let mut sealed = key.seal(b"secret", b"aad").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(key.open(&sealed, b"aad").is_err());
        assert!(key.open(&[], b"aad").is_err());
    }

    #[test]
    fn check_value_tells_keys_apart() {
        let key = MasterKey::generate().unwrap();
        let other = MasterKey::generate().unwrap();
        let check = key.check_value().unwrap();
        assert!(key.verify_check_value(&check).is_ok());
        let err = other.verify_check_value(&check).unwrap_err();
        assert!(err.to_string().contains(other.fingerprint()), "{err}");
    }

    #[test]
    fn base64_must_hold_exactly_32_bytes() {
        let key = MasterKey::generate().unwrap();
        let back = MasterKey::from_base64(&key.export_base64(), "BULKHEAD_MASTER_KEY").unwrap();
        assert_eq!(back.fingerprint(), key.fingerprint());
        let err = MasterKey::from_base64("c2hvcnQ=", "BULKHEAD_MASTER_KEY").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid BULKHEAD_MASTER_KEY: holds 5 bytes; a master key is 32 bytes"
        );
    }

    #[test]
    fn debug_shows_the_fingerprint_only() {
        let key = MasterKey::generate().unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains(key.fingerprint()));
        assert!(!debug.contains(&key.export_base64()));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_private_and_loads_back() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("bulkhead-key-{}", random_token(8).unwrap()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bulkhead.key");
        let key = MasterKey::create_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            MasterKey::load_file(&path).unwrap().fingerprint(),
            key.fingerprint()
        );
        assert!(
            MasterKey::create_file(&path).is_err(),
            "must not overwrite a key"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            MasterKey::load_file(&path)
                .unwrap_err()
                .to_string()
                .contains("chmod 600")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// L7: key bytes are zeroed when dropped. The types that hold them say so, checked at
    /// compile time: the master key, a new data key's bytes, every opened value (data keys and
    /// signing secrets are opened like any sealed value), a new signing secret, a revealed one.
    #[test]
    fn key_bytes_are_zeroized_on_drop() {
        fn zeroized_on_drop<T: ZeroizeOnDrop>(_: &T) {}
        let key = MasterKey::generate().unwrap();
        zeroized_on_drop(&key);
        let (data_key, bytes) = DataKey::generate().unwrap();
        zeroized_on_drop(&bytes);
        let sealed = key.seal(&bytes, b"aad").unwrap();
        let opened = key.open(&sealed, b"aad").unwrap();
        zeroized_on_drop(&opened);
        assert_eq!(opened, bytes);
        let sealed = data_key.seal(b"secret", b"aad").unwrap();
        zeroized_on_drop(&data_key.open(&sealed, b"aad").unwrap());
        for alg in [crate::Algorithm::Hs256, crate::Algorithm::EdDsa] {
            let (_, secret, _) = crate::token::KeyMaterial::generate(alg).unwrap();
            zeroized_on_drop(&secret);
        }
        zeroized_on_drop(&crate::crypto::keys::RevealedSecret::new(Zeroizing::new(
            vec![7; 32],
        )));
    }

    /// A fresh directory under the temporary directory, for key files.
    #[cfg(unix)]
    fn key_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("bulkhead-key-{}", random_token(8).unwrap()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// L7: a symbolic link to a good key file is refused (it could be swapped for a link to
    /// a file someone else controls); the file itself loads.
    #[cfg(unix)]
    #[test]
    fn key_file_behind_a_symbolic_link_is_refused() {
        let dir = key_dir();
        let path = dir.join("bulkhead.key");
        let key = MasterKey::create_file(&path).unwrap();
        let link = dir.join("link.key");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let err = MasterKey::load_file(&link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(
            MasterKey::load_file(&path).unwrap().fingerprint(),
            key.fingerprint()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// L7: a private key file owned by another user is refused. Giving a file away takes
    /// root; other users skip the check (and say so).
    #[cfg(unix)]
    #[test]
    fn key_file_of_another_user_is_refused() {
        let dir = key_dir();
        let path = dir.join("bulkhead.key");
        MasterKey::create_file(&path).unwrap();
        if effective_uid().unwrap() != 0 {
            eprintln!("key_file_of_another_user_is_refused: skipped, only root can chown");
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        let err = MasterKey::load_file(&path).unwrap_err().to_string();
        assert!(err.contains("owned by uid 65534"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// L7: a directory, however private, is not a key file.
    #[cfg(unix)]
    #[test]
    fn key_file_must_be_a_regular_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = key_dir();
        let inner = dir.join("bulkhead.key");
        std::fs::create_dir(&inner).unwrap();
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = MasterKey::load_file(&inner).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The uid the owner check compares with is the one that owns what this process creates.
    #[cfg(unix)]
    #[test]
    fn effective_uid_owns_the_files_this_process_creates() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = key_dir();
        let path = dir.join("probe");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().uid(),
            effective_uid().unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
