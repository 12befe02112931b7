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
