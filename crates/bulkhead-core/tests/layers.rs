//! The core's module tree is layered, and its modules import each other without cycles.
//!
//! This test reads `src/**` (comments and string literals left out) and collects every path
//! that names an item of the crate: `use crate::…`, `use super::…`, `use self::…` (with their
//! `{…}` groups), a child module named in a `use`, and `crate::…` or `super::…` paths in code.
//! Each is resolved to the module that holds the item.
//!
//! **Layers.** The top-level modules form this order, lowest first; a module may name items
//! of its own layer and of the layers below it, never of a layer above:
//!
//! 1. `error` and `model` (values and objects a host sees),
//! 2. `crypto` (sealing, credentials at rest),
//! 3. `token` (the JWT profile, the scoped-token request),
//! 4. `audit` (the chain's types and hashing),
//! 5. `port` (the storage port: the `Store` trait, `Tenant` and `OrgCtx`, rows),
//! 6. `engine` (the engine, its shared state, the guard, the caches, and the scopes).
//!
//! Inside the crate an item is named by its module path, never by a re-export at the crate's
//! root (`crate::Error`): the root's re-exports are for users, and the test could not place
//! them. A new top-level module must be given a layer here.
//!
//! **Cycles.** Within each module, its children must not import each other in a cycle (an
//! import counts for the child whose subtree holds it, and names the child whose subtree
//! holds the item). A child naming its parent's items, or a parent its children's, is how a
//! directory module is built and is not counted. One cycle is allowed: `error` and `model`,
//! since [`Error`](bulkhead_core::Error) names ids and timestamps in its variants and those
//! values parse into an `Error`.
//!
//! **The guard as a type.** Under `engine/`, only the guarded handles (`engine/rows.rs`, with
//! the job queue's and the scheduler's in `engine/rows/jobs.rs`) and the guard
//! (`engine/guard.rs`, which holds the audit port it appends breaches to) may name a trait of
//! the storage port (`Store`, `SystemStore`, `OrgStore`, `WorkspaceStore`, `CatalogStore`,
//! `AuditStore`, `TenantStore`, `JobStore`, `ScheduleStore`): every other file reaches
//! storage through the handles, which check what comes back. The one exception is
//! `Engine::new`'s parameter, which it hands straight to the handles. Only the engine's entry
//! points may call `Storage::system` (`.system()`), the calls that run without a tenant. And
//! no other file may check a row itself (`guard.admit…`, `guard.breach`): a check belongs
//! with the store call whose rows it checks, in a handle.
//!
//! A `$crate::…` path in a `macro_rules!` body is not counted: it is expanded in the
//! caller's crate, where only the public paths (the root's re-exports) can be named.
//!
//! Unit tests (`#[cfg(test)] mod …`, inline or in a file of their own) are left out: a test
//! may reach up the layers to check a property across them. Run with `--nocapture` to see the
//! groups found.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The top-level modules, by layer (lowest first).
const LAYERS: &[&[&str]] = &[
    &["error", "model"],
    &["crypto"],
    &["token"],
    &["audit"],
    &["port"],
    &["engine"],
];

/// The one allowed cycle between siblings: (parent module, the siblings).
const ALLOWED_CYCLES: &[(&str, &[&str])] = &[("crate", &["error", "model"])];

/// The storage port's traits: naming one is reaching for the raw store.
const STORE_TRAITS: &[&str] = &[
    "Store",
    "SystemStore",
    "OrgStore",
    "WorkspaceStore",
    "CatalogStore",
    "AuditStore",
    "TenantStore",
    "JobStore",
    "ScheduleStore",
];

/// The modules under `engine` that may name them: the guarded handles, and the guard.
const STORE_HOLDERS: &[&str] = &["engine::rows", "engine::rows::jobs", "engine::guard"];

