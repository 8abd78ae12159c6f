//! The single writer: every write of the SQLite backend runs here, group-committed.
//!
//! SQLite allows one writer at a time, and a durable commit (`synchronous = FULL`) costs an
//! fsync. Rather than have many connections queue on the write lock and fsync one by one, one
//! task owns the write connection and drains a queue: each batch runs in one transaction, every
//! operation that writes more than once inside its own savepoint (a failing operation rolls back
//! alone; a single statement SQLite rolls back by itself), then one commit makes the whole batch
//! durable. Callers get their result only after that commit, so an
//! answer never gets ahead of the disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use sqlx::{Connection, SqliteConnection};
use store::{DbError, DbResult};
use tokio::sync::{mpsc, oneshot};

/// How many operations one transaction takes at most.
const MAX_BATCH: usize = 512;

type Deliver = Box<dyn FnOnce(Option<DbError>) + Send>;

/// One queued write: run it in the batch, or fail it without running.
trait Operation: Send {
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, (bool, Deliver)>;
    fn fail(self: Box<Self>, error: DbError);
    /// Does a failure need rolling back beyond SQLite's own statement rollback?
    fn needs_savepoint(&self) -> bool;
}

struct TypedOperation<R, F> {
    op: F,
    reply: oneshot::Sender<DbResult<R>>,
    savepoint: bool,
}

impl<R, F> Operation for TypedOperation<R, F>
where
    R: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, DbResult<R>> + Send + 'static,
{
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, (bool, Deliver)> {
        let Self { op, reply, .. } = *self;
        Box::pin(async move {
            let result = op(conn).await;
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |commit_error| {
                let answer = match commit_error {
                    None => result,
                    Some(e) => Err(e),
                };
                send_reply(reply, answer);
            });
            (ok, deliver)
        })
    }

    fn fail(self: Box<Self>, error: DbError) {
        send_reply(self.reply, Err(error));
    }

    fn needs_savepoint(&self) -> bool {
        self.savepoint
    }
}

fn send_reply<R>(reply: oneshot::Sender<DbResult<R>>, answer: DbResult<R>) {
    // The caller may have gone away (a dropped request); nothing is lost: the write stands.
    if reply.send(answer).is_err() {
        tracing::debug!("write result had no receiver");
    }
}

/// The last link `(seq, hash)` of each audit chain, as this writer last wrote it: appending
/// then needs no read of the chain's end. Only the writer appends, so the cache is right as long
/// as what it wrote is kept; the writer clears it whenever an operation or a batch is rolled back.
#[derive(Debug, Default)]
pub struct ChainLinks(Mutex<HashMap<String, (i64, Vec<u8>)>>);

impl ChainLinks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, Vec<u8>)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, chain: &str) -> Option<(i64, Vec<u8>)> {
        self.lock().get(chain).cloned()
    }

    pub fn set(&self, chain: String, link: (i64, Vec<u8>)) {
        self.lock().insert(chain, link);
    }

    fn clear(&self) {
        self.lock().clear();
    }
}

/// A handle to the writer task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Operation>>,
    links: Arc<ChainLinks>,
}

impl Writer {
    /// Starts the writer task on `conn`.
    pub fn spawn(conn: SqliteConnection) -> Writer {
        let (queue, rx) = mpsc::channel::<Box<dyn Operation>>(8192);
        let links = Arc::new(ChainLinks::default());
        tokio::spawn(run(conn, rx, links.clone()));
        Writer { queue, links }
    }

    /// The audit chains' last links, for operations that append to the audit log.
    pub fn links(&self) -> Arc<ChainLinks> {
        self.links.clone()
    }

    /// Runs `op` inside the next batch and returns its result once the batch is committed.
    /// An `Err` from `op` rolls back `op`'s own writes only (it runs inside a savepoint).
    pub async fn write<R, F>(&self, op: F) -> DbResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, DbResult<R>> + Send + 'static,
    {
        self.enqueue(op, true).await
    }

    /// Like [`write`](Self::write) for an operation that makes at most one writing statement
    /// (any number of reads). SQLite undoes a failed statement by itself, so no savepoint is
    /// needed: two round trips fewer on the busiest path.
    pub async fn write_one<R, F>(&self, op: F) -> DbResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, DbResult<R>> + Send + 'static,
    {
        self.enqueue(op, false).await
    }

    /// [`write`](Self::write) when `several_writes`, else [`write_one`](Self::write_one): for an
    /// operation that writes once or twice depending on its input.
    pub async fn write_as<R, F>(&self, several_writes: bool, op: F) -> DbResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, DbResult<R>> + Send + 'static,
    {
        self.enqueue(op, several_writes).await
    }

    async fn enqueue<R, F>(&self, op: F, savepoint: bool) -> DbResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, DbResult<R>> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel::<DbResult<R>>();
        self.queue
            .send(Box::new(TypedOperation {
                op,
                reply,
                savepoint,
            }))
            .await
            .map_err(|_| DbError::Unavailable("the SQLite writer has stopped".into()))?;
        rx.await
            .map_err(|_| DbError::Unavailable("the SQLite writer has stopped".into()))?
    }
}

async fn run(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<Box<dyn Operation>>,
    links: Arc<ChainLinks>,
) {
    let mut batch: Vec<Box<dyn Operation>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, &mut batch, &links).await;
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the SQLite writer connection");
    }
}

async fn run_batch(
    conn: &mut SqliteConnection,
    batch: &mut Vec<Box<dyn Operation>>,
    links: &ChainLinks,
) {
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        tracing::error!(error = %e, "SQLite writer could not begin a transaction");
        for op in batch.drain(..) {
            op.fail(DbError::Unavailable(
                "the database could not begin a transaction".into(),
            ));
        }
        return;
    }
    let mut delivers = Vec::with_capacity(batch.len());
    for op in batch.drain(..) {
        let savepoint = op.needs_savepoint();
        if savepoint && let Err(e) = sqlx::query("SAVEPOINT op").execute(&mut *conn).await {
            op.fail(DbError::database(e));
            continue;
        }
        let (ok, deliver) = op.run(conn).await;
        if !ok {
            // Whatever it appended is undone: the cached links may be ahead of the log.
            links.clear();
        }
        if savepoint {
            let end = if ok {
                "RELEASE op"
            } else {
                "ROLLBACK TO op; RELEASE op"
            };
            if let Err(e) = sqlx::raw_sql(end).execute(&mut *conn).await {
                tracing::error!(error = %e, "SQLite savepoint could not be closed");
            }
        }
        delivers.push(deliver);
    }
    match sqlx::query("COMMIT").execute(&mut *conn).await {
        Ok(_) => delivers.into_iter().for_each(|deliver| deliver(None)),
        Err(e) => {
            links.clear();
            tracing::error!(error = %e, "SQLite batch commit failed");
            if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                tracing::error!(error = %e, "SQLite rollback after a failed commit");
            }
            for deliver in delivers {
                deliver(Some(DbError::Unavailable(
                    "the database could not commit".into(),
                )));
            }
        }
    }
}
