//! Secret fields of connector configurations, sealed at rest.
//!
//! A configuration is stored in two parts: the configuration itself with every secret field
//! replaced by [`SECRET_MASK`], and a [`SealedSecrets`] map from each secret field's JSON
//! pointer to its value, sealed (AES-256-GCM). So an ordinary read returns the masked
//! configuration as stored, without any decryption, and only an explicit reveal opens the
//! sealed values.
//!
//! Workspace secrets are sealed with the workspace's data key, bound (associated data) to the
//! workspace, the object and the JSON pointer, so a sealed value copied to another row, field
//! or workspace does not open. Template secrets (organization level) are sealed with the
//! master key, bound to the organization, the template and the pointer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::ids::{OrgId, WorkspaceId};
use crate::model::spec::SECRET_MASK;

/// Secret values of one configuration, sealed, by JSON pointer, each with where it came from:
/// the customer, or the organization (a template's sealed default the customer did not
/// replace, see [`SealedSecrets::organization_pointers`]). `Debug` shows the pointers only.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SealedSecrets {
    sealed: BTreeMap<String, Vec<u8>>,
    /// The pointers whose value the organization supplied through a template.
    organization: BTreeSet<String>,
}

impl SealedSecrets {
    /// The stored form: a JSON object from pointer to base64url sealed bytes; a value the
    /// organization supplied is an object `{"org": "<base64url>"}` instead.
    pub fn to_stored(&self) -> String {
        let map: Map<String, Value> = self
            .sealed
            .iter()
            .map(|(p, v)| {
                let text = Value::String(URL_SAFE_NO_PAD.encode(v));
                let value = if self.organization.contains(p) {
                    let mut org = Map::new();
                    org.insert("org".to_owned(), text);
                    Value::Object(org)
                } else {
                    text
                };
                (p.clone(), value)
            })
            .collect();
        Value::Object(map).to_string()
    }

    /// Reads the stored form back.
    pub fn from_stored(text: &str) -> Result<Self> {
        let bad = || Error::crypto("stored sealed secrets are malformed");
        let map: Map<String, Value> = serde_json::from_str(text).map_err(|_| bad())?;
        let mut out = Self::default();
        for (p, v) in map {
            let text = match &v {
                Value::String(text) => text,
                Value::Object(org) if org.len() == 1 => {
                    out.organization.insert(p.clone());
                    org.get("org").and_then(Value::as_str).ok_or_else(bad)?
                }
                _ => return Err(bad()),
            };
            out.sealed
                .insert(p, URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?);
        }
        Ok(out)
    }

    /// The pointers of the sealed fields.
    pub fn pointers(&self) -> impl Iterator<Item = &str> {
        self.sealed.keys().map(String::as_str)
    }

    /// The pointers of the sealed fields whose value the organization supplied through a
    /// template (its sealed default, which the customer did not replace). A customer may not
    /// send such a secret anywhere else (see `WorkspaceScope::update_source`).
    pub fn organization_pointers(&self) -> impl Iterator<Item = &str> {
        self.organization.iter().map(String::as_str)
    }

    /// Marks the sealed field at `pointer` as supplied by the organization (nothing if no
    /// field is sealed there).
    pub(crate) fn mark_organization(&mut self, pointer: &str) {
        if self.sealed.contains_key(pointer) {
            self.organization.insert(pointer.to_owned());
        }
    }

    /// Whether no field is sealed.
    pub fn is_empty(&self) -> bool {
        self.sealed.is_empty()
    }

    /// Every sealed value run through `f` (re-sealing under another key, say); where each
    /// came from stays.
    pub(crate) fn map_sealed(
        &self,
        mut f: impl FnMut(&str, &[u8]) -> Result<Vec<u8>>,
    ) -> Result<Self> {
        Ok(Self {
            sealed: self
                .sealed
                .iter()
                .map(|(p, v)| Ok((p.clone(), f(p, v)?)))
                .collect::<Result<BTreeMap<_, _>>>()?,
            organization: self.organization.clone(),
        })
    }
}

impl fmt::Debug for SealedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.sealed.keys()).finish()
    }
}

/// Associated data of a workspace secret: workspace, object, pointer.
pub(crate) fn workspace_secret_aad(workspace: WorkspaceId, object: Uuid, pointer: &str) -> Vec<u8> {
    let mut aad = b"bulkhead/secret/v1/".to_vec();
    aad.extend_from_slice(workspace.as_uuid().as_bytes());
    aad.extend_from_slice(object.as_bytes());
    aad.extend_from_slice(pointer.as_bytes());
    aad
}

