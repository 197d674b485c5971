//! The accountant's export: every order of a date range (optionally one
//! channel) as CSV or XLSX, streamed row by row from one prepared statement
//! so memory stays flat whatever the range.
//!
//! The columns are stable and documented in README.md ("Export columns"):
//! [`COLUMNS`]. Times are the store's local time with its offset
//! (ISO 8601, `2026-11-21T14:05:09+08:00`); amounts are exact decimals
//! (`12.30`) built from integer fen.
//!
//! CSV is RFC 4180 (CRLF line ends, quotes only where needed), UTF-8 with a
//! byte-order mark by default so Excel on Chinese Windows reads the Chinese
//! text correctly. Text cells that begin with `=`, `+`, `-`, `@`, tab or
//! carriage return get a leading `'` so a spreadsheet never runs them as a
//! formula; numeric columns (`amount`, `refunded`, `net`) and times are
//! never altered.
//!
//! XLSX uses rust_xlsxwriter's constant-memory mode (each row goes to a
//! temporary file as it is written): amounts are numeric cells with a money
//! format, dates and times are date cells, text is text cells (never a
//! formula, so it needs no neutralising). A sheet holds at most 1,048,575
//! data rows; a larger export continues on further sheets, each with the
//! header row.

use std::fmt::Write as _;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Offset, Utc};
use chrono_tz::Tz;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};
use serde::{Deserialize, Serialize};
use shouyin_core::{format_fen, ChannelKind};
use shouyin_ledger::reports::{ExportFilter, ExportRow};
use shouyin_ledger::{parse_ts, Ledger};

use crate::reports::parse_day;
use crate::{ApiError, Counter, ErrorCode};

/// The header row, in column order. Changing it breaks accountants'
/// spreadsheets and scripts: add columns at the end only.
pub const COLUMNS: [&str; 15] = [
    "business_date",
    "created_at",
    "paid_at",
    "store",
    "terminal",
    "cashier",
    "order_no",
    "channel",
    "channel_trade_no",
    "state",
    "amount",
    "refunded",
    "net",
    "currency",
    "note",
];

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Data rows per XLSX sheet: Excel's 1,048,576 rows less the header.
const XLSX_ROWS_PER_SHEET: u64 = 1_048_575;

/// Report progress every this many rows (and at the start and the end):
/// often enough for a smooth bar, rare enough to cost nothing.
const PROGRESS_EVERY: u64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

/// What to export: the business days `from..=to` (YYYY-MM-DD), every order
/// in any state, optionally of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ExportRequest {
    pub from: String,
    pub to: String,
    #[serde(default)]
    #[ts(optional)]
    pub channel: Option<ChannelKind>,
    /// CSV only: leave out the UTF-8 byte-order mark (for tools that choke
    /// on it). Excel needs it to read Chinese text.
    #[serde(default)]
    #[ts(optional, as = "Option<bool>")]
    pub no_bom: bool,
}

impl ExportRequest {
    pub fn filter(&self) -> Result<ExportFilter, ApiError> {
        let (from, to) = (parse_day(&self.from)?, parse_day(&self.to)?);
        if to < from {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("the range ends ({to}) before it starts ({from})"),
            ));
        }
        Ok(ExportFilter {
            from,
            to,
            channel: self.channel,
        })
    }
}

/// How far an export has got, for the UI's progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ExportProgressDto {
    #[ts(type = "number")]
    pub rows_done: u64,
    #[ts(type = "number")]
    pub rows_total: u64,
}

/// What an export wrote: its rows and the totals of its columns, so the
/// screen can show them beside the daily report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ExportResultDto {
    pub format: ExportFormat,
    pub path: String,
    /// Data rows written (the header not counted).
    #[ts(type = "number")]
    pub rows: u64,
    /// Rows that are sales (paid, part_refunded, refunded).
    #[ts(type = "number")]
    pub sales: u64,
    /// Sum of `amount` over the sales.
    pub gross: String,
    #[ts(type = "number")]
    pub gross_fen: i64,
    /// Sum of `refunded` over the sales.
    pub refunded: String,
    #[ts(type = "number")]
    pub refunded_fen: i64,
    /// Sum of `net` over all rows.
    pub net: String,
    #[ts(type = "number")]
    pub net_fen: i64,
}

