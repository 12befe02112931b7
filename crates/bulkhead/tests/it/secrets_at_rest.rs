//! Secrets at rest: no credential or key appears in clear in the database file or its WAL,
//! and a database opens only with the master key it was created with.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use bulkhead::{Engine, Error, MasterKey, OrgScope, ScopedTokenRequest, default_key_file};
use common::{Db, config, ext, issue};

/// One secret to look for, under a name for the failure message.
struct Needle {
    what: String,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct Needles(Vec<Needle>);

impl Needles {
    fn add(&mut self, what: impl Into<String>, bytes: impl AsRef<[u8]>) {
        assert!(
            bytes.as_ref().len() >= 16,
            "a needle this short could match by chance"
        );
        self.0.push(Needle {
            what: what.into(),
            bytes: bytes.as_ref().to_vec(),
        });
    }

    /// Raw `bytes` and every usual text encoding of them.
    fn add_encoded(&mut self, what: &str, bytes: &[u8]) {
        self.add(format!("{what} (raw)"), bytes);
        self.add(format!("{what} (base64)"), STANDARD.encode(bytes));
        self.add(
            format!("{what} (base64, no padding)"),
            STANDARD_NO_PAD.encode(bytes),
        );
        self.add(format!("{what} (base64url)"), URL_SAFE.encode(bytes));
        self.add(
            format!("{what} (base64url, no padding)"),
            URL_SAFE_NO_PAD.encode(bytes),
        );
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.add(format!("{what} (hex)"), hex);
    }

    fn org_key(&mut self, what: &str, key: &bulkhead::OrgKeySecret) {
        let body = key.expose().strip_prefix("bh_org_").unwrap();
        self.add(format!("{what}: the key"), key.expose());
        self.add(format!("{what}: its base64url body"), body);
        self.add(
            format!("{what}: its 32 random bytes"),
            URL_SAFE_NO_PAD.decode(body).unwrap(),
        );
    }

    fn token(&mut self, what: &str, token: &bulkhead::ScopedToken) {
        let signature = token.expose().rsplit_once('.').unwrap().1;
        self.add(format!("{what}: the token"), token.expose());
        self.add(format!("{what}: its signature"), signature);
        self.add(
            format!("{what}: its signature bytes"),
            URL_SAFE_NO_PAD.decode(signature).unwrap(),
        );
    }

    fn hs256_secrets(&mut self, what: &str, org: &OrgScope) {
        for key in org.signing_keys().unwrap() {
            let secret = org.reveal_hs256_secret(&key.kid).unwrap();
            self.add_encoded(
                &format!("{what}: signing secret {}", key.kid),
                secret.expose(),
            );
        }
    }