/// Associated data of a template secret: organization, template, pointer.
pub(crate) fn template_secret_aad(org: OrgId, template: Uuid, pointer: &str) -> Vec<u8> {
    let mut aad = b"bulkhead/template-secret/v1/".to_vec();
    aad.extend_from_slice(org.as_uuid().as_bytes());
    aad.extend_from_slice(template.as_bytes());
    aad.extend_from_slice(pointer.as_bytes());
    aad
}

/// Associated data of a workspace's sealed data key: organization and workspace.
pub(crate) fn data_key_aad(org: OrgId, workspace: WorkspaceId) -> Vec<u8> {
    let mut aad = b"bulkhead/data-key/v1/".to_vec();
    aad.extend_from_slice(org.as_uuid().as_bytes());
    aad.extend_from_slice(workspace.as_uuid().as_bytes());
    aad
}

/// Replaces the secret fields (`pointers`) of `config` by the mask and returns them sealed.
///
/// A field that already holds the mask keeps the value sealed in `current` (a client sending
/// back what it read), and its origin; the mask with nothing stored behind it is refused, so
/// the mask itself is never stored as a secret. Every new value is the caller's; mark the
/// organization's with [`SealedSecrets::mark_organization`].
pub(crate) fn seal_fields(
    config: &mut Map<String, Value>,
    pointers: &[String],
    current: Option<&SealedSecrets>,
    mut seal: impl FnMut(&str, &[u8]) -> Result<Vec<u8>>,
) -> Result<SealedSecrets> {
    let mut root = Value::Object(std::mem::take(config));
    let mut sealed = BTreeMap::new();
    let mut organization = BTreeSet::new();
    let result = (|| {
        for pointer in pointers {
            let Some(value) = root.pointer_mut(pointer) else {
                continue;
            };
            if value.as_str() == Some(SECRET_MASK) {
                let (current, kept) = current
                    .and_then(|c| Some((c, c.sealed.get(pointer)?)))
                    .ok_or_else(|| {
                        Error::invalid_input(
                            format!("config at `{pointer}`"),
                            "is the secret mask, but no secret is stored here; send the secret itself",
                        )
                    })?;
                // A kept value keeps its origin.
                if current.organization.contains(pointer) {
                    organization.insert(pointer.clone());
                }
                sealed.insert(pointer.clone(), kept.clone());
            } else {
                let plain = serde_json::to_vec(value)
                    .map_err(|e| Error::crypto(format!("could not encode a secret: {e}")))?;
                sealed.insert(pointer.clone(), seal(pointer, &plain)?);
                *value = Value::String(SECRET_MASK.to_owned());
            }
        }
        Ok(())
    })();
    if let Value::Object(map) = root {
        *config = map;
    }
    result.map(|()| SealedSecrets {
        sealed,
        organization,
    })
}

