//! Bearer tokens: issued by the operator for a user (or for the operator), shown once, kept
//! only as a SHA-256 on the log (`TokenIssued`), refused once expired or revoked.
//!
//! A token reads `ferry_<id>_<secret>`: the id finds the record, the secret (256 random bits)
//! is what the hash proves; the comparison runs in constant time.

use chrono::Duration;
use ferry_schemas::directory::Name;
use ferry_schemas::{Digest, TokenId};

use super::directory::{operator, principal_label};
use super::views::{IssuedToken, TokenView};
use super::{Caller, Error, Ferry, Kind, Qualified, Result};
use crate::directory::{self, Command, State, Token};

const PREFIX: &str = "ferry_";

impl Ferry {
    /// `token create <t>/<u> | --operator` (operator): a new token for `user` (none: the
    /// operator), valid for `lifetime` (none: until revoked).
    pub fn create_token(
        &self,
        caller: &Caller,
        user: Option<&Qualified>,
        lifetime: Option<Duration>,
    ) -> Result<IssuedToken> {
        operator(caller, "issue tokens")?;
        if lifetime.is_some_and(|l| l <= Duration::zero()) {
            return Err(Error::invalid(
                "bad-expiry",
                "a token's lifetime must be positive",
            ));
        }
        let id = TokenId::new();
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| Error::internal(format!("no randomness for a token: {e}")))?;
        let token = format!("{PREFIX}{}_{}", id.as_uuid().simple(), hex::encode(secret));
        let issued_at = self.now();
        let expires_at = lifetime
            .map(|l| {
                issued_at
                    .checked_add_signed(l)
                    .ok_or_else(|| Error::invalid("bad-expiry", "the token's lifetime is too long"))
            })
            .transpose()?;
        directory::execute(
            self.data_dir().log(),
            Command::IssueToken {
                id,
                user: user.map(|u| (u.tenant.clone(), u.name.clone())),
                hash: Digest::of(token.as_bytes()),
                issued_at,
                expires_at,
            },
        )?;
        let view = self.directory(|state| {
            state.token(id).map(|t| view(state, t)).ok_or_else(|| {
                Error::internal(format!(
                    "token {id} was recorded but is not in the directory"
                ))
            })
        })??;
        Ok(IssuedToken { token, view })
    }

    /// `token list [<tenant>]` (operator): every token, or one tenant's users'.
    pub fn tokens(&self, caller: &Caller, tenant: Option<&Name>) -> Result<Vec<TokenView>> {
        operator(caller, "list tokens")?;
        self.directory(|state| {
            let tenant = match tenant {
                None => None,
                Some(name) => Some(state.tenant(name).map(|t| t.id).ok_or_else(|| {
                    Error::not_found("no-such-tenant", format!("no tenant named {name}"))
                })?),
            };
            Ok(state
                .tokens()
                .filter(|t| {
                    tenant.is_none_or(|tenant| {
                        t.principal
                            .and_then(|p| state.principal_by_id(p))
                            .is_some_and(|p| p.tenant == tenant)
                    })
                })
                .map(|t| view(state, t))
                .collect())
        })?
    }

    /// `token revoke <id>` (operator).
    pub fn revoke_token(&self, caller: &Caller, id: TokenId) -> Result<TokenView> {
        operator(caller, "revoke tokens")?;
        directory::execute(
            self.data_dir().log(),
            Command::RevokeToken {
                id,
                revoked_at: self.now(),
            },
        )?;
        self.directory(|state| {
            state
                .token(id)
                .map(|t| view(state, t))
                .ok_or_else(|| Error::internal(format!("token {id} vanished")))
        })?
    }

    /// The caller a bearer token proves, or why it proves nothing.
    pub fn authenticate(&self, bearer: &str) -> Result<Caller> {
        let refused = |why: &str| Error::new(Kind::Unauthenticated, "bad-token", why.to_owned());
        let id = parse(bearer).ok_or_else(|| refused("the token is malformed"))?;
        let now = self.now();
        self.directory(|state| {
            let token = state
                .token(id)
                .filter(|t| constant_time_eq(&t.hash, &Digest::of(bearer.as_bytes())))
                .ok_or_else(|| refused("the token is not known"))?;
            if token.revoked_at.is_some() {
                return Err(refused("the token was revoked"));
            }
            if token.expires_at.is_some_and(|at| at <= now) {
                return Err(refused("the token has expired"));
            }
            match token.principal {
                None => Ok(Caller::Operator),
                Some(principal) if state.principal_by_id(principal).is_some() => {
                    Ok(Caller::User(principal))
                }
                Some(_) => Err(refused("the token's user no longer exists")),
            }
        })?
    }
}

/// The id inside a well-formed token.
fn parse(bearer: &str) -> Option<TokenId> {
    let (id, secret) = bearer.strip_prefix(PREFIX)?.split_once('_')?;
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    id.parse().ok()
}

fn constant_time_eq(a: &Digest, b: &Digest) -> bool {
    a.as_bytes()
        .iter()
        .zip(b.as_bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn view(state: &State, token: &Token) -> TokenView {
    TokenView {
        id: token.id,
        principal: principal_label(state, token.principal),
        issued_at: token.issued_at,
        expires_at: token.expires_at,
        revoked_at: token.revoked_at,
    }
}
