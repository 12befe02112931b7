//! Keyset pagination: [`Page`] asks for a page, [`Paged`] is one, [`Cursor`] points past it.
//!
//! A cursor is an opaque string that encodes the sort key of the last item returned, never an
//! offset, so pages stay stable while rows are added. A cursor carries only a position: the
//! query that uses it is still filtered by the caller's tenant, so a cursor from another
//! workspace can move a listing but never widen it.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::error::Error;
use crate::ids::ExternalId;
use crate::time::Timestamp;

/// The largest page a list call returns.
pub const MAX_PAGE_LIMIT: u32 = 100;

/// Which page of a list to return: at most `limit` items after `after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    limit: u32,
    after: Option<Cursor>,
}

impl Page {
    /// The first `limit` items. `limit` must be 1 to 100; the list call checks it.
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }

    /// The `limit` items after `cursor` (the [`Paged::next`] of the previous page).
    pub fn after(cursor: Cursor, limit: u32) -> Self {
        Self {
            limit,
            after: Some(cursor),
        }
    }

    /// The requested page size.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The cursor to continue from, if any.
    pub fn cursor(&self) -> Option<&Cursor> {
        self.after.as_ref()
    }

    /// The page size as a checked `usize`.
    pub(crate) fn checked_limit(&self) -> Result<usize, Error> {
        if self.limit == 0 || self.limit > MAX_PAGE_LIMIT {
            return Err(Error::invalid_input(
                "limit",
                format!("is {}; it must be 1 to {MAX_PAGE_LIMIT}", self.limit),
            ));
        }
        usize::try_from(self.limit).map_err(|_| Error::invalid_input("limit", "is too large"))
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Paged<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// Where a keyset listing stands: the sort key of the last item seen.
///
/// Storage adapters read it to continue a listing; callers only see it inside a [`Cursor`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// Listings ordered by creation time, then id.
    Created {
        /// The creation (or start) time of the last item.
        at: Timestamp,
        /// Its id.
        id: Uuid,
    },
    /// Workspaces ordered by external id.
    ExternalId(ExternalId),
    /// Audit events, in chain order.
    Sequence(u64),
}

const TAG_CREATED: u8 = 1;
const TAG_EXTERNAL_ID: u8 = 2;
const TAG_SEQUENCE: u8 = 3;
/// Longer text than any valid cursor (1 + 255 bytes, base64) is refused before decoding.
const MAX_CURSOR_CHARS: usize = 400;

/// An opaque continuation token for a list call.
#[derive(Clone, PartialEq, Eq)]
pub struct Cursor(Position);

impl Cursor {
    pub(crate) fn new(position: Position) -> Self {
        Self(position)
    }

    /// The cursor that continues a list of audit events at event `seq`: after it in chain
    /// order, before it newest first. An event's sequence number is public (each event
    /// carries it), so a caller may page the audit log by it as well as by the opaque cursor
    /// the list returns.
    pub fn after_sequence(seq: u64) -> Self {
        Self(Position::Sequence(seq))
    }

    /// The position this cursor encodes.
    pub fn position(&self) -> &Position {
        &self.0
    }

    fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(32);
        match &self.0 {
            Position::Created { at, id } => {
                bytes.push(TAG_CREATED);
                bytes.extend_from_slice(&at.unix_millis().to_be_bytes());
                bytes.extend_from_slice(id.as_bytes());
            }
            Position::ExternalId(ext) => {
                bytes.push(TAG_EXTERNAL_ID);
                bytes.extend_from_slice(ext.as_str().as_bytes());
            }
            Position::Sequence(seq) => {
                bytes.push(TAG_SEQUENCE);
                bytes.extend_from_slice(&seq.to_be_bytes());
            }
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

fn bad_cursor() -> Error {
    Error::invalid_input(
        "cursor",
        "is not a cursor returned by a list call of this version",
    )
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.len() > MAX_CURSOR_CHARS {
            return Err(bad_cursor());
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad_cursor())?;
        let (tag, rest) = bytes.split_first().ok_or_else(bad_cursor)?;
        let position = match *tag {
            TAG_CREATED => {
                let (at, id) = rest.split_first_chunk::<8>().ok_or_else(bad_cursor)?;
                let id = Uuid::from_slice(id).map_err(|_| bad_cursor())?;
                Position::Created {
                    at: Timestamp::from_unix_millis(i64::from_be_bytes(*at)),
                    id,
                }
            }
            TAG_EXTERNAL_ID => {
                let text = std::str::from_utf8(rest).map_err(|_| bad_cursor())?;
                Position::ExternalId(ExternalId::new(text).map_err(|_| bad_cursor())?)
            }
            TAG_SEQUENCE => {
                let seq: [u8; 8] = rest.try_into().map_err(|_| bad_cursor())?;
                Position::Sequence(u64::from_be_bytes(seq))
            }
            _ => return Err(bad_cursor()),
        };
        Ok(Self(position))
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({})", self.encode())
    }
}

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Cuts a storage result fetched with `limit + 1` rows into a page and its cursor.
pub(crate) fn paginate<T>(
    mut rows: Vec<T>,
    limit: usize,
    position: impl Fn(&T) -> Position,
) -> Paged<T> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|last| Cursor::new(position(last)))
    } else {
        None
    };
    Paged { items: rows, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let cursors = [
            Cursor::new(Position::Created {
                at: Timestamp::from_unix_millis(-5),
                id: Uuid::new_v4(),
            }),
            Cursor::new(Position::ExternalId(ExternalId::new("Cust-1 ü").unwrap())),
            Cursor::new(Position::Sequence(u64::MAX - 3)),
        ];
        for c in cursors {
            assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        }
    }

    #[test]
    fn garbage_cursor_is_invalid_input_naming_cursor() {
        for bad in ["", "!!!", "AQ", "Aw", &"A".repeat(1000)] {
            let err = bad.parse::<Cursor>().unwrap_err();
            assert!(
                err.to_string().starts_with("invalid cursor"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn limit_must_be_1_to_100() {
        for limit in [0, 101] {
            assert!(matches!(
                Page::first(limit).checked_limit(),
                Err(Error::InvalidInput { field, .. }) if field == "limit"
            ));
        }
        assert_eq!(Page::first(100).checked_limit().unwrap(), 100);
    }

    #[test]
    fn paginate_sets_next_only_when_more_rows_exist() {
        let pos = |n: &i64| Position::Created {
            at: Timestamp::from_unix_millis(*n),
            id: Uuid::nil(),
        };
        let page = paginate(vec![1, 2, 3], 2, pos);
        assert_eq!(page.items, vec![1, 2]);
        assert!(page.next.is_some());
        let page = paginate(vec![1, 2], 2, pos);
        assert!(page.next.is_none());
    }
}
