//! An RFC 5545 iCalendar writer: CRLF line ends, text escaping, and lines folded at 75 octets
//! without splitting a UTF-8 character.
//!
//! Why not the `icalendar` crate: it is built on `chrono` while every instant here is a
//! `time::OffsetDateTime`, so it would bring a second date library and conversions for the
//! dozen properties we write; what matters (escaping, folding, CANCELLED, SEQUENCE) is
//! unit-tested below and every feed in the integration tests is read back by an independent
//! parser (the `ical` crate).

use std::fmt::Write;

use time::OffsetDateTime;

pub struct IcsEvent<'a> {
    pub id: uuid::Uuid,
    pub title: &'a str,
    pub description: &'a str,
    pub starts_at: OffsetDateTime,
    pub ends_at: OffsetDateTime,
    pub location: Option<&'a str>,
    pub online_url: Option<&'a str>,
    pub sequence: i32,
    pub cancelled: bool,
    pub updated_at: OffsetDateTime,
    pub group_name: &'a str,
}

/// `20260501T090000Z`.
fn utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// TEXT values: backslash, semicolon, comma and newlines escaped; other control characters
/// dropped (they are not allowed in a content line).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("\\n");
                }
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded so that no line exceeds 75 octets (continuations start
/// with one space, which counts), never inside a UTF-8 character.
pub fn push_line(out: &mut String, line: &str) {
    const LIMIT: usize = 75;
    let mut start = 0;
    let mut first = true;
    while start < line.len() {
        let budget = if first { LIMIT } else { LIMIT - 1 };
        let mut end = (start + budget).min(line.len());
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        if !first {
            out.push(' ');
        }
        out.push_str(&line[start..end]);
        out.push_str("\r\n");
        start = end;
        first = false;
    }
    if line.is_empty() {
        out.push_str("\r\n");
    }
}

/// A whole calendar.
pub fn calendar(name: &str, events: &[IcsEvent<'_>], now: OffsetDateTime) -> String {
    let mut out = String::new();
    push_line(&mut out, "BEGIN:VCALENDAR");
    push_line(&mut out, "VERSION:2.0");
    push_line(&mut out, "PRODID:-//belong//Business Resource Groups//EN");
    push_line(&mut out, "CALSCALE:GREGORIAN");
    push_line(&mut out, "METHOD:PUBLISH");
    push_line(&mut out, &format!("X-WR-CALNAME:{}", escape(name)));
    for e in events {
        push_line(&mut out, "BEGIN:VEVENT");
        push_line(&mut out, &format!("UID:{}@belong", e.id));
        // DTSTAMP: when this copy was made; LAST-MODIFIED and SEQUENCE tell clients what changed.
        push_line(&mut out, &format!("DTSTAMP:{}", utc(now)));
        push_line(&mut out, &format!("LAST-MODIFIED:{}", utc(e.updated_at)));
        push_line(&mut out, &format!("SEQUENCE:{}", e.sequence));
        push_line(&mut out, &format!("DTSTART:{}", utc(e.starts_at)));
        push_line(&mut out, &format!("DTEND:{}", utc(e.ends_at)));
        push_line(&mut out, &format!("SUMMARY:{}", escape(e.title)));
        let mut description = String::new();
        let _ = write!(description, "{}", e.group_name);
        if !e.description.is_empty() {
            let _ = write!(description, "\n\n{}", e.description);
        }
        push_line(&mut out, &format!("DESCRIPTION:{}", escape(&description)));
        if let Some(location) = e.location {
            push_line(&mut out, &format!("LOCATION:{}", escape(location)));
        }
        if let Some(url) = e.online_url {
            push_line(&mut out, &format!("URL:{url}"));
        }
        push_line(
            &mut out,
            if e.cancelled {
                "STATUS:CANCELLED"
            } else {
                "STATUS:CONFIRMED"
            },
        );
        push_line(&mut out, "END:VEVENT");
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a,b;c\\d\ne\r\nf\u{7}"), "a\\,b\\;c\\\\d\\ne\\nf");
    }

    #[test]
    fn long_lines_fold_at_75_octets_on_character_boundaries() {
        let line = format!("SUMMARY:{}", "Ünïcødé 東京 événement ".repeat(12));
        let mut out = String::new();
        push_line(&mut out, &line);
        let lines: Vec<&str> = out.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert!(lines.len() > 3);
        for (i, l) in lines.iter().enumerate() {
            assert!(l.len() <= 75, "line {i} has {} octets", l.len());
            assert_eq!(l.starts_with(' '), i > 0);
        }
        let unfolded: String = lines
            .iter()
            .enumerate()
            .map(|(i, l)| if i == 0 { *l } else { &l[1..] })
            .collect();
        assert_eq!(unfolded, line);
    }

    #[test]
    fn times_are_utc() {
        let t = time::macros::datetime!(2026-05-01 11:30:05 +02:00);
        assert_eq!(utc(t), "20260501T093005Z");
    }
}