/// Running totals of what was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub rows: u64,
    pub sales: u64,
    pub gross_fen: i64,
    pub refunded_fen: i64,
    pub net_fen: i64,
}

impl ExportSummary {
    fn add(&mut self, row: &ExportRow<'_>) {
        self.rows += 1;
        if row.is_sale() {
            self.sales += 1;
            self.gross_fen += row.amount_fen;
            self.refunded_fen += row.refunded_fen;
        }
        self.net_fen += row.net_fen();
    }

    fn dto(&self, format: ExportFormat, path: &Path) -> ExportResultDto {
        ExportResultDto {
            format,
            path: path.display().to_string(),
            rows: self.rows,
            sales: self.sales,
            gross: format_fen(self.gross_fen),
            gross_fen: self.gross_fen,
            refunded: format_fen(self.refunded_fen),
            refunded_fen: self.refunded_fen,
            net: format_fen(self.net_fen),
            net_fen: self.net_fen,
        }
    }
}

/// Counts rows and calls the progress callback now and then.
struct Progress<'a> {
    total: u64,
    callback: &'a mut dyn FnMut(ExportProgressDto),
}

impl Progress<'_> {
    fn report(&mut self, done: u64) {
        (self.callback)(ExportProgressDto {
            rows_done: done,
            rows_total: self.total,
        });
    }

    fn step(&mut self, done: u64) {
        if done % PROGRESS_EVERY == 0 {
            self.report(done);
        }
    }
}

fn io_error(e: std::io::Error) -> ApiError {
    ApiError::new(ErrorCode::Storage, format!("cannot write the export: {e}"))
}

fn csv_error(e: csv::Error) -> ApiError {
    ApiError::new(ErrorCode::Storage, format!("cannot write the export: {e}"))
}

fn xlsx_error(e: XlsxError) -> ApiError {
    ApiError::new(
        ErrorCode::Storage,
        format!("cannot write the XLSX file: {e}"),
    )
}

fn bad_time(stored: &str) -> ApiError {
    ApiError::new(
        ErrorCode::LedgerCorrupt,
        format!("the ledger holds a time that is not RFC 3339: '{stored}'"),
    )
}

