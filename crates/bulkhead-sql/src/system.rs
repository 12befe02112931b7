//! The port's [`SystemStore`](bulkhead_core::store::SystemStore), written once for both
//! adapters over [`SqlPool`] (see [`crate::tenant`] for the shape), but for the master-key
//! rotation's walk over every sealed value, which each adapter writes itself. Each call runs
//! as the one [`SystemCall`] it is: SQLite enters its system mode, PostgreSQL sets the one
//! setting that lets its policies show that call's rows and no others.

use bulkhead_core::keys::{OrgKeyRow, SigningKeyRow};
use bulkhead_core::{Error, OrgId, OrgKeyId, Organization, Result, StorageError, Timestamp};

use crate::columns::{self, Columns};
use crate::statements as st;
use crate::{Access, Mode, SqlConn, SqlPool, SystemCall};

/// Implements `SystemStore` for the adapter store `$store` by the functions of this module on
/// its pool, the field `$pool` (a [`SqlPool`]); `$reseal_all` is the adapter's own
/// `fn(&$store, check: &[u8], reseal: &mut dyn FnMut(SealedItem<'_>) -> Result<Vec<u8>>)
/// -> Result<u64>`. The store is its own job queue and scheduler.
#[macro_export]
macro_rules! system_store {
    ($store:ty, $pool:ident, $reseal_all:path) => {
        const _: () = {
            use $crate::__core::keys::{OrgKeyRow, SigningKeyRow};
            use $crate::__core::store::{SealedItem, SystemStore};
            use $crate::__core::{
                JobStore, OrgId, OrgKeyId, Organization, Result, ScheduleStore, Timestamp,
            };
            use $crate::system as body;

            impl SystemStore for $store {
                fn master_key_check(&self, candidate: &[u8]) -> Result<Vec<u8>> {
                    body::master_key_check(&self.$pool, candidate)
                }
                fn get_organization(&self, id: OrgId) -> Result<Option<Organization>> {
                    body::get_organization(&self.$pool, id)
                }
                fn list_organizations(&self) -> Result<Vec<Organization>> {
                    body::list_organizations(&self.$pool)
                }
                fn find_org_key(&self, hash: &[u8; 32]) -> Result<Option<OrgKeyRow>> {
                    body::find_org_key(&self.$pool, hash)
                }
                fn touch_org_key(&self, id: OrgKeyId, now: Timestamp) -> Result<()> {
                    body::touch_org_key(&self.$pool, id, now)
                }
                fn find_signing_key(&self, kid: &str) -> Result<Option<SigningKeyRow>> {
                    body::find_signing_key(&self.$pool, kid)
                }
                fn reseal_all(
                    &self,
                    check: &[u8],
                    reseal: &mut dyn FnMut(SealedItem<'_>) -> Result<Vec<u8>>,
                ) -> Result<u64> {
                    $reseal_all(self, check, reseal)
                }
                fn jobs(&self) -> Option<&dyn JobStore> {
                    Some(self)
                }
                fn schedules(&self) -> Option<&dyn ScheduleStore> {
                    Some(self)
                }
            }
        };
    };
}

/// See `SystemStore::master_key_check`.
pub fn master_key_check<P: SqlPool>(pool: &P, candidate: &[u8]) -> Result<Vec<u8>> {
    pool.run(Access::System(SystemCall::Meta), Mode::Write, |conn| {
        conn.execute(&st::STORE_MASTER_KEY_CHECK, &[candidate.into()])?;
        conn.query_first(&st::GET_MASTER_KEY_CHECK, &[], |r| r.bytes(0, "value"))?
            .ok_or_else(|| Error::Storage(StorageError::new("the master key check is not stored")))
    })
}

/// See `SystemStore::get_organization`.
pub fn get_organization<P: SqlPool>(pool: &P, id: OrgId) -> Result<Option<Organization>> {
    pool.run(Access::Org(id), Mode::Read, |conn| {
        conn.query_first(&st::GET_ORGANIZATION, &[id.as_uuid().into()], |r| {
            columns::organization(r)
        })
    })
}

/// See `SystemStore::list_organizations`.
pub fn list_organizations<P: SqlPool>(pool: &P) -> Result<Vec<Organization>> {
    pool.run(Access::System(SystemCall::OrgList), Mode::Read, |conn| {
        conn.query_all(&st::LIST_ORGANIZATIONS, &[], |r| columns::organization(r))
    })
}

/// See `SystemStore::find_org_key`.
pub fn find_org_key<P: SqlPool>(pool: &P, hash: &[u8; 32]) -> Result<Option<OrgKeyRow>> {
    pool.run(
        Access::System(SystemCall::KeyHash(hash)),
        Mode::Read,
        |conn| {
            conn.query_first(&st::FIND_ORG_KEY, &[hash.as_slice().into()], |r| {
                columns::org_key(r)
            })
        },
    )
}

/// See `SystemStore::touch_org_key`.
pub fn touch_org_key<P: SqlPool>(pool: &P, id: OrgKeyId, now: Timestamp) -> Result<()> {
    let call = SystemCall::KeyId(*id.as_uuid());
    pool.run(Access::System(call), Mode::Write, |conn| {
        conn.execute(
            &st::TOUCH_ORG_KEY,
            &[id.as_uuid().into(), now.unix_millis().into()],
        )?;
        Ok(())
    })
}

/// See `SystemStore::find_signing_key`.
pub fn find_signing_key<P: SqlPool>(pool: &P, kid: &str) -> Result<Option<SigningKeyRow>> {
    pool.run(Access::System(SystemCall::Kid(kid)), Mode::Read, |conn| {
        conn.query_first(&st::FIND_SIGNING_KEY, &[kid.into()], |r| {
            columns::signing_key(r)
        })
    })
}
