//! A minimal JSON object writer: the oracle prints one object per line, and needs nothing more.

use std::fmt::Write;

/// Builds one JSON object, field by field, in insertion order.
#[derive(Debug)]
pub struct Object {
    text: String,
}

impl Default for Object {
    fn default() -> Object {
        Object::new()
    }
}

impl Object {
    /// `{`.
    pub fn new() -> Object {
        Object {
            text: String::from("{"),
        }
    }

    fn key(&mut self, key: &str) -> &mut String {
        if self.text.len() > 1 {
            self.text.push(',');
        }
        push_str(&mut self.text, key);
        self.text.push(':');
        &mut self.text
    }

    /// A string field.
    pub fn str(mut self, key: &str, value: &str) -> Object {
        push_str(self.key(key), value);
        self
    }

    /// A number field.
    pub fn num(mut self, key: &str, value: impl Into<u64>) -> Object {
        let value = value.into();
        let _ = write!(self.key(key), "{value}");
        self
    }

    /// A boolean field.
    pub fn bool(mut self, key: &str, value: bool) -> Object {
        self.key(key).push_str(if value { "true" } else { "false" });
        self
    }

    /// A field holding already-encoded JSON (an object or an array).
    pub fn raw(mut self, key: &str, json: &str) -> Object {
        self.key(key).push_str(json);
        self
    }

    /// `}`: the finished object.
    pub fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

/// A JSON array of already-encoded items.
pub fn array(items: impl IntoIterator<Item = String>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item);
    }
    out.push(']');
    out
}

/// A JSON string literal.
pub fn string(value: &str) -> String {
    let mut out = String::new();
    push_str(&mut out, value);
    out
}

fn push_str(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_arrays_and_escapes() {
        let inner = Object::new().num("n", 3u8).finish();
        let text = Object::new()
            .bool("ok", true)
            .str("error", "a \"quoted\"\n\u{1}")
            .raw("list", &array([inner, string("x")]))
            .finish();
        assert_eq!(
            text,
            r#"{"ok":true,"error":"a \"quoted\"\n\u0001","list":[{"n":3},"x"]}"#
        );
    }
}
