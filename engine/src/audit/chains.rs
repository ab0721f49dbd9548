//! Per-tenant hash chains, derived from the log: each tenant's records, in log order, chained
//! as `head = SHA-256(previous head ‖ record hash)` from 32 zero bytes. A tenant's chain lets
//! an auditor check that tenant's records — none missing, none added, none reordered or
//! edited — without seeing any other tenant's.

use std::collections::BTreeMap;

use ferry_schemas::{Digest, Head, TenantId};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::merkle;

/// A tenant's chain at some point of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// How many of the tenant's records it covers.
    pub count: u64,
    /// The chain's hash after the last of them.
    pub head: Digest,
}

impl ChainHead {
    /// The empty chain.
    pub const EMPTY: ChainHead = ChainHead {
        count: 0,
        head: Digest::ZERO,
    };

    /// The chain extended by one record hash.
    pub fn extend(self, record: &Digest) -> ChainHead {
        let mut hasher = Sha256::new();
        hasher.update(self.head.as_bytes());
        hasher.update(record.as_bytes());
        ChainHead {
            count: self.count + 1,
            head: Digest(hasher.finalize().into()),
        }
    }

    /// The Merkle leaf committing to `tenant`'s chain head.
    pub fn leaf(&self, tenant: TenantId) -> Digest {
        let mut content = Vec::with_capacity(16 + 8 + 32);
        content.extend_from_slice(tenant.as_uuid().as_bytes());
        content.extend_from_slice(&self.count.to_be_bytes());
        content.extend_from_slice(self.head.as_bytes());
        merkle::leaf(&content)
    }
}

/// Every tenant's chain head, as of the last record folded in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chains {
    heads: BTreeMap<TenantId, ChainHead>,
}

impl Chains {
    /// Folds one record in (records without a tenant belong to no tenant chain; the global
    /// chain covers them).
    pub fn apply(&mut self, record: &Head) {
        if let Some(tenant) = record.tenant {
            let head = self.heads.entry(tenant).or_insert(ChainHead::EMPTY);
            *head = head.extend(&record.hash);
        }
    }

    /// The tenants with records, in id order, and their heads.
    pub fn heads(&self) -> &BTreeMap<TenantId, ChainHead> {
        &self.heads
    }

    fn leaves(&self) -> Vec<Digest> {
        self.heads.iter().map(|(t, h)| h.leaf(*t)).collect()
    }

    /// The Merkle root over every tenant's head.
    pub fn root(&self) -> Digest {
        merkle::root(&self.leaves())
    }

    /// `tenant`'s head and its inclusion proof under [`Chains::root`], if it has records.
    pub fn prove(&self, tenant: TenantId) -> Option<(ChainHead, Vec<merkle::Step>)> {
        let index = self.heads.keys().position(|t| *t == tenant)?;
        Some((self.heads[&tenant], merkle::proof(&self.leaves(), index)))
    }
}
