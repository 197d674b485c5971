//! The accountant's export: every order of a date range (optionally one
//! channel) and every refund that succeeded in it, as CSV or XLSX, streamed
//! row by row so memory stays flat whatever the range.
//!
//! A refund is a row of its own (`kind` = `refund`) on its own business day,
//! with a negative amount; a sale's row carries the sale's whole amount.
//! So the `net` of any day's or range's rows is that day's or range's net
//! takings in the reports, to the fen.
//!
//! Where an export may go is checked first ([`ExportTarget`]): never over
//! the ledger, its side files or anything in the app's data directory, and
//! never over an existing file unless the caller says to overwrite it.
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
//! never altered (a refund's amount starts with `-` and stays a number).
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
use shouyin_ledger::reports::{ExportFilter, ExportRow, ExportRowKind};
use shouyin_ledger::{parse_ts, Ledger};

use crate::reports::parse_day;
use crate::{ApiError, Counter, ErrorCode};

/// The header row, in column order. Changing it breaks accountants'
/// spreadsheets and scripts: add columns at the end only.
pub const COLUMNS: [&str; 18] = [
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
    "kind",
    "refund_no",
    "original_order_no",
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
    /// Replace a file that already exists at the path. Without it an
    /// existing file is refused (`export_file_exists`).
    #[serde(default)]
    #[ts(optional, as = "Option<bool>")]
    pub overwrite: bool,
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
    /// Rows that are sales (`kind` sale, state paid, part_refunded,
    /// refunded).
    #[ts(type = "number")]
    pub sales: u64,
    /// Sum of `amount` over the sales.
    pub gross: String,
    #[ts(type = "number")]
    pub gross_fen: i64,
    /// Refund rows (`kind` refund): refunds that succeeded in the range.
    #[ts(type = "number")]
    pub refunds: u64,
    /// The money the refund rows gave back (their amounts, as a positive
    /// sum): the range's refunds in the reports.
    pub refunded: String,
    #[ts(type = "number")]
    pub refunded_fen: i64,
    /// Sum of `net` over all rows: gross − refunded.
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
    pub refunds: u64,
    pub refunded_fen: i64,
    pub net_fen: i64,
}

impl ExportSummary {
    fn add(&mut self, row: &ExportRow<'_>) {
        self.rows += 1;
        match row.kind {
            ExportRowKind::Sale if row.is_sale() => {
                self.sales += 1;
                self.gross_fen += row.amount_fen;
            }
            ExportRowKind::Sale => {}
            ExportRowKind::Refund => {
                self.refunds += 1;
                self.refunded_fen -= row.amount_fen;
            }
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
            refunds: self.refunds,
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

/// Stream the rows (sales and refunds) of `filter` as CSV into `sink`.
/// Returns what was written. `sink` should be buffered (a `BufWriter`
/// around a file).
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
        plain_field(o, row.kind.as_str())?;
        text_field(o, sc, row.refund_no.unwrap_or(""))?;
        text_field(o, sc, original_order_no(row))?;
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

/// Refund rows name the order they give money back for; sales leave it empty.
fn original_order_no<'a>(row: &ExportRow<'a>) -> &'a str {
    match row.kind {
        ExportRowKind::Refund => row.order_no,
        ExportRowKind::Sale => "",
    }
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
    let widths = [
        12, 20, 20, 16, 9, 10, 26, 9, 32, 13, 12, 12, 12, 8, 24, 8, 30, 26,
    ];
    for (col, width) in (0u16..).zip(widths) {
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

/// Stream the rows (sales and refunds) of `filter` as an XLSX workbook
/// into `sink`.
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
        x(sheet.write_string(r, 15, row.kind.as_str()))?;
        if let Some(no) = row.refund_no {
            x(sheet.write_string(r, 16, no))?;
        }
        if row.kind == ExportRowKind::Refund {
            x(sheet.write_string(r, 17, row.order_no))?;
        }
        summary.add(row);
        progress.step(summary.rows);
        Ok::<(), ApiError>(())
    })?;
    workbook.save_to_writer(sink).map_err(xlsx_error)?;
    progress.report(summary.rows);
    Ok(summary)
}