/// Names of the port's traits elsewhere under `engine`, each on purpose: (module, trait, how
/// many times). `Engine::new` takes the store and hands it to `rows::Storage::new`.
const STORE_NAMED_ELSEWHERE: &[(&str, &str, usize)] = &[("engine", "Store", 1)];

/// The modules under `engine` that may call `Storage::system` (the calls without a tenant):
/// the engine's entry points (the master-key check and rotation, the operator's listing,
/// authentication), the credential checks, the key and audience caches, and the job queue's
/// and the scheduler's cross-tenant calls (a claim, the reaper, the tick's scan). What
/// `.system()` returns reaches nothing inside a tenant: that is the type's business.
const SYSTEM_CALLERS: &[&str] = &[
    "engine",
    "engine::credential",
    "engine::shared",
    "engine::worker",
    "engine::scheduler",
];

/// The guard's checks of what storage returned (and the breach it records): only the handles,
/// which make the store call, may use them.
const GUARD_CHECKS: &[&str] = &[
    "admit",
    "admit_opt",
    "admit_all",
    "admit_org",
    "admit_org_opt",
    "breach",
];

type ModPath = Vec<String>;

fn join(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

/// Every source file of `dir`, as its module path.
fn modules(dir: &Path, prefix: &ModPath, out: &mut BTreeMap<ModPath, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            let mut child = prefix.clone();
            child.push(name);
            modules(&path, &child, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut module = prefix.clone();
            if stem != "mod" && stem != "lib" {
                module.push(stem.to_owned());
            }
            out.insert(module, fs::read_to_string(&path).unwrap());
        }
    }
}

/// The source with comments, string and char literals blanked out.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a), kept.
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

fn tokens(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push(Token::PathSep);
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(Token::Punct(c));
            }
            i += 1;
        }
    }
    out
}

/// The paths of one `use` tree starting at `tokens[*at]`, each with its leading segments.
fn use_tree(tokens: &[Token], at: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    loop {
        match tokens.get(*at) {
            Some(Token::Ident(name)) if name == "as" => {
                *at += 2;
                out.push(path);
                return;
            }
            Some(Token::Ident(name)) => {
                path.push(name.clone());
                *at += 1;
            }
            Some(Token::PathSep) => *at += 1,
            Some(Token::Punct('{')) => {
                *at += 1;
                loop {
                    match tokens.get(*at) {
                        Some(Token::Punct('}')) => {
                            *at += 1;
                            return;
                        }
                        Some(Token::Punct(',')) => *at += 1,
                        None => return,
                        _ => use_tree(tokens, at, &path, out),
                    }
                }
            }
            Some(Token::Punct('*')) => {
                *at += 1;
                out.push(path);
                return;
            }
            _ => {
                out.push(path);
                return;
            }
        }
    }
}

