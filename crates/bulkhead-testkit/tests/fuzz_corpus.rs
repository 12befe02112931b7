//! The checked-in seed corpus of every fuzz target, replayed through its property harness on
//! stable: each file of `fuzz/seeds/<target>/` is one input, and a seed that breaks the
//! property fails the test, named. A missing or empty seed directory fails too, so a target
//! cannot lose its regression seeds unnoticed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use bulkhead_testkit::fuzzing::{self, Harness};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Runs every seed of `target` through `harness`; fails listing each seed that panicked.
fn replay(target: &str, harness: Harness) {
    let dir = fuzz_dir().join("seeds").join(target);
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed directory `{}` is missing: {e}", dir.display()));
    let mut seeds: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    seeds.sort();
    assert!(
        !seeds.is_empty(),
        "seed directory `{}` is empty",
        dir.display()
    );
    let failed: Vec<String> = seeds
        .iter()
        .filter(|path| {
            let data = fs::read(path).unwrap();
            catch_unwind(AssertUnwindSafe(|| harness(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} `{target}` seeds break the property (the panics are printed above):\n{}",
        failed.len(),
        seeds.len(),
        failed.join("\n")
    );
}

#[test]
fn external_id_seeds_hold_the_property() {
    replay("external_id", fuzzing::external_id);
}

#[test]
fn cursor_seeds_hold_the_property() {
    replay("cursor", fuzzing::cursor);
}

/// Regression: the harness knew only tags 1 and 2, so the decoded bytes of any audit cursor
/// (tag 3, `Position::Sequence`: the tag and 8 bytes) were a false crash ("decoded … from
/// bytes that encode no cursor").
#[test]
fn cursor_harness_knows_the_audit_sequence_tag() {
    for seq in [0u64, 1, 42, u64::MAX] {
        let mut data = vec![3];
        data.extend_from_slice(&seq.to_be_bytes());
        fuzzing::cursor(&data);
    }
    // Of any other length it is no cursor, and another tag is none either.
    fuzzing::cursor(&[3; 8]);
    fuzzing::cursor(&[3; 10]);
    fuzzing::cursor(&[4; 9]);
}

#[test]
fn config_spec_seeds_hold_the_property() {
    replay("config_spec", fuzzing::config_spec);
}

#[test]
fn token_seeds_hold_the_property() {
    replay("token", fuzzing::token);
}

/// The fuzz crate's targets, the harnesses and the seed directories name the same targets, so
/// a new target cannot be added without a harness replayed here and seeds.
#[test]
fn every_fuzz_target_has_a_harness_and_seeds() {
    let mut in_fuzz_crate: Vec<String> = fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    in_fuzz_crate.sort();
    let mut harnesses: Vec<String> = fuzzing::TARGETS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    harnesses.sort();
    assert_eq!(in_fuzz_crate, harnesses);
    for name in &harnesses {
        assert!(
            fuzz_dir().join("seeds").join(name).is_dir(),
            "no seeds for `{name}`"
        );
    }
}