/// Where an export may be written, checked before anything is opened:
/// never the ledger or a file beside it that belongs to it (`-wal`, `-shm`,
/// `-journal`, anything whose name starts with the ledger's), never inside
/// the app's data directory, and never over an existing file unless the
/// caller chose to overwrite it. Symbolic links and `..` are resolved
/// first, so neither leads back to the ledger. The app and the CLI both
/// build one before exporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportTarget {
    /// The path as given, made absolute: the directory entry written.
    path: PathBuf,
    /// `<path>.partial`, written first and renamed over `path` when whole.
    partial: PathBuf,
    overwrite: bool,
}

fn forbidden(path: &Path, why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ExportPathForbidden,
        format!("cannot export to {}: {why}", path.display()),
    )
}

fn file_exists(path: &Path) -> ApiError {
    ApiError::new(
        ErrorCode::ExportFileExists,
        format!(
            "{} already exists; choose another name or overwrite it explicitly",
            path.display()
        ),
    )
}

/// `path` with every symbolic link and `..` resolved, as far as it exists:
/// the directory is resolved; the final name too when it is a link that
/// leads somewhere.
fn resolved(path: &Path) -> Result<(PathBuf, Option<PathBuf>), ApiError> {
    let absolute = std::path::absolute(path).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("cannot resolve {}: {e}", path.display()),
        )
    })?;
    let name = match absolute.file_name() {
        Some(n) if !path.as_os_str().is_empty() && !path.ends_with("..") => n.to_owned(),
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("{} does not name a file", path.display()),
            ))
        }
    };
    let dir = absolute.parent().unwrap_or(Path::new("/"));
    let dir = std::fs::canonicalize(dir).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("the folder {} cannot be used: {e}", dir.display()),
        )
    })?;
    let entry = dir.join(name);
    // Where a link at the final name leads (None when there is nothing
    // there, or a link that leads nowhere).
    let target = std::fs::canonicalize(&entry).ok();
    Ok((entry, target))
}

/// Whether `candidate` (resolved) is the ledger or one of its side files.
fn belongs_to_ledger(candidate: &Path, ledger_forms: &[PathBuf]) -> bool {
    ledger_forms.iter().any(|ledger| {
        let (Some(dir), Some(name)) = (ledger.parent(), ledger.file_name()) else {
            return false;
        };
        candidate.parent() == Some(dir)
            && candidate
                .file_name()
                .is_some_and(|c| c.as_encoded_bytes().starts_with(name.as_encoded_bytes()))
    })
}

