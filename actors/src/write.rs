//! Writes that group commit may put in one transaction: the typed messages `CreateResult`,
//! `UpdateResult`, `CreateRecord` and `UpdateRecord`, how each is applied and recognised in
//! the database afterwards, and [`Pending`], one such write with its caller's typed reply
//! channel, which lets a batch mix kinds.

use actix::Message;
use results_storage::connection::Conn;
use results_storage::model::{
    ChangeKind, ChangedObject, NewChange, StoredRecord, StoredResult, Timestamp,
};
use results_storage::store;
use tokio::sync::mpsc;

use crate::messages::{CreateRecord, CreateResult, UpdateRecord, UpdateResult};
use crate::{Error, Result};

/// The server-chosen parts of one write, fixed before it is attempted so that its outcome
/// can be recognised in the database if the connection breaks before the answer arrives.
pub(crate) struct Stamp {
    /// The uid a create assigns.
    pub id: String,
    /// The update time the write sets.
    pub now: Timestamp,
}

/// A write message that may share a transaction with others; its answer is what it stored.
pub(crate) trait Write: Message<Result = Result<Self::Stored>> + Send + 'static {
    /// The stored object the caller gets back.
    type Stored: Send + 'static;

    /// Performs the write with the server-chosen `stamp`.
    fn apply(&self, conn: &mut Conn, stamp: &Stamp) -> results_storage::Result<Self::Stored>;

    /// The change log entry of what the write stored.
    fn change(stored: &Self::Stored) -> NewChange;

    /// Performs the write and logs its change on its own, outside any transaction (see
    /// `store::create_record_logged`: one statement where the backend allows); `None`
    /// where the write has no such form.
    fn apply_logged(
        &self,
        _conn: &mut Conn,
        _stamp: &Stamp,
    ) -> Option<results_storage::Result<Self::Stored>> {
        None
    }

    /// Reads what is stored under the write's name, and says whether it is this write's
    /// outcome (it carries the stamp).
    fn read_back(
        &self,
        conn: &mut Conn,
        stamp: &Stamp,
    ) -> results_storage::Result<(bool, Self::Stored)>;
}

impl Write for CreateResult {
    type Stored = StoredResult;

    fn apply(&self, conn: &mut Conn, stamp: &Stamp) -> results_storage::Result<StoredResult> {
        store::create_result(conn, self.0.clone(), stamp.id.clone(), stamp.now)
    }

    fn change(stored: &StoredResult) -> NewChange {
        NewChange {
            kind: ChangeKind::Added,
            object: ChangedObject::Result(stored.clone()),
        }
    }

    fn read_back(
        &self,
        conn: &mut Conn,
        stamp: &Stamp,
    ) -> results_storage::Result<(bool, StoredResult)> {
        let stored = store::get_result(conn, &self.0.name)?;
        Ok((
            stored.uid == stamp.id && stored.update_time == stamp.now,
            stored,
        ))
    }
}

impl Write for UpdateResult {
    type Stored = StoredResult;

    fn apply(&self, conn: &mut Conn, stamp: &Stamp) -> results_storage::Result<StoredResult> {
        store::update_result(conn, self.0.clone(), stamp.now)
    }

    fn change(stored: &StoredResult) -> NewChange {
        NewChange {
            kind: ChangeKind::Modified,
            object: ChangedObject::Result(stored.clone()),
        }
    }

    fn read_back(
        &self,
        conn: &mut Conn,
        stamp: &Stamp,
    ) -> results_storage::Result<(bool, StoredResult)> {
        let stored = store::get_result(conn, &self.0.name)?;
        Ok((stored.update_time == stamp.now, stored))
    }
}

impl Write for CreateRecord {
    type Stored = StoredRecord;

    fn apply(&self, conn: &mut Conn, stamp: &Stamp) -> results_storage::Result<StoredRecord> {
        store::create_record(conn, self.0.clone(), stamp.id.clone(), stamp.now)
    }

    fn change(stored: &StoredRecord) -> NewChange {
        NewChange {
            kind: ChangeKind::Added,
            object: ChangedObject::Record(stored.clone()),
        }
    }

