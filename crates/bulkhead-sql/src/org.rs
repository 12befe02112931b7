//! The port's [`OrgStore`](bulkhead_core::store::OrgStore), written once for both adapters
//! over [`SqlPool`] (see [`crate::tenant`] for the shape): each function is one method's body,
//! and [`org_store!`](crate::org_store) implements the trait for an adapter's store by calling
//! them on its pool. Every call runs inside its organization ([`Access::Org`]).

use std::time::Duration;

use bulkhead_core::keys::{OrgKeyRow, SigningKeyRow};
use bulkhead_core::{Error, OrgCtx, OrgKeyId, OrgSettings, Organization, Result, Timestamp};

use crate::audit;
use crate::columns;
use crate::statements as st;
use crate::{Access, Mode, Param, SqlConn, SqlPool};

/// Implements `OrgStore` for the adapter store `$store` by the functions of this module on its
/// pool, the field `$pool` (a [`SqlPool`]).
#[macro_export]
macro_rules! org_store {
    ($store:ty, $pool:ident) => {
        const _: () = {
            use $crate::__core::keys::{OrgKeyRow, SigningKeyRow};
            use $crate::__core::store::OrgStore;
            use $crate::__core::{OrgCtx, OrgKeyId, OrgSettings, Organization, Result, Timestamp};
            use $crate::org as body;

            impl OrgStore for $store {
                fn insert_organization(
                    &self,
                    ctx: &OrgCtx,
                    org: &Organization,
                    first_key: &OrgKeyRow,
                    signing_key: &SigningKeyRow,
                ) -> Result<()> {
                    body::insert_organization(&self.$pool, ctx, org, first_key, signing_key)
                }
                fn update_org_settings(
                    &self,
                    org: &OrgCtx,
                    settings: &OrgSettings,
                ) -> Result<Option<Organization>> {
                    body::update_org_settings(&self.$pool, org, settings)
                }
                fn insert_org_key(&self, org: &OrgCtx, row: &OrgKeyRow) -> Result<()> {
                    body::insert_org_key(&self.$pool, org, row)
                }
                fn list_org_keys(&self, org: &OrgCtx) -> Result<Vec<OrgKeyRow>> {
                    body::list_org_keys(&self.$pool, org)
                }
                fn revoke_org_key(
                    &self,
                    org: &OrgCtx,
                    id: OrgKeyId,
                    now: Timestamp,
                ) -> Result<Option<OrgKeyRow>> {
                    body::revoke_org_key(&self.$pool, org, id, now)
                }
                fn rotate_signing_key(
                    &self,
                    org: &OrgCtx,
                    new: &SigningKeyRow,
                    retire_at: Timestamp,
                    now: Timestamp,
                ) -> Result<()> {
                    body::rotate_signing_key(&self.$pool, org, new, retire_at, now)
                }
                fn retire_signing_key(
                    &self,
                    org: &OrgCtx,
                    kid: &str,
                    at: Timestamp,
                ) -> Result<bool> {
                    body::retire_signing_key(&self.$pool, org, kid, at)
                }
                fn list_signing_keys(&self, org: &OrgCtx) -> Result<Vec<SigningKeyRow>> {
                    body::list_signing_keys(&self.$pool, org)
                }
            }
        };
    };
}

