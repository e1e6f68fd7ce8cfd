//! Group commit of opaque access tokens on SQLite. SQLite has one writer, and each commit costs
//! a WAL append; a task collects the inserts that arrive together and commits them in one
//! transaction. Every caller is answered only after the commit that holds its token, so nothing
//! acknowledged is lost.

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};
use wissel_core::InternalError;
use wissel_core::model::{AccessToken, Digest};
use wissel_core::ports::StoreResult;

use crate::sql;

/// Most tokens committed together.
const MAX_BATCH: usize = 128;

type Pending = (Digest, AccessToken, oneshot::Sender<StoreResult<()>>);

/// The handle of the writer task; the task ends when the last handle is dropped.
pub(crate) struct TokenWriter {
    tx: mpsc::Sender<Pending>,
}

impl TokenWriter {
    pub(crate) fn spawn(pool: SqlitePool) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, rx));
        Self { tx }
    }

    pub(crate) async fn insert(&self, digest: Digest, token: AccessToken) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((digest, token, reply))
            .await
            .map_err(|_| InternalError::new("the token writer has stopped"))?;
        answer
            .await
            .map_err(|_| InternalError::new("the token writer dropped a request"))?
    }
}

async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Pending>) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let items: Vec<(Digest, AccessToken)> =
            batch.iter().map(|(d, t, _)| (*d, t.clone())).collect();
        match sql::sqlite::insert_access_tokens(&pool, &items).await {
            Ok(()) => {
                for (_, _, reply) in batch.drain(..) {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(_) => {
                // One bad row must not fail its neighbours: retry each on its own.
                for (d, t, reply) in batch.drain(..) {
                    let _ = reply.send(sql::sqlite::insert_access_token(&pool, &d, &t).await);
                }
            }
        }
    }
}