    fn apply_logged(
        &self,
        conn: &mut Conn,
        stamp: &Stamp,
    ) -> Option<results_storage::Result<StoredRecord>> {
        Some(store::create_record_logged(
            conn,
            self.0.clone(),
            stamp.id.clone(),
            stamp.now,
        ))
    }

    fn read_back(
        &self,
        conn: &mut Conn,
        stamp: &Stamp,
    ) -> results_storage::Result<(bool, StoredRecord)> {
        let stored = store::get_record(conn, &self.0.name)?;
        Ok((
            stored.uid == stamp.id && stored.update_time == stamp.now,
            stored,
        ))
    }
}

impl Write for UpdateRecord {
    type Stored = StoredRecord;

    fn apply(&self, conn: &mut Conn, stamp: &Stamp) -> results_storage::Result<StoredRecord> {
        store::update_record(conn, self.0.clone(), stamp.now)
    }

    fn change(stored: &StoredRecord) -> NewChange {
        NewChange {
            kind: ChangeKind::Modified,
            object: ChangedObject::Record(stored.clone()),
        }
    }

    fn read_back(
        &self,
        conn: &mut Conn,
        stamp: &Stamp,
    ) -> results_storage::Result<(bool, StoredRecord)> {
        let stored = store::get_record(conn, &self.0.name)?;
        Ok((stored.update_time == stamp.now, stored))
    }
}

/// The answer of a write whose attempt succeeded, sent to its caller once the attempt is
/// committed; dropped unsent when the attempt is rolled back.
pub(crate) type Answer = Box<dyn FnOnce() + Send>;

/// One write of a batch, whatever its kind: what the writer needs of it.
pub(crate) trait Pending: Send {
    /// Attempts the write; on success, the answer to send if the attempt is committed and
    /// the change to log with it.
    fn apply(&self, conn: &mut Conn, stamp: &Stamp) -> Result<(Answer, NewChange)>;

    /// See [`Write::apply_logged`]; the answer is sent only once the call has returned
    /// (the write is then committed).
    fn apply_logged(&self, conn: &mut Conn, stamp: &Stamp) -> Option<Result<Answer>>;

    /// See [`Write::read_back`]; the answer is what is stored.
    fn read_back(&self, conn: &mut Conn, stamp: &Stamp) -> results_storage::Result<(bool, Answer)>;

    /// Answers the caller with `error`.
    fn fail(&self, error: Error);
}

/// A write and its caller's reply channel. The sender is cloned into the answer of each
/// attempt (an mpsc sender, since a oneshot's cannot be); only the committed attempt's
/// answer, or one error, is ever sent.
pub(crate) struct Queued<W: Write> {
    write: W,
    reply: mpsc::UnboundedSender<Result<W::Stored>>,
}

impl<W: Write> Queued<W> {
    /// Queues `write`; its caller waits on the receiver (which ends unanswered if the
    /// writer pool stops).
    pub(crate) fn new(write: W) -> (Self, mpsc::UnboundedReceiver<Result<W::Stored>>) {
        let (reply, answer) = mpsc::unbounded_channel();
        (Queued { write, reply }, answer)
    }

    fn answer(&self, stored: W::Stored) -> Answer {
        let reply = self.reply.clone();
        Box::new(move || {
            // The caller may have given up (timeout); its answer is then moot.
            let _ = reply.send(Ok(stored));
        })
    }
}

impl<W: Write> Pending for Queued<W> {
    fn apply(&self, conn: &mut Conn, stamp: &Stamp) -> Result<(Answer, NewChange)> {
        let stored = self.write.apply(conn, stamp)?;
        let change = W::change(&stored);
        Ok((self.answer(stored), change))
    }

    fn apply_logged(&self, conn: &mut Conn, stamp: &Stamp) -> Option<Result<Answer>> {
        let outcome = self.write.apply_logged(conn, stamp)?;
        Some(
            outcome
                .map(|stored| self.answer(stored))
                .map_err(Error::from),
        )
    }

    fn read_back(&self, conn: &mut Conn, stamp: &Stamp) -> results_storage::Result<(bool, Answer)> {
        let (ours, stored) = self.write.read_back(conn, stamp)?;
        Ok((ours, self.answer(stored)))
    }

    fn fail(&self, error: Error) {
        let _ = self.reply.send(Err(error));
    }
}