/// One file's imports: (the path as written, the inline module it is written in), tests
/// left out.
fn imports(source: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let tokens = tokens(&code_only(source));
    let mut out = Vec::new();
    // Inline modules open at a brace depth: (name, depth, is a test module).
    let mut inline: Vec<(String, usize, bool)> = Vec::new();
    let mut depth = 0usize;
    let mut cfg_test = false;
    let mut i = 0;
    while i < tokens.len() {
        let in_test = inline.iter().any(|(_, _, test)| *test);
        let here: Vec<String> = inline.iter().map(|(name, _, _)| name.clone()).collect();
        match &tokens[i] {
            Token::Punct('#') => {
                // `#[cfg(test)]`
                let attr: Vec<&Token> = tokens.iter().skip(i + 1).take(6).collect();
                let test = [
                    Token::Punct('['),
                    Token::Ident("cfg".into()),
                    Token::Punct('('),
                    Token::Ident("test".into()),
                    Token::Punct(')'),
                    Token::Punct(']'),
                ];
                if attr.len() == 6 && attr.iter().zip(test.iter()).all(|(a, b)| *a == b) {
                    cfg_test = true;
                    i += 7;
                    continue;
                }
                i += 1;
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some(Token::Ident(name)), Some(Token::Punct('{'))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    depth += 1;
                    inline.push((name.clone(), depth, cfg_test));
                    i += 3;
                } else {
                    i += 1;
                }
                cfg_test = false;
            }
            Token::Ident(word) if word == "use" => {
                let mut at = i + 1;
                let mut paths = Vec::new();
                use_tree(&tokens, &mut at, &[], &mut paths);
                if !in_test && !cfg_test {
                    out.extend(paths.into_iter().map(|p| (p, here.clone())));
                }
                cfg_test = false;
                i = at;
            }
            Token::Ident(word)
                if (word == "crate" || word == "super")
                    && tokens.get(i + 1) == Some(&Token::PathSep)
                    && (i == 0
                        || (tokens[i - 1] != Token::PathSep
                            && tokens[i - 1] != Token::Punct('$'))) =>
            {
                let mut path = vec![word.clone()];
                let mut at = i + 1;
                while tokens.get(at) == Some(&Token::PathSep) {
                    match tokens.get(at + 1) {
                        Some(Token::Ident(name)) => path.push(name.clone()),
                        _ => break,
                    }
                    at += 2;
                }
                if !in_test {
                    out.push((path, here.clone()));
                }
                i = at;
            }
            Token::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Token::Punct('}') => {
                if inline.last().is_some_and(|(_, open, _)| *open == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Token::Punct(';') => {
                cfg_test = false;
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// The unit-test modules `source` declares out of line (`#[cfg(test)] mod name;`, the module
/// in `name.rs` or `name/mod.rs` beside it), which are left out like the inline ones.
fn test_modules(source: &str) -> Vec<String> {
    let tokens = tokens(&code_only(source));
    let declaration = |name: &str| {
        [
            Token::Punct('#'),
            Token::Punct('['),
            Token::Ident("cfg".into()),
            Token::Punct('('),
            Token::Ident("test".into()),
            Token::Punct(')'),
            Token::Punct(']'),
            Token::Ident("mod".into()),
            Token::Ident(name.into()),
            Token::Punct(';'),
        ]
    };
    tokens
        .windows(10)
        .filter_map(|window| match &window[8] {
            Token::Ident(name) if window == declaration(name) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// The module that holds what `path` names, written in `module` (inside its inline modules
/// `inline`); `None` for another crate. `Err` for a path through the crate root's re-exports.
fn resolve(
    modules: &BTreeMap<ModPath, String>,
    module: &ModPath,
    inline: &[String],
    path: &[String],
) -> Result<Option<ModPath>, String> {
    let mut base: ModPath = module.iter().chain(inline).cloned().collect();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        Some(first) => {
            let mut child = base.clone();
            child.push(first.to_owned());
            if !modules.contains_key(&child) {
                return Ok(None);
            }
        }
        None => return Ok(None),
    }
    // The inline modules are not files: resolve from the file's module.
    base.truncate(base.len().min(module.len()));
    let mut target = base;
    for segment in rest {
        let mut deeper = target.clone();
        deeper.push(segment.clone());
        if modules.contains_key(&deeper) {
            target = deeper;
        } else {
            break;
        }
    }
    if target.is_empty() && !rest.is_empty() && !module.is_empty() {
        return Err(format!("`{}`", path.join("::")));
    }
    Ok(Some(target))
}

fn layer(module: &ModPath) -> Option<usize> {
    let top = module.first()?;
    LAYERS
        .iter()
        .position(|layer| layer.contains(&top.as_str()))
}

/// Every import between two modules of the crate, and the paths that broke the rules.
fn graph() -> (BTreeSet<(ModPath, ModPath)>, Vec<String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    modules(&src, &Vec::new(), &mut files);
    let tests: Vec<ModPath> = files
        .iter()
        .flat_map(|(module, source)| {
            test_modules(source).into_iter().map(|name| {
                let mut test = module.clone();
                test.push(name);
                test
            })
        })
        .collect();
    files.retain(|module, _| !tests.iter().any(|test| module.starts_with(test)));
    let mut edges = BTreeSet::new();
    let mut problems = Vec::new();
    for (module, source) in &files {
        if !module.is_empty() && layer(module).is_none() {
            problems.push(format!("{} has no layer: add it to LAYERS", join(module)));
        }
        for (path, inline) in imports(source) {
            match resolve(&files, module, &inline, &path) {
                Err(root) => problems.push(format!(
                    "{} names {root} through the crate root; name its module",
                    join(module)
                )),
                Ok(None) => {}
                Ok(Some(target)) => {
                    if let (Some(from), Some(to)) = (layer(module), layer(&target))
                        && to > from
                    {
                        problems.push(format!(
                            "{} (layer {}) imports {} (layer {}), a layer above it: `{}`",
                            join(module),
                            from + 1,
                            join(&target),
                            to + 1,
                            path.join("::")
                        ));
                    }
                    if target != *module {
                        edges.insert((module.clone(), target));
                    }
                }
            }
        }
    }
    (edges, problems)
}

/// The tokens of `source` outside its inline test modules (`#[cfg(test)] mod name { … }`).
fn non_test_tokens(source: &str) -> Vec<Token> {
    let all = tokens(&code_only(source));
    let attr = [
        Token::Punct('#'),
        Token::Punct('['),
        Token::Ident("cfg".into()),
        Token::Punct('('),
        Token::Ident("test".into()),
        Token::Punct(')'),
        Token::Punct(']'),
        Token::Ident("mod".into()),
    ];
    let mut out = Vec::new();
    let mut i = 0;
    while i < all.len() {
        let opens_test_module = all.get(i..i + attr.len()) == Some(&attr[..])
            && matches!(all.get(i + attr.len()), Some(Token::Ident(_)))
            && all.get(i + attr.len() + 1) == Some(&Token::Punct('{'));
        if opens_test_module {
            let mut depth = 0usize;
            i += attr.len() + 1;
            while i < all.len() {
                match all[i] {
                    Token::Punct('{') => depth += 1,
                    Token::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        } else {
            out.push(all[i].clone());
            i += 1;
        }
    }
    out
}

/// What breaks the guard's rules in the file of `module` (a module under `engine`).
fn raw_store_problems(module: &str, source: &str) -> Vec<String> {
    let tokens = non_test_tokens(source);
    let mut problems = Vec::new();
    if !STORE_HOLDERS.contains(&module) {
        for name in STORE_TRAITS {
            let count = tokens
                .iter()
                .filter(|t| matches!(t, Token::Ident(word) if word == name))
                .count();
            let allowed = STORE_NAMED_ELSEWHERE
                .iter()
                .find(|(m, n, _)| *m == module && n == name)
                .map_or(0, |(_, _, times)| *times);
            if count > allowed {
                problems.push(format!(
                    "{module} names the storage port's `{name}` ({count} times, {allowed} \
                     allowed): reach storage through the guarded handles of engine::rows"
                ));
            }
        }
    }
    let system_call = [
        Token::Punct('.'),
        Token::Ident("system".into()),
        Token::Punct('('),
        Token::Punct(')'),
    ];
    if !STORE_HOLDERS.contains(&module) && !SYSTEM_CALLERS.contains(&module) {
        let calls = tokens.windows(4).filter(|w| *w == system_call).count();
        if calls > 0 {
            problems.push(format!(
                "{module} calls `.system()` ({calls} times): the calls without a tenant are \
                 for the entry points listed in SYSTEM_CALLERS"
            ));
        }
    }
    if !STORE_HOLDERS.contains(&module) {
        let checks = tokens
            .windows(3)
            .filter(|w| {
                matches!(&w[0], Token::Ident(word) if word == "guard")
                    && w[1] == Token::Punct('.')
                    && matches!(&w[2], Token::Ident(word) if GUARD_CHECKS.contains(&word.as_str()))
            })
            .count();
        if checks > 0 {
            problems.push(format!(
                "{module} checks rows with the guard by hand ({checks} times): do the store \
                 call and its check together in a guarded handle of engine::rows"
            ));
        }
    }
    problems
}

#[test]
fn only_the_guarded_handles_reach_the_store() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    modules(&src, &Vec::new(), &mut files);
    let tests: Vec<ModPath> = files
        .iter()
        .flat_map(|(module, source)| {
            test_modules(source).into_iter().map(|name| {
                let mut test = module.clone();
                test.push(name);
                test
            })
        })
        .collect();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (module, source) in &files {
        if module.first().map(String::as_str) != Some("engine")
            || tests.iter().any(|test| module.starts_with(test))
        {
            continue;
        }
        checked += 1;
        problems.extend(raw_store_problems(&join(module), source));
    }
    assert!(checked > 10, "found only {checked} files under engine/");
    assert!(
        problems.is_empty(),
        "storage reached around the guard:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_raw_store_rule_catches_a_scope_that_names_the_store() {
    // A scope that keeps the raw store, in code (not in a comment, a string or a test).
    let scope = r#"
        //! Reads through crate::engine::rows, never a Store.
        use crate::port::store::TenantStore;
        struct Scope { store: std::sync::Arc<dyn TenantStore> }
        const TEXT: &str = "dyn Store";
        #[cfg(test)]
        mod tests {
            use crate::port::store::Store;
        }
    "#;
    assert_eq!(
        raw_store_problems("engine::workspace", scope),
        [
            "engine::workspace names the storage port's `TenantStore` (2 times, 0 allowed): \
             reach storage through the guarded handles of engine::rows"
        ]
    );
    // The same text is the handles' own business.
    assert!(raw_store_problems("engine::rows", scope).is_empty());
    // `Engine::new` may name `Store` once, to hand it over; not twice.
    let new = "pub fn new(store: Arc<dyn crate::port::store::Store>) { Storage::new(store) }";
    assert!(raw_store_problems("engine", new).is_empty());
    let twice = "fn new(s: Arc<dyn Store>) {} fn keep(s: Arc<dyn Store>) {}";
    assert_eq!(raw_store_problems("engine", twice).len(), 1);
    // A tenant-less call from a scope.
    let system = "fn f(&self) { self.inner.storage.system().list_organizations() }";
    assert_eq!(
        raw_store_problems("engine::org", system),
        [
            "engine::org calls `.system()` (1 times): the calls without a tenant are for the \
             entry points listed in SYSTEM_CALLERS"
        ]
    );
    assert!(raw_store_problems("engine::worker", system).is_empty());
    // The queue's port is a storage port like the others.
    let queue = "fn queue(inner: &Inner) -> Result<&dyn JobStore> { todo() }";
    assert_eq!(
        raw_store_problems("engine::worker", queue),
        [
            "engine::worker names the storage port's `JobStore` (1 times, 0 allowed): reach \
             storage through the guarded handles of engine::rows"
        ]
    );
    assert!(raw_store_problems("engine::rows::jobs", queue).is_empty());
    // A row checked by hand, next to a store call, in one statement or over lines.
    let by_hand = "fn f(&self) { let done = jobs.complete(&t)?; \
                   self.inner.guard.admit_opt(&t, done)?; \
                   Err(self.inner\n.guard\n.breach(kind, org, None, actor)) }";
    assert_eq!(
        raw_store_problems("engine::worker", by_hand),
        [
            "engine::worker checks rows with the guard by hand (2 times): do the store call \
             and its check together in a guarded handle of engine::rows"
        ]
    );
    assert!(raw_store_problems("engine::rows", by_hand).is_empty());
    // Reading the guard's counters is not a check.
    assert!(
        raw_store_problems(
            "engine::org",
            "fn f(&self) { self.inner.guard.breaches_of(org) }"
        )
        .is_empty()
    );
    // Clean scope code passes.
    assert!(
        raw_store_problems(
            "engine::workspace",
            "fn f(&self) { self.rows().connection(id) }"
        )
        .is_empty()
    );
}

#[test]
fn no_import_runs_up_the_layers() {
    let (_, problems) = graph();
    assert!(
        problems.is_empty(),
        "imports against the layering:\n{}",
        problems.join("\n")
    );
}

/// The groups of siblings that import each other in a cycle, by parent module.
fn sibling_cycles(edges: &BTreeSet<(ModPath, ModPath)>) -> Vec<(String, BTreeSet<String>)> {
    // Per parent: child -> children it imports from.
    let mut siblings: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, to) in edges {
        let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        if common >= from.len() || common >= to.len() {
            continue; // a parent and its descendant
        }
        let parent = from[..common].to_vec();
        siblings
            .entry(parent)
            .or_default()
            .entry(from[common].clone())
            .or_default()
            .insert(to[common].clone());
    }
    let mut cycles = Vec::new();
    for (parent, graph) in &siblings {
        let reach = |start: &String| {
            let mut seen = BTreeSet::new();
            let mut todo = vec![start.clone()];
            while let Some(node) = todo.pop() {
                for next in graph.get(&node).into_iter().flatten() {
                    if seen.insert(next.clone()) {
                        todo.push(next.clone());
                    }
                }
            }
            seen
        };
        let mut done = BTreeSet::new();
        for node in graph.keys() {
            if done.contains(node) {
                continue;
            }
            let from_node = reach(node);
            let group: BTreeSet<String> = from_node
                .iter()
                .filter(|other| reach(other).contains(node))
                .cloned()
                .collect();
            if !group.is_empty() {
                done.extend(group.iter().cloned());
                cycles.push((join(parent), group));
            }
        }
    }
    cycles
}

#[test]
fn no_import_cycle_between_sibling_modules() {
    let (edges, _) = graph();
    let cycles = sibling_cycles(&edges);
    println!("{} imports between modules of src/", edges.len());
    for (parent, group) in &cycles {
        println!("cycle among the children of {parent}: {group:?}");
    }
    let unexpected: Vec<String> = cycles
        .iter()
        .filter(|(parent, group)| {
            !ALLOWED_CYCLES.iter().any(|(p, allowed)| {
                p == parent && group.iter().map(String::as_str).eq(allowed.iter().copied())
            })
        })
        .map(|(parent, group)| format!("{parent}: {group:?}"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "modules that import each other in a cycle:\n{}",
        unexpected.join("\n")
    );
}

#[test]
fn the_reader_finds_out_of_line_test_modules() {
    let source = "
        mod engine;
        #[cfg(test)]
        mod tests;
        #[cfg(test)]
        mod inline { }
        #[cfg(not(test))]
        mod other;
        // #[cfg(test)] mod commented;
    ";
    assert_eq!(test_modules(source), ["tests"]);
}

#[test]
fn the_reader_finds_imports_and_skips_comments_strings_and_tests() {
    let source = r#"
        //! A doc naming crate::engine::Engine.
        use crate::model::{ids::OrgId, time::{self, Timestamp}};
        use super::sibling::Thing;
        const TEXT: &str = "crate::engine::x";
        fn f() { let _ = crate::port::store::Store::x; }
        #[cfg(test)]
        mod tests {
            use crate::engine::Engine;
        }
        fn g() { crate::token::verify(); }
    "#;
    let found: Vec<String> = imports(source)
        .into_iter()
        .map(|(path, _)| path.join("::"))
        .collect();
    assert_eq!(
        found,
        [
            "crate::model::ids::OrgId",
            "crate::model::time::self",
            "crate::model::time::Timestamp",
            "super::sibling::Thing",
            "crate::port::store::Store::x",
            "crate::token::verify",
        ]
    );
}
