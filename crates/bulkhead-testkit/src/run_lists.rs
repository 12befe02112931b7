//! The check behind the run-list tests of [`crate::queue_cases`] and
//! [`crate::schedule_cases`]: a case that is not on its module's run list runs on no adapter,
//! silently.

use std::collections::BTreeSet;

/// Panics unless the cases of `source` (each `pub fn NAME(h: &Harness)`) and the names on the
/// list of its macro `macro_name` (after `$crate::MACRO!(@each $harness;`) are the same set,
/// each listed once.
pub(crate) fn check(source: &str, macro_name: &str) {
    let cases: BTreeSet<&str> = source
        .lines()
        .filter_map(|line| line.strip_prefix("pub fn "))
        .filter_map(|rest| rest.split_once("(h: &Harness)"))
        .map(|(name, _)| name)
        .collect();
    let start = format!("$crate::{macro_name}!(@each $harness;");
    let list = source
        .split_once(start.as_str())
        .and_then(|(_, rest)| rest.split_once(");"))
        .map(|(list, _)| list)
        .unwrap_or_else(|| panic!("no run list of {macro_name}! found"));
    let listed: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "a case listed twice: {listed:?}"
    );
    let missing: Vec<_> = cases.difference(&unique).collect();
    let unknown: Vec<_> = unique.difference(&cases).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "{macro_name}!: cases not on the list {missing:?}; listed but no such case {unknown:?}"
    );
    assert!(
        !cases.is_empty(),
        "no case found: the reader is out of date"
    );
}