/// `config` with every sealed field that still holds the mask opened in its place. (A field
/// holding anything else is a new value, which stays.)
pub(crate) fn reveal_fields<B: AsRef<[u8]>>(
    config: &Map<String, Value>,
    secrets: &SealedSecrets,
    mut open: impl FnMut(&str, &[u8]) -> Result<B>,
) -> Result<Map<String, Value>> {
    let mut root = Value::Object(config.clone());
    for (pointer, sealed) in &secrets.sealed {
        if root.pointer(pointer).and_then(Value::as_str) != Some(SECRET_MASK) {
            continue;
        }
        let plain = open(pointer, sealed)?;
        let value: Value = serde_json::from_slice(plain.as_ref())
            .map_err(|_| Error::crypto("a sealed secret is not JSON"))?;
        if let Some(slot) = root.pointer_mut(pointer)
            && slot.as_str() == Some(SECRET_MASK)
        {
            *slot = value;
        }
    }
    match root {
        Value::Object(map) => Ok(map),
        _ => Ok(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::vault::DataKey;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn secrets_are_masked_sealed_and_revealed() {
        let (key, _) = DataKey::generate().unwrap();
        let mut config =
            map(serde_json::json!({"account": "acct_1", "creds": {"api_key": "sk_live_1"}}));
        let pointers = vec!["/creds/api_key".to_owned(), "/absent".to_owned()];
        let sealed = seal_fields(&mut config, &pointers, None, |p, v| {
            key.seal(v, p.as_bytes())
        })
        .unwrap();
        assert_eq!(config["creds"]["api_key"], SECRET_MASK);
        assert_eq!(config["account"], "acct_1");
        assert_eq!(
            sealed.pointers().collect::<Vec<_>>(),
            vec!["/creds/api_key"]
        );
        assert!(!sealed.to_stored().contains("sk_live_1"));
        let revealed = reveal_fields(&config, &sealed, |p, v| key.open(v, p.as_bytes())).unwrap();
        assert_eq!(revealed["creds"]["api_key"], "sk_live_1");
    }

    #[test]
    fn mask_sent_back_keeps_the_stored_secret_and_mask_alone_is_refused() {
        let (key, _) = DataKey::generate().unwrap();
        let pointers = vec!["/api_key".to_owned()];
        let mut first = map(serde_json::json!({"api_key": "sk_live_1"}));
        let stored = seal_fields(&mut first, &pointers, None, |p, v| {
            key.seal(v, p.as_bytes())
        })
        .unwrap();
        let mut again = map(serde_json::json!({"api_key": SECRET_MASK}));
        let kept =
            seal_fields(&mut again, &pointers, Some(&stored), |_, _| unreachable!()).unwrap();
        assert_eq!(kept, stored);
        let mut fresh = map(serde_json::json!({"api_key": SECRET_MASK}));
        let err = seal_fields(&mut fresh, &pointers, None, |p, v| {
            key.seal(v, p.as_bytes())
        })
        .unwrap_err();
        assert!(err.to_string().contains("`/api_key`"), "{err}");
    }

    #[test]
    fn stored_form_round_trips_and_debug_hides_values() {
        let (key, _) = DataKey::generate().unwrap();
        let mut config = map(serde_json::json!({"api_key": "sk_live_1"}));
        let sealed = seal_fields(&mut config, &["/api_key".to_owned()], None, |p, v| {
            key.seal(v, p.as_bytes())
        })
        .unwrap();
        assert_eq!(
            SealedSecrets::from_stored(&sealed.to_stored()).unwrap(),
            sealed
        );
        assert_eq!(format!("{sealed:?}"), r#"{"/api_key"}"#);
    }

    #[test]
    fn organization_origin_is_stored_kept_with_the_mask_and_lost_on_replacement() {
        let (key, _) = DataKey::generate().unwrap();
        let pointers = vec!["/a".to_owned(), "/b".to_owned()];
        let mut config = map(serde_json::json!({"a": "org-secret", "b": "own"}));
        let mut sealed = seal_fields(&mut config, &pointers, None, |p, v| {
            key.seal(v, p.as_bytes())
        })
        .unwrap();
        sealed.mark_organization("/a");
        sealed.mark_organization("/absent");
        let stored = sealed.to_stored();
        assert!(stored.contains(r#""/a":{"org":"#), "{stored}");
        let back = SealedSecrets::from_stored(&stored).unwrap();
        assert_eq!(back, sealed);
        assert_eq!(back.organization_pointers().collect::<Vec<_>>(), ["/a"]);
        // Sent back masked: kept, still the organization's.
        let mut again = map(serde_json::json!({"a": SECRET_MASK, "b": SECRET_MASK}));
        let kept = seal_fields(&mut again, &pointers, Some(&back), |_, _| unreachable!()).unwrap();
        assert_eq!(kept.organization_pointers().collect::<Vec<_>>(), ["/a"]);
        // Replaced: the customer's own.
        let mut replaced = map(serde_json::json!({"a": "mine", "b": SECRET_MASK}));
        let mine = seal_fields(&mut replaced, &pointers, Some(&back), |p, v| {
            key.seal(v, p.as_bytes())
        })
        .unwrap();
        assert_eq!(mine.organization_pointers().count(), 0);
        // The form written before origins were stored still reads, as the customer's.
        let old = format!(r#"{{"/a":"{}"}}"#, URL_SAFE_NO_PAD.encode(b"x"));
        assert_eq!(
            SealedSecrets::from_stored(&old)
                .unwrap()
                .organization_pointers()
                .count(),
            0
        );
        assert!(SealedSecrets::from_stored(r#"{"/a":{"own":"eA"}}"#).is_err());
        assert!(SealedSecrets::from_stored(r#"{"/a":7}"#).is_err());
    }

    #[test]
    fn aad_binds_workspace_object_and_pointer() {
        let ws = WorkspaceId::random();
        let obj = Uuid::new_v4();
        let a = workspace_secret_aad(ws, obj, "/a");
        assert_ne!(a, workspace_secret_aad(WorkspaceId::random(), obj, "/a"));
        assert_ne!(a, workspace_secret_aad(ws, Uuid::new_v4(), "/a"));
        assert_ne!(a, workspace_secret_aad(ws, obj, "/b"));
    }
}
