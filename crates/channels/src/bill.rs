//! Helpers shared by the bill parsers: text decoding, zip unpacking and
//! finding columns by header name.

use std::io::{Cursor, Read};

/// A bill file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bill file: {0}")]
pub struct BillFileError(pub String);

impl BillFileError {
    pub(crate) fn new(reason: impl Into<String>) -> BillFileError {
        BillFileError(reason.into())
    }
}

/// UTF-8 (with or without BOM) when valid, else GBK (Alipay's encoding).
pub(crate) fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::GBK
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

pub(crate) fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// Every file inside a zip archive, decoded to text.
pub(crate) fn zip_texts(bytes: &[u8]) -> Result<Vec<String>, BillFileError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| BillFileError::new(format!("not a readable zip: {e}")))?;
    let mut texts = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| BillFileError::new(format!("zip entry {index}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let mut raw = Vec::new();
        entry
            .read_to_end(&mut raw)
            .map_err(|e| BillFileError::new(format!("zip entry {index}: {e}")))?;
        texts.push(decode_text(&raw));
    }
    Ok(texts)
}

/// Header names as printed vary in bracket width and padding; compare the
/// normalised form.
pub(crate) fn normalise_header(name: &str) -> String {
    name.trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '(' => '（',
            ')' => '）',
            other => other,
        })
        .collect()
}

/// Column positions by header name.
#[derive(Debug)]
pub(crate) struct Columns(Vec<String>);

impl Columns {
    pub fn new(header: &[String]) -> Columns {
        Columns(header.iter().map(|h| normalise_header(h)).collect())
    }

    pub fn has(&self, name: &str) -> bool {
        self.index(name).is_some()
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        let wanted = normalise_header(name);
        self.0.iter().position(|h| *h == wanted)
    }

    /// The cell under `name`, trimmed; empty cells are `None`.
    pub fn get<'r>(&self, row: &'r [String], name: &str) -> Option<&'r str> {
        let value = row.get(self.index(name)?)?.trim();
        (!value.is_empty()).then_some(value)
    }

    pub fn require<'r>(&self, row: &'r [String], name: &str) -> Result<&'r str, BillFileError> {
        self.get(row, name)
            .ok_or_else(|| BillFileError::new(format!("a row has no {name}")))
    }
}

/// Split CSV text into rows of fields (quotes honoured, ragged rows allowed).
pub(crate) fn csv_rows(text: &str) -> Result<Vec<Vec<String>>, BillFileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| BillFileError::new(format!("CSV: {e}")))?;
        rows.push(record.iter().map(str::to_owned).collect());
    }
    Ok(rows)
}
