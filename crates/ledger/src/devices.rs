//! The till's devices in the ledger: their settings, the print queue and the
//! record of payments announced aloud. Printing and speaking happen outside
//! (in `api`); this module keeps what must survive a restart.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

use crate::{parse_ts, ts, Ledger, LedgerError, Result};

/// What a print job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintKind {
    /// A sale's receipt, queued once when the order is paid.
    Receipt,
    /// A receipt printed again on request (marked 重印 REPRINT).
    Reprint,
    RefundSlip,
    ZReport,
    TestPage,
}

impl PrintKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrintKind::Receipt => "receipt",
            PrintKind::Reprint => "reprint",
            PrintKind::RefundSlip => "refund_slip",
            PrintKind::ZReport => "z_report",
            PrintKind::TestPage => "test_page",
        }
    }

    fn parse(s: &str) -> Result<PrintKind> {
        Ok(match s {
            "receipt" => PrintKind::Receipt,
            "reprint" => PrintKind::Reprint,
            "refund_slip" => PrintKind::RefundSlip,
            "z_report" => PrintKind::ZReport,
            "test_page" => PrintKind::TestPage,
            other => {
                return Err(LedgerError::Invalid(format!(
                    "unknown print job kind {other}"
                )))
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintState {
    Queued,
    Printed,
    /// Not printed; waits for someone to retry.
    Failed,
}

impl PrintState {
    pub fn as_str(self) -> &'static str {
        match self {
            PrintState::Queued => "queued",
            PrintState::Printed => "printed",
            PrintState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<PrintState> {
        Ok(match s {
            "queued" => PrintState::Queued,
            "printed" => PrintState::Printed,
            "failed" => PrintState::Failed,
            other => return Err(LedgerError::Invalid(format!("unknown print state {other}"))),
        })
    }
}

#[derive(Debug, Clone)]
pub struct PrintJob {
    pub id: i64,
    pub order_id: Option<i64>,
    /// The order's number, when the job belongs to an order.
    pub order_no: Option<String>,
    pub kind: PrintKind,
    pub data: Vec<u8>,
    pub state: PrintState,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const JOB_COLUMNS: &str = "j.id, j.order_id, o.out_trade_no, j.kind, j.data, j.state, j.attempts,
     j.last_error, j.created_at, j.updated_at
     FROM print_jobs j LEFT JOIN orders o ON o.id = j.order_id";

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<(PrintJob, String, String)> {
    Ok((
        PrintJob {
            id: r.get(0)?,
            order_id: r.get(1)?,
            order_no: r.get(2)?,
            kind: PrintKind::Receipt,
            data: r.get(4)?,
            state: PrintState::Queued,
            attempts: r.get(6)?,
            last_error: r.get(7)?,
            created_at: parse_ts(&r.get::<_, String>(8)?).unwrap_or_default(),
            updated_at: parse_ts(&r.get::<_, String>(9)?).unwrap_or_default(),
        },
        r.get(3)?,
        r.get(5)?,
    ))
}

fn finish(row: (PrintJob, String, String)) -> Result<PrintJob> {
    let (mut job, kind, state) = row;
    job.kind = PrintKind::parse(&kind)?;
    job.state = PrintState::parse(&state)?;
    Ok(job)
}

/// A payment already announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub payment_key: String,
    pub order_id: Option<i64>,
    pub text: String,
    pub at: DateTime<Utc>,
}

impl Ledger {
    /// The devices' settings as stored (JSON), if ever saved.
    pub fn device_settings(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT settings FROM device_settings WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_device_settings(&mut self, json: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO device_settings (id, settings) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET settings = excluded.settings",
            [json],
        )?;
        Ok(())
    }

    /// Queue a job. A sale's own receipt is queued at most once: `None`
    /// when it already was.
    pub fn print_job_add(
        &mut self,
        order_id: Option<i64>,
        kind: PrintKind,
        data: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<PrintJob>> {
        let added = self.conn.execute(
            "INSERT OR IGNORE INTO print_jobs (order_id, kind, data, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'queued', ?4, ?4)",
            params![order_id, kind.as_str(), data, ts(now)],
        )?;
        if added == 0 {
            return Ok(None);
        }
        let id = self.conn.last_insert_rowid();
        self.print_job(id).map(Some)
    }

    pub fn print_job(&self, id: i64) -> Result<PrintJob> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {JOB_COLUMNS} WHERE j.id = ?1"),
                [id],
                job_from_row,
            )
            .optional()?
            .ok_or_else(|| LedgerError::Invalid(format!("no print job {id}")))?;
        finish(row)
    }

    /// Jobs waiting to be sent, oldest first.
    pub fn print_jobs_queued(&self) -> Result<Vec<PrintJob>> {
        self.print_jobs_where("j.state = 'queued' ORDER BY j.id", [])
    }

    /// An order's jobs, oldest first.
    pub fn print_jobs_for(&self, order_id: i64) -> Result<Vec<PrintJob>> {
        self.print_jobs_where("j.order_id = ?1 ORDER BY j.id", [order_id])
    }

    /// Jobs that failed and were not printed since, newest first: the
    /// "not printed — retry" list.
    pub fn print_jobs_failed(&self, limit: u32) -> Result<Vec<PrintJob>> {
        self.print_jobs_where(
            "j.state = 'failed' ORDER BY j.id DESC LIMIT ?1",
            [i64::from(limit)],
        )
    }

    fn print_jobs_where<P: rusqlite::Params>(&self, clause: &str, p: P) -> Result<Vec<PrintJob>> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {JOB_COLUMNS} WHERE {clause}"))?;
        let rows = stmt.query_map(p, job_from_row)?;
        let mut jobs = Vec::new();
        for row in rows {
            jobs.push(finish(row?)?);
        }
        Ok(jobs)
    }

    /// Record the outcome of sending a job.
    pub fn print_job_done(
        &mut self,
        id: i64,
        outcome: std::result::Result<(), &str>,
        now: DateTime<Utc>,
    ) -> Result<PrintJob> {
        let (state, error) = match outcome {
            Ok(()) => (PrintState::Printed, None),
            Err(e) => (PrintState::Failed, Some(e)),
        };
        self.conn.execute(
            "UPDATE print_jobs SET state = ?2, attempts = attempts + 1, last_error = ?3,
             updated_at = ?4 WHERE id = ?1",
            params![id, state.as_str(), error, ts(now)],
        )?;
        self.print_job(id)
    }

    /// Put a failed job back in the queue.
    pub fn print_job_requeue(&mut self, id: i64, now: DateTime<Utc>) -> Result<PrintJob> {
        let changed = self.conn.execute(
            "UPDATE print_jobs SET state = 'queued', updated_at = ?2
             WHERE id = ?1 AND state = 'failed'",
            params![id, ts(now)],
        )?;
        if changed == 0 {
            return Err(LedgerError::Invalid(format!(
                "print job {id} has not failed; nothing to retry"
            )));
        }
        self.print_job(id)
    }

    /// Record that a payment is being announced. `false` when it already
    /// was: each payment is said at most once.
    pub fn announce_once(
        &mut self,
        payment_key: &str,
        order_id: Option<i64>,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let added = self.conn.execute(
            "INSERT OR IGNORE INTO announcements (payment_key, order_id, text, at)
             VALUES (?1, ?2, ?3, ?4)",
            params![payment_key, order_id, text, ts(now)],
        )?;
        Ok(added == 1)
    }

    /// Announcements, newest first.
    pub fn announcements(&self, limit: u32) -> Result<Vec<Announcement>> {
        let mut stmt = self.conn.prepare(
            "SELECT payment_key, order_id, text, at FROM announcements
             ORDER BY rowid DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::from(limit)], |r| {
            Ok(Announcement {
                payment_key: r.get(0)?,
                order_id: r.get(1)?,
                text: r.get(2)?,
                at: parse_ts(&r.get::<_, String>(3)?).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
