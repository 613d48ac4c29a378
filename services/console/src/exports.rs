//! Tables people take away: the same rows a page shows, as CSV (UTF-8 with a byte order mark,
//! so Excel shows Korean) or as an `.xlsx` workbook with one sheet per table, numbers kept as
//! numbers. Headers are in the person's language; names stand where ids would.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use axv_platform::text::defuse_formula;
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::format::{grouped, hours_precise};

/// One cell: text, a whole number (counts, won), or compute in base seconds shown as hours.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Whole(i64),
    Hours(i64),
}

impl Cell {
    /// As a page shows it: `1,234`, `2,214.7`.
    pub fn shown(&self) -> String {
        match self {
            Cell::Text(text) => text.clone(),
            Cell::Whole(n) => grouped(*n),
            Cell::Hours(seconds) => shown_hours(*seconds),
        }
    }

    /// Whether a page right-aligns it.
    pub fn is_number(&self) -> bool {
        !matches!(self, Cell::Text(_))
    }

    /// As a CSV field: numbers without separators, so a spreadsheet reads them as numbers.
    fn csv(&self) -> String {
        match self {
            Cell::Text(text) => csv_text(text),
            Cell::Whole(n) => n.to_string(),
            Cell::Hours(seconds) => shown_hours(*seconds).replace(',', ""),
        }
    }
}

/// Whole hours as such (`105,000`); anything else keeps one decimal (`2,214.7`).
fn shown_hours(seconds: i64) -> String {
    if seconds % 3600 == 0 {
        grouped(seconds / 3600)
    } else {
        hours_precise(seconds)
    }
}

/// A table with its sheet name (at most 31 characters, as Excel allows) and headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// What the table is called, on the page and as its sheet's name.
    pub title: String,
    /// The part of its CSV file's name (`figures-<slug>.csv`), ASCII.
    pub slug: &'static str,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// Per column, whether it holds numbers (right-aligned, header too), read off the first row.
    pub fn numeric_columns(&self) -> Vec<bool> {
        let first = self.rows.first();
        (0..self.headers.len())
            .map(|col| {
                first
                    .and_then(|row| row.get(col))
                    .is_some_and(Cell::is_number)
            })
            .collect()
    }
}

/// A CSV field of free text (names, notes): quoted as needed, and kept as text if a
/// spreadsheet would run it as a formula.
pub fn csv_text(text: &str) -> String {
    csv_field(&defuse_formula(text))
}

/// One CSV field, quoted when it holds a separator, a quote or a line break.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The byte order mark and the header line of a CSV file.
pub fn csv_start(headers: &[String]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(
        &headers
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("\r\n");
    out
}

pub fn csv(table: &Table) -> String {
    let mut out = csv_start(&table.headers);
    for row in &table.rows {
        out.push_str(&row.iter().map(Cell::csv).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// A sheet name Excel accepts: without `[]:*?/\`, at most 31 characters.
fn sheet_name(title: &str) -> String {
    title
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { ' ' } else { c })
        .take(31)
        .collect()
}

/// The tables as one workbook, a sheet each, headers in bold, numbers as numbers.
pub fn xlsx(tables: &[Table]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let whole = Format::new().set_num_format("#,##0");
    let hours = Format::new().set_num_format("#,##0.0");
    for table in tables {
        let sheet = workbook.add_worksheet();
        sheet.set_name(sheet_name(&table.title))?;
        for (col, header) in (0u16..).zip(&table.headers) {
            sheet.write_string_with_format(0, col, header, &bold)?;
            sheet.set_column_width(col, if col == 0 { 28 } else { 16 })?;
        }
        for (row, cells) in (1u32..).zip(&table.rows) {
            for (col, cell) in (0u16..).zip(cells) {
                match cell {
                    Cell::Text(text) => sheet.write_string(row, col, text)?,
                    Cell::Whole(n) => {
                        sheet.write_number_with_format(row, col, *n as f64, &whole)?
                    }
                    Cell::Hours(seconds) => sheet.write_number_with_format(
                        row,
                        col,
                        (*seconds as f64 / 360.0).round() / 10.0,
                        &hours,
                    )?,
                };
            }
        }
        sheet.set_freeze_panes(1, 0)?;
    }
    workbook.save_to_buffer()
}

/// A file to download: its type and name (ASCII: a name of other letters is refused by some
/// browsers in a plain `filename`).
pub fn download(content_type: &'static str, filename: &str, body: impl IntoResponse) -> Response {
    let filename: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response()
}

pub const CSV: &str = "text/csv; charset=utf-8";
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            title: "기업별: 성과 [2026]".into(),
            slug: "companies",
            headers: vec!["기업".into(), "매출 (₩)".into(), "GPU 시간".into()],
            rows: vec![
                vec![
                    Cell::Text("광주, \"비전\"".into()),
                    Cell::Whole(1_234_000),
                    Cell::Hours(5_400),
                ],
                vec![
                    Cell::Text("=HYPERLINK(\"x\")".into()),
                    Cell::Whole(0),
                    Cell::Hours(0),
                ],
            ],
        }
    }

    #[test]
    fn csv_has_a_bom_quotes_and_plain_numbers() {
        let text = csv(&table());
        assert!(text.starts_with('\u{feff}'));
        let lines: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert_eq!(lines[0], "기업,매출 (₩),GPU 시간");
        assert_eq!(lines[1], "\"광주, \"\"비전\"\"\",1234000,1.5");
        // A name a spreadsheet would run as a formula stays text.
        assert_eq!(lines[2], "\"'=HYPERLINK(\"\"x\"\")\",0,0");
    }

    #[test]
    fn sheet_names_are_ones_excel_accepts() {
        assert_eq!(sheet_name("기업별: 성과 [2026]"), "기업별  성과  2026 ");
        assert_eq!(sheet_name(&"가".repeat(40)).chars().count(), 31);
    }

    #[test]
    fn shown_cells_read_as_people_write_numbers() {
        assert_eq!(Cell::Whole(1_234_000).shown(), "1,234,000");
        assert_eq!(Cell::Hours(5_400).shown(), "1.5");
        assert_eq!(Cell::Hours(3_600 * 105_000).shown(), "105,000");
        assert_eq!(table().numeric_columns(), [false, true, true]);
        assert!(xlsx(&[table()]).is_ok_and(|bytes| bytes.starts_with(b"PK")));
    }
}