/// Seconds as a database's 64-bit integer.
fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The parameters `?2` to `?8` of [`st::UPDATE_ORG_SETTINGS`] (and `?4` to `?10` of
/// [`st::INSERT_ORGANIZATION`]), in [`org_columns!`](crate::org_columns) order.
fn settings_params(s: &OrgSettings) -> [Param<'_>; 7] {
    [
        s.token_algorithm.as_str().into(),
        s.issuer.as_str().into(),
        s.audience.as_str().into(),
        secs(s.default_token_ttl).into(),
        secs(s.max_token_ttl).into(),
        i64::from(s.workspace_creation_burst).into(),
        i64::from(s.workspace_creation_rate).into(),
    ]
}

/// Stores an org key, in the caller's transaction.
pub fn insert_org_key_in<C: SqlConn>(conn: &mut C, row: &OrgKeyRow) -> Result<()> {
    conn.execute(
        &st::INSERT_ORG_KEY,
        &[
            row.id.as_uuid().into(),
            row.org_id.as_uuid().into(),
            row.prefix.as_str().into(),
            row.hash.as_slice().into(),
            row.created_at.unix_millis().into(),
            row.expires_at.map(Timestamp::unix_millis).into(),
            row.last_used_at.map(Timestamp::unix_millis).into(),
            row.revoked_at.map(Timestamp::unix_millis).into(),
            row.role.as_str().into(),
        ],
    )?;
    Ok(())
}

/// Stores a signing key, in the caller's transaction.
pub fn insert_signing_key_in<C: SqlConn>(conn: &mut C, row: &SigningKeyRow) -> Result<()> {
    conn.execute(
        &st::INSERT_SIGNING_KEY,
        &[
            row.kid.as_str().into(),
            row.org_id.as_uuid().into(),
            row.algorithm.as_str().into(),
            row.sealed_secret.as_slice().into(),
            row.public_key.as_deref().into(),
            row.created_at.unix_millis().into(),
            row.retire_at.map(Timestamp::unix_millis).into(),
        ],
    )?;
    Ok(())
}

/// See `OrgStore::insert_organization`.
pub fn insert_organization<P: SqlPool>(
    pool: &P,
    ctx: &OrgCtx,
    org: &Organization,
    first_key: &OrgKeyRow,
    signing_key: &SigningKeyRow,
) -> Result<()> {
    pool.run(Access::Org(org.id), Mode::Write, |conn| {
        let [a, b, c, d, e, f, g] = settings_params(&org.settings);
        conn.execute(
            &st::INSERT_ORGANIZATION,
            &[
                org.id.as_uuid().into(),
                org.name.as_str().into(),
                org.created_at.unix_millis().into(),
                a,
                b,
                c,
                d,
                e,
                f,
                g,
            ],
        )?;
        insert_org_key_in(conn, first_key)?;
        insert_signing_key_in(conn, signing_key)?;
        audit::append_if(conn, org.id, ctx.audit())
    })
}

/// See `OrgStore::update_org_settings`.
pub fn update_org_settings<P: SqlPool>(
    pool: &P,
    org: &OrgCtx,
    settings: &OrgSettings,
) -> Result<Option<Organization>> {
    pool.run(Access::Org(org.org_id()), Mode::Write, |conn| {
        let [a, b, c, d, e, f, g] = settings_params(settings);
        let updated = conn.query_first(
            &st::UPDATE_ORG_SETTINGS,
            &[org.org_id().as_uuid().into(), a, b, c, d, e, f, g],
            |r| columns::organization(r),
        )?;
        if updated.is_some() {
            audit::append_if(conn, org.org_id(), org.audit())?;
        }
        Ok(updated)
    })
}

/// See `OrgStore::insert_org_key`.
pub fn insert_org_key<P: SqlPool>(pool: &P, org: &OrgCtx, row: &OrgKeyRow) -> Result<()> {
    if row.org_id != org.org_id() {
        return Err(Error::conflict(
            "an org key must belong to the calling organization",
        ));
    }
    pool.run(Access::Org(org.org_id()), Mode::Write, |conn| {
        insert_org_key_in(conn, row)?;
        audit::append_if(conn, org.org_id(), org.audit())
    })
}

/// See `OrgStore::list_org_keys`.
pub fn list_org_keys<P: SqlPool>(pool: &P, org: &OrgCtx) -> Result<Vec<OrgKeyRow>> {
    pool.run(Access::Org(org.org_id()), Mode::Read, |conn| {
        conn.query_all(&st::LIST_ORG_KEYS, &[org.org_id().as_uuid().into()], |r| {
            columns::org_key(r)
        })
    })
}

/// See `OrgStore::revoke_org_key`.
pub fn revoke_org_key<P: SqlPool>(
    pool: &P,
    org: &OrgCtx,
    id: OrgKeyId,
    now: Timestamp,
) -> Result<Option<OrgKeyRow>> {
    pool.run(Access::Org(org.org_id()), Mode::Write, |conn| {
        let revoked = conn.query_first(
            &st::REVOKE_ORG_KEY,
            &[
                org.org_id().as_uuid().into(),
                id.as_uuid().into(),
                now.unix_millis().into(),
            ],
            |r| columns::org_key(r),
        )?;
        if revoked.is_some() {
            audit::append_if(conn, org.org_id(), org.audit())?;
        }
        Ok(revoked)
    })
}

/// See `OrgStore::rotate_signing_key`.
pub fn rotate_signing_key<P: SqlPool>(
    pool: &P,
    org: &OrgCtx,
    new: &SigningKeyRow,
    retire_at: Timestamp,
    now: Timestamp,
) -> Result<()> {
    if new.org_id != org.org_id() {
        return Err(Error::conflict(
            "a signing key must belong to the calling organization",
        ));
    }
    let org_id = org.org_id();
    pool.run(Access::Org(org_id), Mode::Write, |conn| {
        conn.execute(
            &st::RETIRE_SIGNER,
            &[org_id.as_uuid().into(), retire_at.unix_millis().into()],
        )?;
        conn.execute(
            &st::DELETE_RETIRED_SIGNING_KEYS,
            &[org_id.as_uuid().into(), now.unix_millis().into()],
        )?;
        insert_signing_key_in(conn, new)?;
        audit::append_if(conn, org_id, org.audit())
    })
}

/// See `OrgStore::retire_signing_key`.
pub fn retire_signing_key<P: SqlPool>(
    pool: &P,
    org: &OrgCtx,
    kid: &str,
    at: Timestamp,
) -> Result<bool> {
    let org_id = org.org_id();
    pool.run(Access::Org(org_id), Mode::Write, |conn| {
        let changed = conn.execute(
            &st::RETIRE_SIGNING_KEY,
            &[org_id.as_uuid().into(), kid.into(), at.unix_millis().into()],
        )?;
        if changed == 0 {
            return Ok(false);
        }
        audit::append_if(conn, org_id, org.audit())?;
        Ok(true)
    })
}

/// See `OrgStore::list_signing_keys`.
pub fn list_signing_keys<P: SqlPool>(pool: &P, org: &OrgCtx) -> Result<Vec<SigningKeyRow>> {
    pool.run(Access::Org(org.org_id()), Mode::Read, |conn| {
        conn.query_all(
            &st::LIST_SIGNING_KEYS,
            &[org.org_id().as_uuid().into()],
            |r| columns::signing_key(r),
        )
    })
}