impl ExportTarget {
    /// Check `out` for an export of the ledger at `ledger`. `data_dir` is
    /// the app's data directory, when there is one (the CLI's `--db` has
    /// none: there the ledger and its side files are what is protected).
    pub fn new(
        out: &Path,
        ledger: &Path,
        data_dir: Option<&Path>,
        overwrite: bool,
    ) -> Result<ExportTarget, ApiError> {
        let (path, target) = resolved(out)?;
        let mut partial_name = path.file_name().unwrap_or_default().to_owned();
        partial_name.push(".partial");
        let partial = path.with_file_name(partial_name);
        let (_, partial_target) = resolved(&partial)?;

        // The ledger as given and as resolved: SQLite puts its side files
        // beside the name it was opened with.
        let mut ledger_forms = Vec::new();
        if let Ok(abs) = std::path::absolute(ledger) {
            ledger_forms.push(abs);
        }
        if let Ok(real) = std::fs::canonicalize(ledger) {
            ledger_forms.push(real);
        }
        if let Some(parent) = ledger.parent() {
            if let (Ok(dir), Some(name)) = (std::fs::canonicalize(parent), ledger.file_name()) {
                ledger_forms.push(dir.join(name));
            }
        }
        let data_dir = data_dir.and_then(|d| std::fs::canonicalize(d).ok());
        let candidates = [
            Some(&path),
            target.as_ref(),
            Some(&partial),
            partial_target.as_ref(),
        ];
        for candidate in candidates.into_iter().flatten() {
            if let Some(dir) = &data_dir {
                if candidate.starts_with(dir) {
                    return Err(forbidden(
                        out,
                        "that is inside the app's data directory; save the export in your documents or downloads",
                    ));
                }
            }
            if belongs_to_ledger(candidate, &ledger_forms) {
                return Err(forbidden(out, "that is the ledger or one of its files"));
            }
        }
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            if !overwrite {
                return Err(file_exists(out));
            }
            if meta.is_dir() {
                return Err(forbidden(out, "that is a folder"));
            }
        }
        Ok(ExportTarget {
            path,
            partial,
            overwrite,
        })
    }

    /// The file the export ends up in (absolute).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open the `.partial` file fresh: never through a link, never over a
    /// file that is there unless overwriting was chosen.
    fn create_partial(&self) -> Result<std::fs::File, ApiError> {
        let open = || {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&self.partial)
        };
        match open() {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && self.overwrite => {
                // Removes a link itself, never what it points to.
                std::fs::remove_file(&self.partial).map_err(io_error)?;
                open().map_err(io_error)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(file_exists(&self.partial))
            }
            Err(e) => Err(ApiError::new(
                ErrorCode::Storage,
                format!("cannot create {}: {e}", self.partial.display()),
            )),
        }
    }

    /// Move the finished `.partial` into place. Without overwrite, a file
    /// that appeared meanwhile is still not replaced: a hard link fails if
    /// the name is taken (on file systems without hard links, the check is
    /// made just before the rename).
    fn finish(&self) -> Result<(), ApiError> {
        let moved = |e: std::io::Error| {
            ApiError::new(
                ErrorCode::Storage,
                format!("cannot move the export to {}: {e}", self.path.display()),
            )
        };
        if self.overwrite {
            return std::fs::rename(&self.partial, &self.path).map_err(moved);
        }
        match std::fs::hard_link(&self.partial, &self.path) {
            Ok(()) => std::fs::remove_file(&self.partial).map_err(io_error),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&self.partial);
                Err(file_exists(&self.path))
            }
            Err(_) => {
                if std::fs::symlink_metadata(&self.path).is_ok() {
                    let _ = std::fs::remove_file(&self.partial);
                    return Err(file_exists(&self.path));
                }
                std::fs::rename(&self.partial, &self.path).map_err(moved)
            }
        }
    }
}

/// Export to a checked target. The rows go to `<out>.partial` first, which
/// is moved to `out` only when complete: a failed or interrupted export
/// never leaves a file that looks whole.
pub fn export_to_file(
    ledger: &Ledger,
    format: ExportFormat,
    req: &ExportRequest,
    target: &ExportTarget,
    progress: &mut dyn FnMut(ExportProgressDto),
) -> Result<ExportResultDto, ApiError> {
    let filter = req.filter()?;
    let file = target.create_partial()?;
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
            let _ = std::fs::remove_file(&target.partial);
            return Err(e);
        }
    };
    target.finish()?;
    Ok(summary.dto(format, target.path()))
}

impl Counter {
    /// Export `req` as CSV to `path` (checked as an [`ExportTarget`]);
    /// `progress` hears rows done / total.
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

    /// Export `req` as XLSX to `path` (checked as an [`ExportTarget`]);
    /// `progress` hears rows done / total.
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
        let data_dir = self.data_dir().map(Path::to_owned);
        let done = tokio::task::spawn_blocking(move || {
            let target =
                ExportTarget::new(&path, &ledger_path, data_dir.as_deref(), req.overwrite)?;
            let reader = Ledger::open_read_only(&ledger_path)?;
            export_to_file(&reader, format, &req, &target, &mut progress)
        })
        .await
        .map_err(|e| ApiError::internal(format!("the export task failed: {e}")))??;
        self.inner
            .exported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(PathBuf::from(&done.path));
        Ok(done)
    }

    /// The folder of a file this counter exported, for "open folder". Any
    /// other path is refused: the command opens nothing the user typed.
    pub fn export_folder(&self, file: &str) -> Result<PathBuf, ApiError> {
        let file = PathBuf::from(file);
        let known = self
            .inner
            .exported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&file);
        if !known {
            return Err(ApiError::new(
                ErrorCode::ExportPathForbidden,
                format!("{} is not a file this till exported", file.display()),
            )
            .detail("not_exported"));
        }
        let folder = file
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("/"));
        if !folder.is_dir() {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("the export's folder {} is gone", folder.display()),
            )
            .detail("folder_missing")
            .with("folder", folder.display()));
        }
        Ok(folder)
    }
}
