//! The run lists against the sources: a conformance property that no list names would never
//! run on any adapter, and nothing else would notice.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The text of `conformance.rs` and of every file under `conformance/`, by file name.
fn sources() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    let root = src.join("conformance.rs");
    files.insert(
        "conformance.rs".to_owned(),
        fs::read_to_string(&root).unwrap(),
    );
    for entry in fs::read_dir(src.join("conformance")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = format!(
                "conformance/{}",
                path.file_name().unwrap().to_string_lossy()
            );
            files.insert(name, fs::read_to_string(&path).unwrap());
        }
    }
    files
}

/// The code of `text` (its comment lines left out) with all whitespace removed, so that a
/// signature reads the same however rustfmt wrapped it.
fn squeezed(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The names of the `pub fn name(factory: &dyn Fn() -> Harness)` in `text`: the properties.
fn properties(text: &str) -> Vec<String> {
    let text = squeezed(text);
    let mut names = Vec::new();
    for (at, _) in text.match_indices("pubfn") {
        let rest = &text[at + "pubfn".len()..];
        let Some(open) = rest.find('(') else { continue };
        let params = &rest[open..];
        if params.starts_with("(factory:&dynFn()->Harness)")
            || params.starts_with("(factory:&dynFn()->Harness,)")
        {
            names.push(rest[..open].to_owned());
        }
    }
    names
}

/// The names that `macro_rules! {list}` in `root` passes to the `@each` arm.
fn run_list(root: &str, list: &str) -> Vec<String> {
    let start = root
        .find(&format!("macro_rules! {list} {{"))
        .unwrap_or_else(|| panic!("no `macro_rules! {list}` in conformance.rs"));
    let body = &root[start..];
    let open = body.find("(@each $factory;").unwrap() + "(@each $factory;".len();
    let close = open + body[open..].find(");").unwrap();
    body[open..close]
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every property of the conformance files is on exactly one of the two run lists, once, and
/// each list names only properties.
#[test]
fn every_property_is_on_exactly_one_run_list() {
    let files = sources();
    let mut defined = BTreeMap::new();
    for (file, text) in &files {
        for name in properties(text) {
            if let Some(other) = defined.insert(name.clone(), file.clone()) {
                panic!("property `{name}` is defined in both {other} and {file}");
            }
        }
    }
    // The parsers find what they are for: both lists and their files are read.
    assert!(
        defined.len() > 50,
        "found only {} properties",
        defined.len()
    );
    let root = &files["conformance.rs"];
    let mut listed = BTreeMap::<String, Vec<&str>>::new();
    for list in ["conformance_tests", "fault_injection_tests"] {
        let names = run_list(root, list);
        assert!(!names.is_empty(), "`{list}!` lists nothing");
        for name in names {
            listed.entry(name).or_default().push(list);
        }
    }
    let missing: Vec<String> = defined
        .iter()
        .filter(|(name, _)| !listed.contains_key(*name))
        .map(|(name, file)| format!("{name} (in {file})"))
        .collect();
    assert!(
        missing.is_empty(),
        "properties on no run list, so no adapter runs them; add each to `conformance_tests!` \
         or `fault_injection_tests!` in conformance.rs: {missing:#?}"
    );
    let repeated: Vec<_> = listed.iter().filter(|(_, lists)| lists.len() > 1).collect();
    assert!(repeated.is_empty(), "listed more than once: {repeated:?}");
    let unknown: Vec<&String> = listed
        .keys()
        .filter(|n| !defined.contains_key(*n))
        .collect();
    assert!(unknown.is_empty(), "listed but not a property: {unknown:?}");
}
