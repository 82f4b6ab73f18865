//! Changes other nodes must hear about at once: what each node caches in
//! memory (manifests by reference, project rules, accounts) is invalidated
//! across nodes through PostgreSQL `LISTEN`/`NOTIFY` on [`CHANNEL`].
//!
//! A node that changes something invalidates its own caches, then
//! [`MetaStore::publish`]es the [`Change`] after its transaction committed.
//! Every node (`berth serve` on PostgreSQL) reads [`MetaStore::subscribe`]'s
//! feed and forgets the named entries. Notifications are not stored: when the
//! listening connection drops, the feed says [`Feed::Lost`] and the node
//! forgets every cached entry, since it may have missed some. Each cache's own
//! time-to-live stays as the last bound (docs/deploy.md, "Staleness").
//!
//! On SQLite there is one node; [`MetaStore::publish`] does nothing and
//! [`MetaStore::subscribe`] gives no feed (another process, such as the CLI,
//! is seen within the caches' time-to-live, as before).

use sqlx::postgres::PgListener;

use crate::error::{MetaError, Result};
use crate::{Backend, DatabaseUrl, MetaStore};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "berth_changes";

/// A change that makes other nodes' cached entries stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// What `reference` (a tag or digest text) of `repository` resolves to.
    Reference {
        /// Repository name.
        repository: String,
        /// Tag or digest, as clients write it.
        reference: String,
    },
    /// The immutability or tag naming rules of a project.
    Rules {
        /// Project name.
        project: String,
    },
    /// Users, passwords, tokens, robots, projects or memberships.
    Accounts,
}

impl Change {
    /// The notification payload: tab-separated fields (names and tags never
    /// hold a tab).
    fn encode(&self) -> String {
        match self {
            Change::Reference {
                repository,
                reference,
            } => format!("ref\t{repository}\t{reference}"),
            Change::Rules { project } => format!("rules\t{project}"),
            Change::Accounts => "accounts".into(),
        }
    }

    /// Parses a payload of [`Change::encode`]; `None` for anything else (a
    /// newer node's kind of change, ignored).
    fn decode(text: &str) -> Option<Change> {
        let mut parts = text.split('\t');
        match (parts.next()?, parts.next(), parts.next(), parts.next()) {
            ("ref", Some(r), Some(t), None) => Some(Change::Reference {
                repository: r.into(),
                reference: t.into(),
            }),
            ("rules", Some(p), None, None) => Some(Change::Rules { project: p.into() }),
            ("accounts", None, None, None) => Some(Change::Accounts),
            _ => None,
        }
    }
}

/// What [`ChangeFeed::next`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    /// Another node (or this one) changed this.
    Change(Change),
    /// The listening connection dropped and was re-established: notifications
    /// may have been missed, so forget everything cached.
    Lost,
}

/// A node's subscription to [`CHANNEL`].
pub struct ChangeFeed {
    listener: PgListener,
}

impl ChangeFeed {
    /// The next change; [`Feed::Lost`] after a reconnection.
    ///
    /// Errors: [`MetaError::Database`] when the server cannot be reached
    /// again (the caller waits and calls again; the listener reconnects).
    pub async fn next(&mut self) -> Result<Feed> {
        loop {
            match self.listener.try_recv().await? {
                None => return Ok(Feed::Lost),
                Some(n) => {
                    if let Some(c) = Change::decode(n.payload()) {
                        return Ok(Feed::Change(c));
                    }
                }
            }
        }
    }
}

impl MetaStore {
    /// Tells every node about `change` (PostgreSQL `pg_notify`; nothing on
    /// SQLite). Call it after the change committed.
    ///
    /// Errors: [`MetaError::Database`].
    pub async fn publish(&self, change: &Change) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(change.encode())
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    /// Subscribes to every node's changes: `None` on SQLite.
    ///
    /// Errors: [`MetaError::Database`] when the listening connection cannot
    /// be opened.
    pub async fn subscribe(&self) -> Result<Option<ChangeFeed>> {
        let DatabaseUrl::Postgres(url) = &self.url else {
            return Ok(None);
        };
        let mut listener = PgListener::connect(url).await.map_err(MetaError::from)?;
        listener.listen(CHANNEL).await?;
        // Reconnect on the next call after a drop; try_recv then says so.
        listener.ignore_pool_close_event(false);
        Ok(Some(ChangeFeed { listener }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_through_their_payload() {
        for c in [
            Change::Reference {
                repository: "team/app".into(),
                reference: "v1".into(),
            },
            Change::Rules {
                project: "team".into(),
            },
            Change::Accounts,
        ] {
            assert_eq!(Change::decode(&c.encode()), Some(c));
        }
        assert_eq!(Change::decode("future\tthing"), None);
    }
}
