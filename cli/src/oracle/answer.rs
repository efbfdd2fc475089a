//! The oracle's answers as JSON objects (O9; schema `cli/schema/oracle.schema.json`, described
//! in `cli/ORACLE.md`): every object starts with the schema version, `"v":1`, then `"ok"`. An
//! answer is a reply (`"ok":true`, or a rejection: `"ok":false` with the `"rule"` vnet-core
//! refused the input under and its `"error"`), or the error object of malformed input, with a
//! stable `"code"`, the `"rule"` where one applies, where it was (`"line"` or `"record"`) and a
//! `"message"`.

use std::fmt;

use serde_json::{Map, Value};

/// The schema version every answer carries as `"v"`. A change that could break a reader (a
/// field renamed, removed or retyped) raises it; new fields do not.
pub const SCHEMA_VERSION: u64 = 1;

/// An answer's fields, in order.
pub type Fields = Map<String, Value>;

/// A new answer's first fields: `"v"` and `"ok"`.
pub fn fields(ok: bool) -> Fields {
    let mut m = Map::new();
    m.insert("v".into(), SCHEMA_VERSION.into());
    m.insert("ok".into(), ok.into());
    m
}

/// What kind of malformed input, as a stable snake_case word (the `"code"` of an error object).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A character that is not a hex digit (nor a space, tab or `:` between bytes).
    HexDigit,
    /// An odd number of hex digits.
    HexOddLength,
    /// A line longer than 262,144 bytes (O1).
    LineTooLong,
    /// A line that is not UTF-8 text (O2).
    NotUtf8,
    /// A `coalesce` batch or capture over 1,000,000 packets or 64 MiB (O3).
    BatchTooLarge,
    /// A capture that cannot be read: not pcap or pcapng, a link type other than raw IP or
    /// Ethernet, a record cut short or over its limits (O4).
    BadCapture,
    /// A virtio-net header that cannot be read (a frame shorter than the layout) or written in
    /// the chosen layout.
    BadHeader,
    /// A captured packet `segment --pcap-in` cannot make a GSO request of (not IPv4/IPv6 with
    /// TCP or UDP, or its headers cut short).
    NotSegmentable,
    /// GRO refused a batch the oracle prepared (a bug in vnet, reported instead of a panic:
    /// no input is known to reach it).
    CoalesceFailed,
}

impl ErrorCode {
    /// Every code, for the documentation and its test.
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::HexDigit,
        ErrorCode::HexOddLength,
        ErrorCode::LineTooLong,
        ErrorCode::NotUtf8,
        ErrorCode::BatchTooLarge,
        ErrorCode::BadCapture,
        ErrorCode::BadHeader,
        ErrorCode::NotSegmentable,
        ErrorCode::CoalesceFailed,
    ];

    /// The word in `"code"`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::HexDigit => "hex_digit",
            ErrorCode::HexOddLength => "hex_odd_length",
            ErrorCode::LineTooLong => "line_too_long",
            ErrorCode::NotUtf8 => "not_utf8",
            ErrorCode::BatchTooLarge => "batch_too_large",
            ErrorCode::BadCapture => "bad_capture",
            ErrorCode::BadHeader => "bad_header",
            ErrorCode::NotSegmentable => "not_segmentable",
            ErrorCode::CoalesceFailed => "coalesce_failed",
        }
    }

    /// The `spec/RULES.md` id of the bound it enforces, if any.
    pub fn rule(self) -> Option<&'static str> {
        match self {
            ErrorCode::LineTooLong => Some("O1"),
            ErrorCode::NotUtf8 => Some("O2"),
            ErrorCode::BatchTooLarge => Some("O3"),
            ErrorCode::BadCapture => Some("O4"),
            _ => None,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Malformed input: a code and a message for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// What kind.
    pub code: ErrorCode,
    /// What exactly, for a person (a bound's message starts with its rule id: `O1: ...`).
    pub message: String,
}

impl InputError {
    /// An error of `code` saying `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> InputError {
        InputError {
            code,
            message: message.into(),
        }
    }

    /// The error object: `{"v":1,"ok":false,"code":...,"rule":...,"line":N,"message":...}`,
    /// `"rule"` only where one applies, the place only where known.
    pub fn to_json(&self, at: Option<At>) -> String {
        let mut m = fields(false);
        m.insert("code".into(), self.code.name().into());
        if let Some(rule) = self.code.rule() {
            m.insert("rule".into(), rule.into());
        }
        match at {
            Some(At::Line(n)) => m.insert("line".into(), n.into()),
            Some(At::Record(n)) => m.insert("record".into(), n.into()),
            None => None,
        };
        m.insert("message".into(), self.message.as_str().into());
        Value::Object(m).to_string()
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

/// Where malformed input was: an input line (from 1) or a capture record (from 0, as the
/// capture errors of O4 count them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// An input line, numbered from 1.
    Line(usize),
    /// A capture record, numbered from 0.
    Record(usize),
}

/// One answer: a reply, or malformed input (which makes the program's exit status 1 while the
/// other lines are still answered).
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// `"ok":true`, or a rejection naming its rule.
    Reply(Fields),
    /// The input could not be read as what it should be.
    Malformed(InputError),
}

impl Answer {
    /// Malformed input of `code`.
    pub fn malformed(code: ErrorCode, message: impl Into<String>) -> Answer {
        Answer::Malformed(InputError::new(code, message))
    }

    /// Whether the input was malformed.
    pub fn is_malformed(&self) -> bool {
        matches!(self, Answer::Malformed(_))
    }

    /// The same reply, naming the kernel profile that gave it as its last field, `"kernel"`;
    /// an error object is left as it is (malformed input was judged by no kernel).
    pub fn with_kernel(mut self, label: &str) -> Answer {
        if let Answer::Reply(m) = &mut self {
            m.insert("kernel".into(), label.into());
        }
        self
    }

    /// The JSON line, malformed input placed `at`.
    pub fn to_json(&self, at: Option<At>) -> String {
        match self {
            Answer::Reply(m) => Value::Object(m.clone()).to_string(),
            Answer::Malformed(e) => e.to_json(at),
        }
    }
}

impl From<InputError> for Answer {
    fn from(e: InputError) -> Answer {
        Answer::Malformed(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_objects_have_code_rule_place_and_message() {
        let e = InputError::new(ErrorCode::LineTooLong, "O1: too long");
        assert_eq!(
            e.to_json(Some(At::Line(3))),
            r#"{"v":1,"ok":false,"code":"line_too_long","rule":"O1","line":3,"message":"O1: too long"}"#
        );
        let e = InputError::new(ErrorCode::HexDigit, "a \"quoted\"\n\u{1}");
        assert_eq!(
            e.to_json(None),
            r#"{"v":1,"ok":false,"code":"hex_digit","message":"a \"quoted\"\n\u0001"}"#
        );
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "codes are distinct");
        assert!(names.iter().all(|n| {
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }));
    }

    #[test]
    fn replies_start_with_the_version_and_end_with_the_kernel() {
        let mut m = fields(true);
        m.insert("sum".into(), "ffff".into());
        let reply = Answer::Reply(m).with_kernel("linux-6.18");
        assert_eq!(
            reply.to_json(None),
            r#"{"v":1,"ok":true,"sum":"ffff","kernel":"linux-6.18"}"#
        );
        let bad = Answer::malformed(ErrorCode::NotUtf8, "O2: x").with_kernel("linux-6.18");
        assert!(bad.is_malformed());
        assert!(!bad.to_json(Some(At::Record(0))).contains("kernel"));
    }
}
