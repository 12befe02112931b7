//! One statement, two dialects, both fixed at compile time.
//!
//! A statement is written once, as SQLite reads it: `?1`-style placeholders, tenant tables
//! read through the guard's `t_` views and organization tables through its `o_` views (see
//! `bulkhead-sqlite`'s guard), writes to the tables themselves. [`sql!`](crate::sql) turns
//! that text into PostgreSQL's at compile time, by a `const fn`: `?n` becomes `$n`, and a `t_`
//! or `o_` at the start of a name is dropped (PostgreSQL reads the tables, under its row
//! policies). Both texts are `&'static str` in the binary; nothing is formatted at run time.
//!
//! A statement whose SQL really differs between the two databases gives both texts
//! (`sql!(sqlite: …, postgres: …)`).

/// One statement's text in each dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sql {
    /// The SQLite text (`?1`, the guard's `t_`/`o_` views).
    pub sqlite: &'static str,
    /// The PostgreSQL text (`$1`, the tables).
    pub postgres: &'static str,
}

/// A statement in both dialects, from its SQLite text: pieces as `concat!` takes them (string
/// literals and the `*_columns!()` macros).
#[macro_export]
macro_rules! sql {
    (sqlite: $sqlite:expr, postgres: $postgres:expr $(,)?) => {
        $crate::Sql {
            sqlite: $sqlite,
            postgres: $postgres,
        }
    };
    ($($part:expr),+ $(,)?) => {{
        const SQLITE: &str = concat!($($part),+);
        const LEN: usize = $crate::dialect::postgres_len(SQLITE);
        const POSTGRES: [u8; LEN] = $crate::dialect::postgres::<LEN>(SQLITE);
        // A `const` item, so the check that the text is UTF-8 runs when the crate builds.
        const POSTGRES_TEXT: &str = $crate::dialect::text(&POSTGRES);
        $crate::Sql {
            sqlite: SQLITE,
            postgres: POSTGRES_TEXT,
        }
    }};
}

/// Byte `i` of `sql`, or 0 past its end.
#[allow(
    clippy::indexing_slicing,
    reason = "guarded by the length check (and compile-time only)"
)]
const fn at(sql: &[u8], i: usize) -> u8 {
    if i < sql.len() { sql[i] } else { 0 }
}

/// Whether byte `i` of `sql` starts a name: the byte before it cannot be part of one.
const fn starts_name(sql: &[u8], i: usize) -> bool {
    if i == 0 {
        return true;
    }
    let before = at(sql, i - 1);
    !(before.is_ascii_alphanumeric() || before == b'_' || before == b'.')
}

/// Whether `sql` has a view prefix (`t_` or `o_`) at byte `i`.
const fn view_prefix(sql: &[u8], i: usize) -> bool {
    (at(sql, i) == b't' || at(sql, i) == b'o') && at(sql, i + 1) == b'_' && starts_name(sql, i)
}

/// The length of the PostgreSQL text of `sqlite`.
#[doc(hidden)]
pub const fn postgres_len(sqlite: &str) -> usize {
    let sql = sqlite.as_bytes();
    let mut len = sql.len();
    let mut i = 0;
    while i < sql.len() {
        if view_prefix(sql, i) {
            len -= 2;
        }
        i += 1;
    }
    len
}

/// The PostgreSQL text of `sqlite`, as bytes; `N` is [`postgres_len`] of it.
#[allow(
    clippy::indexing_slicing,
    reason = "compile-time only: an index out of range fails the build"
)]
#[doc(hidden)]
pub const fn postgres<const N: usize>(sqlite: &str) -> [u8; N] {
    let sql = sqlite.as_bytes();
    let mut out = [0u8; N];
    let (mut i, mut o) = (0, 0);
    while i < sql.len() {
        if view_prefix(sql, i) {
            i += 2;
            continue;
        }
        out[o] = if at(sql, i) == b'?' && at(sql, i + 1).is_ascii_digit() {
            b'$'
        } else {
            at(sql, i)
        };
        o += 1;
        i += 1;
    }
    out
}

/// `bytes` as text: the output of [`postgres`], which only drops and swaps ASCII bytes of a
/// `str`, so it is UTF-8. For [`sql!`](crate::sql) only, which calls these three functions
/// in `const` items: a failure here is a build error, never a panic at run time.
#[allow(
    clippy::panic,
    reason = "compile-time only: a statement that is not UTF-8 fails the build"
)]
#[doc(hidden)]
pub const fn text(bytes: &'static [u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => panic!("a translated statement is not UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    const GET: crate::Sql = crate::sql!(
        "SELECT a FROM t_sources AS s JOIN o_workspaces ON o_workspaces.id = s.x",
        " WHERE last_used_at = ?1 AND t_x.y = ?12"
    );

    #[test]
    fn postgres_text_drops_view_prefixes_and_numbers_placeholders() {
        assert_eq!(
            GET.postgres,
            "SELECT a FROM sources AS s JOIN workspaces ON workspaces.id = s.x WHERE last_used_at = $1 AND x.y = $12"
        );
        assert!(GET.sqlite.starts_with("SELECT a FROM t_sources"));
    }
}