/// Whether a text cell would start a formula in a spreadsheet.
fn needs_neutralising(text: &str) -> bool {
    matches!(
        text.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// A text cell as CSV carries it: a leading `'` before anything a
/// spreadsheet would read as a formula. `buf` is reused across cells.
fn neutralised<'a>(text: &'a str, buf: &'a mut String) -> &'a str {
    if needs_neutralising(text) {
        buf.clear();
        buf.push('\'');
        buf.push_str(text);
        buf.as_str()
    } else {
        text
    }
}

/// Fen as an exact decimal, appended to `buf` ("-12.30" for negatives).
fn push_fen(buf: &mut String, fen: i64) {
    let abs = fen.unsigned_abs();
    if fen < 0 {
        buf.push('-');
    }
    // Writing to a String cannot fail.
    let _ = write!(buf, "{}.{:02}", abs / 100, abs % 100);
}

/// A stored UTC instant on the store's clock.
fn local(tz: &Tz, stored: &str) -> Result<(DateTime<Tz>, i32), ApiError> {
    let at: DateTime<Utc> = parse_ts(stored).ok_or_else(|| bad_time(stored))?;
    let local = at.with_timezone(tz);
    let offset = local.offset().fix().local_minus_utc();
    Ok((local, offset))
}

/// A stored UTC instant as local ISO 8601 with offset, appended to `buf`:
/// `2026-11-21T14:05:09+08:00`.
fn push_local_time(buf: &mut String, tz: &Tz, stored: &str) -> Result<(), ApiError> {
    use chrono::{Datelike, Timelike};
    let (t, offset) = local(tz, stored)?;
    let sign = if offset < 0 { '-' } else { '+' };
    let off = offset.unsigned_abs() / 60;
    let _ = write!(
        buf,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        off / 60,
        off % 60
    );
    Ok(())
}

/// Stream the orders of `filter` as CSV into `sink`. Returns what was
/// written. `sink` should be buffered (a `BufWriter` around a file).
pub fn write_csv<W: Write>(
    ledger: &Ledger,
    filter: &ExportFilter,
    bom: bool,
    mut sink: W,
    progress: &mut dyn FnMut(ExportProgressDto),
) -> Result<ExportSummary, ApiError> {
    let tz = ledger.calendar().timezone;
    if bom {
        sink.write_all(UTF8_BOM).map_err(io_error)?;
    }
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(sink);
    out.write_record(COLUMNS).map_err(csv_error)?;
    let mut summary = ExportSummary::default();
    let mut progress = Progress {
        total: 0,
        callback: progress,
    };
    // Buffers reused for every row: the export allocates nothing per row.
    let (mut created, mut paid, mut amount, mut refunded, mut net) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    let mut scratch = String::new();
    let plan = ledger.export_plan(filter)?;
    progress.total = plan.total;
    progress.report(0);
    ledger.export_rows(&plan, |row| {
        created.clear();
        push_local_time(&mut created, &tz, row.created_at)?;
        paid.clear();
        if let Some(p) = row.paid_at {
            push_local_time(&mut paid, &tz, p)?;
        }
        amount.clear();
        push_fen(&mut amount, row.amount_fen);
        refunded.clear();
        push_fen(&mut refunded, row.refunded_fen);
        net.clear();
        push_fen(&mut net, row.net_fen());
        let o = &mut out;
        let sc = &mut scratch;
        // Dates, times and amounts are ours and never start a formula:
        // written as they are. Everything else is text from outside.
        plain_field(o, row.business_date)?;
        plain_field(o, &created)?;
        plain_field(o, &paid)?;
        text_field(o, sc, row.store)?;
        text_field(o, sc, row.terminal)?;
        text_field(o, sc, row.cashier.unwrap_or(""))?;
        text_field(o, sc, row.order_no)?;
        text_field(o, sc, row.channel)?;
        text_field(o, sc, row.channel_trade_no.unwrap_or(""))?;
        text_field(o, sc, row.state)?;
        plain_field(o, &amount)?;
        plain_field(o, &refunded)?;
        plain_field(o, &net)?;
        text_field(o, sc, row.currency)?;
        text_field(o, sc, row.note.unwrap_or(""))?;
        out.write_record(None::<&[u8]>).map_err(csv_error)?;
        summary.add(row);
        progress.step(summary.rows);
        Ok::<(), ApiError>(())
    })?;
    let mut sink = out
        .into_inner()
        .map_err(|e| io_error(std::io::Error::other(e.to_string())))?;
    sink.flush().map_err(io_error)?;
    progress.report(summary.rows);
    Ok(summary)
}

fn plain_field<W: Write>(out: &mut csv::Writer<W>, s: &str) -> Result<(), ApiError> {
    out.write_field(s).map_err(csv_error)
}

fn text_field<W: Write>(
    out: &mut csv::Writer<W>,
    scratch: &mut String,
    s: &str,
) -> Result<(), ApiError> {
    out.write_field(neutralised(s, scratch)).map_err(csv_error)
}

/// Cell formats of the XLSX export.
struct XlsxFormats {
    header: Format,
    date: Format,
    time: Format,
    money: Format,
}

fn start_sheet(workbook: &mut Workbook, formats: &XlsxFormats) -> Result<(), ApiError> {
    let sheet: &mut Worksheet = workbook.add_worksheet_with_constant_memory();
    for (col, name) in (0u16..).zip(COLUMNS) {
        sheet
            .write_string_with_format(0, col, name, &formats.header)
            .map_err(xlsx_error)?;
    }
    // Widths must be set before rows are written in constant-memory mode.
    for (col, width) in (0u16..).zip([12, 20, 20, 16, 9, 10, 26, 9, 32, 13, 12, 12, 12, 8, 24]) {
        sheet.set_column_width(col, width).map_err(xlsx_error)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(xlsx_error)?;
    Ok(())
}

/// A stored UTC instant as an XLSX date-time cell on the store's clock.
/// XLSX date cells carry no zone: the column is local time.
fn excel_time(tz: &Tz, stored: &str) -> Result<ExcelDateTime, ApiError> {
    let (t, offset) = local(tz, stored)?;
    ExcelDateTime::from_timestamp(t.timestamp() + i64::from(offset)).map_err(xlsx_error)
}

fn excel_date(date: &str) -> Result<ExcelDateTime, ApiError> {
    ExcelDateTime::parse_from_str(date).map_err(xlsx_error)
}

/// XLSX numbers are IEEE doubles: that is the file format. Fen are
/// converted only here, at the cell write; every sum and comparison stays in
/// integer fen. Any fen amount below 2^53 is exact as f64, and `fen / 100`
/// is then the nearest double to the two-decimal value, which Excel shows
/// exactly with the money format.
#[allow(clippy::cast_precision_loss)]
fn yuan_cell(fen: i64) -> f64 {
    fen as f64 / 100.0
}

/// Stream the orders of `filter` as an XLSX workbook into `sink`.
pub fn write_xlsx<W: Write + Seek + Send>(
    ledger: &Ledger,
    filter: &ExportFilter,
    sink: W,
    progress: &mut dyn FnMut(ExportProgressDto),
) -> Result<ExportSummary, ApiError> {
    let tz = ledger.calendar().timezone;
    let mut workbook = Workbook::new();
    // Constant-memory sheets spill rows to temporary files as they are
    // written; the system temporary directory is used.
    let formats = XlsxFormats {
        header: Format::new().set_bold(),
        date: Format::new().set_num_format("yyyy-mm-dd"),
        time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
        money: Format::new().set_num_format("#,##0.00"),
    };
    start_sheet(&mut workbook, &formats)?;
    let mut sheet_index = 0usize;
    let mut summary = ExportSummary::default();
    let mut progress = Progress {
        total: 0,
        callback: progress,
    };
    let plan = ledger.export_plan(filter)?;
    progress.total = plan.total;
    progress.report(0);
    ledger.export_rows(&plan, |row| {
        let in_sheet = summary.rows % XLSX_ROWS_PER_SHEET;
        if summary.rows > 0 && in_sheet == 0 {
            start_sheet(&mut workbook, &formats)?;
            sheet_index += 1;
        }
        let r = u32::try_from(in_sheet + 1)
            .map_err(|_| ApiError::internal("XLSX row number out of range"))?;
        let sheet = workbook
            .worksheet_from_index(sheet_index)
            .map_err(xlsx_error)?;
        let x = |res: Result<&mut Worksheet, XlsxError>| res.map(|_| ()).map_err(xlsx_error);
        x(sheet.write_date_with_format(r, 0, excel_date(row.business_date)?, &formats.date))?;
        x(sheet.write_datetime_with_format(r, 1, excel_time(&tz, row.created_at)?, &formats.time))?;
        if let Some(p) = row.paid_at {
            x(sheet.write_datetime_with_format(r, 2, excel_time(&tz, p)?, &formats.time))?;
        }
        x(sheet.write_string(r, 3, row.store))?;
        x(sheet.write_string(r, 4, row.terminal))?;
        if let Some(c) = row.cashier {
            x(sheet.write_string(r, 5, c))?;
        }
        x(sheet.write_string(r, 6, row.order_no))?;
        x(sheet.write_string(r, 7, row.channel))?;
        if let Some(t) = row.channel_trade_no {
            x(sheet.write_string(r, 8, t))?;
        }
        x(sheet.write_string(r, 9, row.state))?;
        x(sheet.write_number_with_format(r, 10, yuan_cell(row.amount_fen), &formats.money))?;
        x(sheet.write_number_with_format(r, 11, yuan_cell(row.refunded_fen), &formats.money))?;
        x(sheet.write_number_with_format(r, 12, yuan_cell(row.net_fen()), &formats.money))?;
        x(sheet.write_string(r, 13, row.currency))?;
        if let Some(n) = row.note {
            x(sheet.write_string(r, 14, n))?;
        }
        summary.add(row);
        progress.step(summary.rows);
        Ok::<(), ApiError>(())
    })?;
    workbook.save_to_writer(sink).map_err(xlsx_error)?;
    progress.report(summary.rows);
    Ok(summary)
}

/// Export to a file. The rows go to `<out>.partial` first, which is renamed
/// over `out` only when complete: a failed or interrupted export never
/// leaves a file that looks whole.
pub fn export_to_file(
    ledger: &Ledger,
    format: ExportFormat,
    req: &ExportRequest,
    out: &Path,
    progress: &mut dyn FnMut(ExportProgressDto),
) -> Result<ExportResultDto, ApiError> {
    let filter = req.filter()?;
    let mut partial_name = out.file_name().unwrap_or_default().to_owned();
    partial_name.push(".partial");
    let partial: PathBuf = out.with_file_name(partial_name);
    let file = std::fs::File::create(&partial).map_err(|e| {
        ApiError::new(
            ErrorCode::Storage,
            format!("cannot create {}: {e}", partial.display()),
        )
    })?;
    let written = match format {
        ExportFormat::Csv => write_csv(
            ledger,
            &filter,
            !req.no_bom,
            std::io::BufWriter::with_capacity(256 * 1024, file),
            progress,
        ),
        ExportFormat::Xlsx => write_xlsx(
            ledger,
            &filter,
            std::io::BufWriter::with_capacity(256 * 1024, file),
            progress,
        ),
    };
    let summary = match written {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, out).map_err(|e| {
        ApiError::new(
            ErrorCode::Storage,
            format!("cannot move the export to {}: {e}", out.display()),
        )
    })?;
    Ok(summary.dto(format, out))
}

impl Counter {
    /// Export `req` as CSV to `path`; `progress` hears rows done / total.
    pub async fn export_csv<F>(
        &self,
        path: PathBuf,
        req: ExportRequest,
        progress: F,
    ) -> Result<ExportResultDto, ApiError>
    where
        F: FnMut(ExportProgressDto) + Send + 'static,
    {
        self.export(ExportFormat::Csv, path, req, progress).await
    }

    /// Export `req` as XLSX to `path`; `progress` hears rows done / total.
    pub async fn export_xlsx<F>(
        &self,
        path: PathBuf,
        req: ExportRequest,
        progress: F,
    ) -> Result<ExportResultDto, ApiError>
    where
        F: FnMut(ExportProgressDto) + Send + 'static,
    {
        self.export(ExportFormat::Xlsx, path, req, progress).await
    }

    /// Exports read through their own read-only connection: WAL lets the
    /// till keep selling while a year is written out.
    async fn export<F>(
        &self,
        format: ExportFormat,
        path: PathBuf,
        req: ExportRequest,
        mut progress: F,
    ) -> Result<ExportResultDto, ApiError>
    where
        F: FnMut(ExportProgressDto) + Send + 'static,
    {
        req.filter()?;
        let ledger_path = self.with_ledger(|l| Ok(l.path().to_owned())).await?;
        tokio::task::spawn_blocking(move || {
            let reader = Ledger::open_read_only(&ledger_path)?;
            export_to_file(&reader, format, &req, &path, &mut progress)
        })
        .await
        .map_err(|e| ApiError::internal(format!("the export task failed: {e}")))?
    }
}
