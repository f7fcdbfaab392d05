//! The one CSV writer of the project: RFC 4180 quoting, UTF-8, CRLF line ends, and text cells
//! that a spreadsheet would run as a formula neutralised (OWASP's advice on CSV injection).
//!
//! Why not the `csv` crate: OWASP's advice is to prefix such a cell with an apostrophe *and*
//! wrap it in quotes, and `csv` chooses quoting per writer, not per field, so it can either
//! quote every text cell (changing every report's bytes) or leave the neutralised ones bare.
//! This writer also runs in the export's hot loop (about 190,000 rows a second, see
//! docs/reports-performance.md) without a per-record buffer of its own.

/// One cell: text is neutralised and quoted as needed; numbers are written as they are.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    Text(&'a str),
    Int(i64),
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(s: &'a str) -> Self {
        Cell::Text(s)
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(s: &'a String) -> Self {
        Cell::Text(s)
    }
}

impl From<i64> for Cell<'_> {
    fn from(n: i64) -> Self {
        Cell::Int(n)
    }
}

/// Characters that make a spreadsheet treat a cell as a formula (or hide how it starts).
fn is_trigger(c: char) -> bool {
    matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r' | '\0')
}

/// Appends one record, ending in CRLF.
pub fn write_record<'a>(out: &mut Vec<u8>, cells: impl IntoIterator<Item = Cell<'a>>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match cell {
            Cell::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Cell::Text(text) => write_text(out, text),
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn write_text(out: &mut Vec<u8>, text: &str) {
    let neutralise = text.chars().next().is_some_and(is_trigger);
    let quote = neutralise
        || text.contains([',', '"', '\r', '\n'])
        || text.starts_with(' ')
        || text.ends_with(' ');
    if quote {
        out.push(b'"');
    }
    if neutralise {
        // A leading apostrophe makes spreadsheets read the cell as text.
        out.push(b'\'');
    }
    for ch in text.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\"\""),
            // NUL cannot travel in a spreadsheet cell at all.
            '\0' => out.extend_from_slice("\u{FFFD}".as_bytes()),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    if quote {
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(cells: &[Cell<'_>]) -> String {
        let mut out = Vec::new();
        write_record(&mut out, cells.iter().copied());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain\r\n"),
            ("", "\r\n"),
            ("a,b", "\"a,b\"\r\n"),
            ("say \"hi\"", "\"say \"\"hi\"\"\"\r\n"),
            ("two\nlines", "\"two\nlines\"\r\n"),
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"\r\n",
            ),
            ("+1 555", "\"'+1 555\"\r\n"),
            ("-2+3", "\"'-2+3\"\r\n"),
            ("@SUM(A1)", "\"'@SUM(A1)\"\r\n"),
            ("\tcmd", "\"'\tcmd\"\r\n"),
            ("\rcmd", "\"'\rcmd\"\r\n"),
            ("\0x", "\"'\u{FFFD}x\"\r\n"),
            ("a=b", "a=b\r\n"),
            (" padded ", "\" padded \"\r\n"),
            ("Zoë 東京", "Zoë 東京\r\n"),
        ];
        for (input, expected) in cases {
            assert_eq!(line(&[Cell::Text(input)]), *expected, "{input:?}");
        }
    }

    #[test]
    fn numbers_are_not_neutralised() {
        assert_eq!(
            line(&[Cell::Text("x"), Cell::Int(-3), Cell::Int(12)]),
            "x,-3,12\r\n"
        );
    }
}
