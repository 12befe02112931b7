//! Template tags and a workspace's tag selection.
//!
//! A workspace keeps one [`TagSelection`] for source templates and one for connection
//! templates. Mode `any` (the default) matches a template that carries at least one selected
//! tag; `all` matches a template that carries every selected tag; an empty selection does not
//! filter.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Error;

/// A template tag: 1 to 255 characters, no control characters, no surrounding whitespace.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Tag(String);

impl Tag {
    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        crate::model::names::Name::parse_field("tag", s).map(|n| Self(n.as_str().to_owned()))
    }
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// How selected tags match a template's tags.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TagMode {
    /// At least one selected tag is on the template.
    #[default]
    Any,
    /// Every selected tag is on the template.
    All,
}

impl TagMode {
    /// `any` or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::All => "all",
        }
    }
}

impl FromStr for TagMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "any" => Ok(Self::Any),
            "all" => Ok(Self::All),
            other => Err(Error::invalid_input(
                "tags_mode",
                format!("is `{other}`; use `any` or `all`"),
            )),
        }
    }
}

impl fmt::Display for TagMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Selected tags and how they match.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize)]
pub struct TagSelection {
    /// The selected tags; empty means no filter.
    pub tags: BTreeSet<Tag>,
    /// How they match.
    pub mode: TagMode,
}

impl TagSelection {
    /// A selection of `tags` matched with `mode`.
    pub fn new(tags: impl IntoIterator<Item = Tag>, mode: TagMode) -> Self {
        Self {
            tags: tags.into_iter().collect(),
            mode,
        }
    }

    /// Parses tag names (for example from a comma-separated option) into a selection.
    pub fn parse<'a>(
        names: impl IntoIterator<Item = &'a str>,
        mode: TagMode,
    ) -> Result<Self, Error> {
        Ok(Self::new(
            names
                .into_iter()
                .map(str::parse)
                .collect::<Result<Vec<Tag>, Error>>()?,
            mode,
        ))
    }

    /// Whether a template carrying `template_tags` matches this selection.
    pub fn matches(&self, template_tags: &BTreeSet<Tag>) -> bool {
        if self.tags.is_empty() {
            return true;
        }
        match self.mode {
            TagMode::Any => self.tags.iter().any(|t| template_tags.contains(t)),
            TagMode::All => self.tags.is_subset(template_tags),
        }
    }

    /// The tags as a JSON array, the stored form.
    pub fn tags_json(&self) -> String {
        serde_json::to_string(&self.tags).unwrap_or_else(|_| "[]".to_owned())
    }

    /// Reads the stored form back.
    pub fn from_stored(tags_json: &str, mode: &str) -> Result<Self, Error> {
        let tags: BTreeSet<Tag> = serde_json::from_str(tags_json)
            .map_err(|e| Error::invalid_input("tags", format!("is not a list of tags: {e}")))?;
        Ok(Self {
            tags,
            mode: mode.parse()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<Tag> {
        names.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn empty_selection_matches_everything() {
        assert!(TagSelection::default().matches(&set(&[])));
        assert!(TagSelection::default().matches(&set(&["x"])));
    }

    #[test]
    fn any_needs_one_shared_tag_and_all_needs_every_tag() {
        let any = TagSelection::parse(["premium", "enterprise"], TagMode::Any).unwrap();
        let all = TagSelection::parse(["premium", "enterprise"], TagMode::All).unwrap();
        assert!(any.matches(&set(&["premium"])));
        assert!(!all.matches(&set(&["premium"])));
        assert!(all.matches(&set(&["premium", "enterprise", "x"])));
        assert!(!any.matches(&set(&["production"])));
    }

    #[test]
    fn stored_form_round_trips() {
        let sel = TagSelection::parse(["b", "a"], TagMode::All).unwrap();
        let back = TagSelection::from_stored(&sel.tags_json(), sel.mode.as_str()).unwrap();
        assert_eq!(back, sel);
    }
}