    /// Asserts no needle occurs in any of `files`.
    #[track_caller]
    fn assert_absent(&self, files: &[(PathBuf, Vec<u8>)]) {
        for (path, bytes) in files {
            for needle in &self.0 {
                assert!(
                    !contains(bytes, &needle.bytes),
                    "{} is in {} in clear",
                    needle.what,
                    path.display()
                );
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The database file and whichever of its `-wal` and `-shm` files exist, read now.
fn database_files(path: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = vec![(path.to_owned(), std::fs::read(path).unwrap())];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let side = PathBuf::from(name);
        if let Ok(bytes) = std::fs::read(&side) {
            files.push((side, bytes));
        }
    }
    files
}

fn wal_of(files: &[(PathBuf, Vec<u8>)]) -> Option<&[u8]> {
    files
        .iter()
        .find(|(p, _)| p.to_string_lossy().ends_with("-wal"))
        .map(|(_, b)| b.as_slice())
}

fn found_anywhere(files: &[(PathBuf, Vec<u8>)], needle: &[u8]) -> bool {
    files.iter().any(|(_, bytes)| contains(bytes, needle))
}

#[test]
fn no_credential_or_key_is_stored_in_clear_in_the_database_or_its_wal() {
    let db = Db::new();
    let mut needles = Needles::default();

    let master = MasterKey::load_file(&default_key_file(&db.path)).unwrap();
    needles.add_encoded(
        "the master key",
        &STANDARD.decode(master.export_base64()).unwrap(),
    );

    // Organizations of both algorithms, with several keys: kept, revoked, expired.
    let (_, hs_key) = db.engine.create_organization("Plain Corp").unwrap();
    needles.org_key("first HS256 org key", &hs_key);
    let hs = db.engine.authenticate_org(hs_key.expose()).unwrap();
    let (_, ed_key) = db
        .engine
        .create_organization_with(
            "Edwards Corp",
            bulkhead::OrgSettings {
                token_algorithm: bulkhead::Algorithm::EdDsa,
                ..bulkhead::OrgSettings::default()
            },
        )
        .unwrap();
    needles.org_key("first EdDSA org key", &ed_key);
    let ed = db.engine.authenticate_org(ed_key.expose()).unwrap();
    let (_, second) = hs.create_key(None).unwrap();
    needles.org_key("second org key", &second);
    let (revoked_info, revoked) = hs.create_key(None).unwrap();
    needles.org_key("revoked org key", &revoked);
    hs.revoke_key(revoked_info.id).unwrap();
    let (_, expiring) = ed
        .create_key(Some(db.now().plus(Duration::from_secs(60))))
        .unwrap();
    needles.org_key("expiring org key", &expiring);

    // Tokens of both, before and after rotations, some revoked.
    needles.hs256_secrets("HS256 org before rotation", &hs);
    for (name, org) in [("HS256", &hs), ("EdDSA", &ed)] {
        let before = issue(org, "customer-1");
        needles.token(&format!("{name} token before rotation"), &before.token);
        db.tick();
        org.rotate_signing_key().unwrap();
        let after = org
            .scoped_token(&ScopedTokenRequest::new(ext("customer-2")).ttl(Duration::from_secs(60)))
            .unwrap();
        needles.token(&format!("{name} token after rotation"), &after.token);
        org.revoke_token(before.token.expose()).unwrap();
        db.tick();
        org.revoke_all_tokens(after.workspace_id).unwrap();
    }
    needles.hs256_secrets("HS256 org after rotation", &hs);
    db.clock.advance(Duration::from_secs(120));
    // Expired: refused as an invalid key like any other.
    assert!(matches!(
        db.engine.authenticate_org(expiring.expose()),
        Err(Error::InvalidOrgKey { .. })
    ));

    // With the engine open, the WAL holds the recent writes.
    let open = database_files(&db.path);
    let wal = wal_of(&open).expect("the database runs in WAL mode");
    assert!(!wal.is_empty());
    // Control: what is stored in clear (a key's public prefix) is found, so the search reads
    // where the data is.
    assert!(found_anywhere(&open, hs_key.prefix().as_bytes()));
    assert!(found_anywhere(&open, revoked.prefix().as_bytes()));
    needles.assert_absent(&open);

    // Closed (every scope and the engine dropped): checkpointed into the database file.
    let Db {
        dir,
        path,
        clock,
        engine,
    } = db;
    drop((hs, ed, engine));
    let closed = database_files(&path);
    assert!(
        wal_of(&closed).is_none_or(<[u8]>::is_empty),
        "the WAL was checkpointed"
    );
    assert!(contains(&closed[0].1, expiring.prefix().as_bytes()));
    needles.assert_absent(&closed);
    drop((dir, clock));
}

#[test]
fn wrong_master_key_is_refused_naming_its_fingerprint() {
    let db = Db::new();
    db.org("Acme");
    let wrong = MasterKey::generate().unwrap();
    let fingerprint = wrong.fingerprint().to_owned();
    let exported = wrong.export_base64();
    let right = MasterKey::load_file(&default_key_file(&db.path)).unwrap();

    match Engine::open(&db.path, config(&db.clock).with_master_key(wrong)) {
        Err(Error::Crypto { reason }) => {
            assert!(reason.contains(&fingerprint), "{reason}");
            assert!(!reason.contains(&exported), "the key itself is not shown");
            assert!(!reason.contains(right.fingerprint()), "{reason}");
        }
        other => panic!("expected a crypto error, got {other:?}"),
    }
}

#[test]
fn wrong_master_key_is_refused_before_anything_is_written() {
    let db = Db::new();
    let (_, key) = db.engine.create_organization("Acme").unwrap();
    let wrong_key = MasterKey::generate().unwrap();
    let fingerprint = wrong_key.fingerprint().to_owned();
    let wrong = config(&db.clock).with_master_key(wrong_key);
    match Engine::open(&db.path, wrong) {
        Err(Error::Crypto { reason }) => assert!(reason.contains(&fingerprint), "{reason}"),
        other => panic!("expected a crypto error naming the wrong key, got {other:?}"),
    }
    // The database still opens with its own key and still works.
    let db = db.reopen();
    db.engine.authenticate_org(key.expose()).unwrap();
}

#[test]
fn right_master_key_reopens_with_every_credential() {
    let db = Db::new();
    let (_, key) = db.engine.create_organization("Acme").unwrap();
    let org = db.engine.authenticate_org(key.expose()).unwrap();
    let issued = issue(&org, "customer-1");
    let kid = org.signing_keys().unwrap()[0].kid.clone();
    let secret = org.reveal_hs256_secret(&kid).unwrap().expose().to_vec();
    drop(org);

    let right = MasterKey::load_file(&default_key_file(&db.path)).unwrap();
    let engine = Engine::open(&db.path, config(&db.clock).with_master_key(right)).unwrap();
    let org = engine.authenticate_org(key.expose()).unwrap();
    let scope = engine.authenticate(issued.token.expose()).unwrap();
    assert_eq!(scope.workspace_id(), issued.workspace_id);
    assert_eq!(
        org.reveal_hs256_secret(&kid).unwrap().expose(),
        secret.as_slice()
    );
    let again = issue(&org, "customer-1");
    engine.authenticate(again.token.expose()).unwrap();
}

#[test]
fn master_key_debug_output_shows_only_its_fingerprint() {
    let key = MasterKey::generate().unwrap();
    let debug = format!("{key:?}");
    assert!(debug.contains(key.fingerprint()));
    assert!(!debug.contains(&key.export_base64()));
    let raw = STANDARD.decode(key.export_base64()).unwrap();
    assert!(!debug.contains(&URL_SAFE_NO_PAD.encode(&raw)));
}

#[test]
fn revealed_secret_and_token_debug_output_hide_them() {
    let db = Db::new();
    let org = db.org("Acme");
    let issued = issue(&org, "customer-1");
    let kid = org.signing_keys().unwrap()[0].kid.clone();
    let secret = org.reveal_hs256_secret(&kid).unwrap();
    let debug = format!("{secret:?} {issued:?} {:?}", org.signing_keys().unwrap());
    assert!(!debug.contains(issued.token.expose()));
    assert!(!debug.contains(&URL_SAFE_NO_PAD.encode(secret.expose())));
    assert!(!debug.contains(&STANDARD.encode(secret.expose())));
}
