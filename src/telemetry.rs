//! Logging: a tracing subscriber (pretty or JSON) and the span every request runs in.

use std::fmt;

use axum::extract::MatchedPath;
use axum::http::Request;
use tracing::Span;
use tracing::span::Record;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match settings.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .fmt_fields(SpanFieldsJson),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().compact())
            .try_init(),
    };
}

/// The span of one request: method, route template (never the raw path, which may carry ids),
/// the request id, and the user once known. Every log line of the request carries them.
pub fn request_span<B>(request: &Request<B>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        user_id = tracing::field::Empty,
        status = tracing::field::Empty,
    )
}

/// A span's fields as one JSON object, as `JsonFields` writes them, but a field recorded later
/// (the request span's `user_id` and `status`) is appended to the object instead of parsing it
/// and writing it again whole: `JsonFields` does that on every `record`, which cost about an
/// eighth of a small request's instructions. A field recorded twice appears twice in the
/// stored text; the JSON event formatter reads it into a map, where the later value wins, as
/// with `JsonFields`.
struct SpanFieldsJson;

impl<'writer> FormatFields<'writer> for SpanFieldsJson {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        JsonFields::new().format_fields(writer, fields)
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        let mut added = String::new();
        JsonFields::new().format_fields(Writer::new(&mut added), fields)?;
        current.fields = append_json_object(&current.fields, &added)?;
        Ok(())
    }
}

/// `{"a":1}` and `{"b":2}` make `{"a":1,"b":2}`; either may be empty (`""` or `{}`).
fn append_json_object(current: &str, added: &str) -> Result<String, fmt::Error> {
    let head = match current.strip_suffix('}') {
        Some(head) => head,
        None if current.is_empty() => "{",
        None => return Err(fmt::Error),
    };
    let tail = match added.strip_prefix('{') {
        Some(tail) => tail,
        None if added.is_empty() => "}",
        None => return Err(fmt::Error),
    };
    let comma = if head.ends_with('{') || tail == "}" {
        ""
    } else {
        ","
    };
    Ok(format!("{head}{comma}{tail}"))
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex, PoisonError};

    use serde_json::{Value, json};
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// The `span` object of the one event logged inside a span whose fields are recorded
    /// twice after it began, with the project's fields or with `JsonFields`.
    fn logged_span(ours: bool) -> Value {
        let buffer = Buffer::default();
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(buffer.clone());
        let emit = || {
            let span = tracing::info_span!(
                "request",
                method = "GET",
                route = "/a \"quoted\" {route}",
                user_id = tracing::field::Empty,
                status = tracing::field::Empty,
            );
            let _entered = span.enter();
            span.record("user_id", "u-1");
            span.record("status", 200);
            span.record("status", 404);
            tracing::info!("inside");
        };
        if ours {
            let subscriber = tracing_subscriber::registry().with(layer.fmt_fields(SpanFieldsJson));
            tracing::subscriber::with_default(subscriber, emit);
        } else {
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
        }
        let text = buffer.0.lock().unwrap().clone();
        let line: Value = serde_json::from_slice(&text).unwrap();
        line["span"].clone()
    }

    #[test]
    fn span_fields_recorded_later_are_logged_as_with_json_fields() {
        let ours = logged_span(true);
        assert_eq!(ours, logged_span(false));
        assert_eq!(
            ours,
            json!({"name": "request", "method": "GET", "route": "/a \"quoted\" {route}",
                   "user_id": "u-1", "status": 404})
        );
    }

    #[test]
    fn json_objects_are_appended() {
        let append = |a: &str, b: &str| append_json_object(a, b).unwrap();
        assert_eq!(append(r#"{"a":1}"#, r#"{"b":"}"}"#), r#"{"a":1,"b":"}"}"#);
        assert_eq!(append("{}", r#"{"b":2}"#), r#"{"b":2}"#);
        assert_eq!(append("", r#"{"b":2}"#), r#"{"b":2}"#);
        assert_eq!(append(r#"{"a":1}"#, "{}"), r#"{"a":1}"#);
        assert_eq!(append(r#"{"a":1}"#, ""), r#"{"a":1}"#);
        assert!(append_json_object("not json", "{}").is_err());
    }
}
