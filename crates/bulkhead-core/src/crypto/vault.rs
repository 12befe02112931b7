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
    /// `effective_uid`), and not readable or writable by group or others.
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
mod tests;
