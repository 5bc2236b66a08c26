//! A borrowed JSON tree, laid out flat ("tape"), built without recursion.
//!
//! The whole document is one `Vec<Node>`: a container is followed by its
//! descendants and knows where they end, so a sibling is one jump away and
//! parsing needs one allocation. Strings and numbers stay slices of the
//! source: numbers keep their text (compared exactly, see `number`), and
//! strings are unescaped only when a comparison needs it.
//!
//! Parsing is iterative with an explicit stack, so no input can overflow the
//! call stack; nesting deeper than the caller's limit is an error, which
//! also bounds the recursion of the comparison that walks the tree.

use std::borrow::Cow;
use std::fmt;

/// One node of a [`Tape`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    /// The number's text, validated against the JSON grammar.
    Number(&'a str),
    String(Str<'a>),
    /// An object member's name; its value is the next node.
    Key(Str<'a>),
    /// `len` elements follow; `end` is the index after the last descendant;
    /// `from..to` is the array's text in the source.
    Array {
        len: u32,
        end: u32,
        from: u32,
        to: u32,
    },
    /// `len` members (key, value) follow; otherwise as `Array`.
    Object {
        len: u32,
        end: u32,
        from: u32,
        to: u32,
    },
}

/// A JSON string as written between its quotes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Str<'a> {
    /// The text between the quotes, escapes included.
    pub(crate) raw: &'a str,
    /// Whether `raw` holds a backslash escape.
    pub(crate) escaped: bool,
}

impl<'a> Str<'a> {
    /// The string's value, unescaped (borrowed when there was no escape).
    pub(crate) fn decode(&self) -> Cow<'a, str> {
        if self.escaped {
            Cow::Owned(unescape(self.raw))
        } else {
            Cow::Borrowed(self.raw)
        }
    }

    /// Whether the two strings have the same value.
    pub(crate) fn same(&self, other: &Str<'_>) -> bool {
        if self.raw == other.raw {
            true
        } else if !self.escaped && !other.escaped {
            false
        } else {
            self.decode() == other.decode()
        }
    }
}

/// A parsed document.
#[derive(Debug)]
pub(crate) struct Tape<'a> {
    pub(crate) src: &'a str,
    pub(crate) nodes: Vec<Node<'a>>,
}

impl<'a> Tape<'a> {
    /// The index after `i` and all its descendants.
    pub(crate) fn after(&self, i: usize) -> usize {
        match self.nodes[i] {
            Node::Array { end, .. } | Node::Object { end, .. } => end as usize,
            _ => i + 1,
        }
    }

    /// The number of leaves under `i` (scalars and empty containers), `1`
    /// for a scalar.
    pub(crate) fn leaves(&self, i: usize) -> u64 {
        let is_leaf = |n: &Node<'_>| match n {
            Node::Key(_) => false,
            Node::Array { len, .. } | Node::Object { len, .. } => *len == 0,
            _ => true,
        };
        self.nodes[i..self.after(i)]
            .iter()
            .filter(|n| is_leaf(n))
            .count() as u64
    }

    /// The JSON text of node `i`, as written (containers: from the source).
    pub(crate) fn text(&self, i: usize) -> Cow<'a, str> {
        match self.nodes[i] {
            Node::Null => Cow::Borrowed("null"),
            Node::Bool(true) => Cow::Borrowed("true"),
            Node::Bool(false) => Cow::Borrowed("false"),
            Node::Number(n) => Cow::Borrowed(n),
            Node::String(s) | Node::Key(s) => Cow::Owned(format!("\"{}\"", s.raw)),
            Node::Array { from, to, .. } | Node::Object { from, to, .. } => {
                Cow::Owned(minify(&self.src[from as usize..to as usize]))
            }
        }
    }
}

/// Shown values are shortened anyway: stop minifying a little past that.
const MINIFY_LIMIT: usize = crate::compare::Difference::MAX_VALUE + 4;

/// `json` without the whitespace outside strings, cut near `MINIFY_LIMIT`.
fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len().min(MINIFY_LIMIT + 4));
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if out.len() > MINIFY_LIMIT {
            break;
        }
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// Why a body is not a JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParseError {
    kind: ParseErrorKind,
    /// Byte offset in the body.
    at: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ParseErrorKind {
    NotUtf8,
    Expected(&'static str),
    Eof,
    Number,
    Escape,
    Control,
    Trailing,
    TooDeep(usize),
    TooLarge,
}

impl ParseError {
    /// Whether the error is the nesting limit rather than bad syntax.
    #[cfg(test)]
    fn is_too_deep(&self) -> bool {
        matches!(self.kind, ParseErrorKind::TooDeep(_))
    }

    /// Whether the body is not UTF-8 text at all.
    pub(crate) fn is_binary(&self) -> bool {
        matches!(self.kind, ParseErrorKind::NotUtf8)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at;
        match &self.kind {
            ParseErrorKind::NotUtf8 => write!(f, "not UTF-8 (invalid byte at {at})"),
            ParseErrorKind::Expected(what) => {
                write!(f, "invalid JSON: expected {what} at byte {at}")
            }
            ParseErrorKind::Eof => write!(f, "invalid JSON: unexpected end at byte {at}"),
            ParseErrorKind::Number => write!(f, "invalid JSON: bad number at byte {at}"),
            ParseErrorKind::Escape => write!(f, "invalid JSON: bad escape at byte {at}"),
            ParseErrorKind::Control => {
                write!(f, "invalid JSON: control character in string at byte {at}")
            }
            ParseErrorKind::Trailing => {
                write!(f, "invalid JSON: trailing characters at byte {at}")
            }
            ParseErrorKind::TooDeep(limit) => {
                write!(f, "JSON nested deeper than {limit} levels (at byte {at})")
            }
            ParseErrorKind::TooLarge => write!(f, "body too large to compare as JSON"),
        }
    }
}

struct Frame {
    node: usize,
    len: u32,
    object: bool,
    from: u32,
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    nodes: Vec<Node<'a>>,
}

/// Parses `body` as one JSON document nested at most `max_depth` deep.
pub(crate) fn parse(body: &[u8], max_depth: usize) -> Result<Tape<'_>, ParseError> {
    let src = std::str::from_utf8(body).map_err(|e| ParseError {
        kind: ParseErrorKind::NotUtf8,
        at: e.valid_up_to(),
    })?;
    if u32::try_from(body.len()).is_err() {
        return Err(ParseError {
            kind: ParseErrorKind::TooLarge,
            at: 0,
        });
    }
    let mut p = Parser {
        src,
        b: src.as_bytes(),
        pos: 0,
        nodes: Vec::with_capacity(body.len() / 8 + 4),
    };
    p.document(max_depth)?;
    Ok(Tape {
        src,
        nodes: p.nodes,
    })
}

impl<'a> Parser<'a> {
    fn error<T>(&self, kind: ParseErrorKind) -> Result<T, ParseError> {
        Err(ParseError { kind, at: self.pos })
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Result<u8, ParseError> {
        match self.b.get(self.pos) {
            Some(&c) => Ok(c),
            None => self.error(ParseErrorKind::Eof),
        }
    }

    fn document(&mut self, max_depth: usize) -> Result<(), ParseError> {
        let mut stack: Vec<Frame> = Vec::new();
        self.skip_ws();
        'value: loop {
            // A value starts here.
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    let object = open == b'{';
                    if stack.len() >= max_depth {
                        return self.error(ParseErrorKind::TooDeep(max_depth));
                    }
                    let node = self.nodes.len();
                    let from = self.pos as u32;
                    self.nodes.push(Node::Null);
                    self.pos += 1;
                    self.skip_ws();
                    let close = if object { b'}' } else { b']' };
                    if self.peek()? == close {
                        self.pos += 1;
                        self.finish(node, 0, object, from);
                    } else {
                        stack.push(Frame {
                            node,
                            len: 0,
                            object,
                            from,
                        });
                        if object {
                            self.member_key()?;
                        }
                        continue 'value;
                    }
                }
                b'"' => {
                    let s = self.string()?;
                    self.nodes.push(Node::String(s));
                }
                b't' => self.literal("true", Node::Bool(true))?,
                b'f' => self.literal("false", Node::Bool(false))?,
                b'n' => self.literal("null", Node::Null)?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return self.error(ParseErrorKind::Expected("a value")),
            }
            // A value ended: close the containers it completes.
            loop {
                let Some(frame) = stack.last_mut() else {
                    self.skip_ws();
                    if self.pos != self.b.len() {
                        return self.error(ParseErrorKind::Trailing);
                    }
                    return Ok(());
                };
                frame.len += 1;
                let object = frame.object;
                self.skip_ws();
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        self.skip_ws();
                        if object {
                            self.member_key()?;
                        }
                        continue 'value;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ if object => return self.error(ParseErrorKind::Expected("`,` or `}`")),
                    _ => return self.error(ParseErrorKind::Expected("`,` or `]`")),
                }
                self.pos += 1;
                if let Some(Frame {
                    node,
                    len,
                    object,
                    from,
                }) = stack.pop()
                {
                    self.finish(node, len, object, from);
                }
            }
        }
    }

    fn finish(&mut self, node: usize, len: u32, object: bool, from: u32) {
        let end = self.nodes.len() as u32;
        let to = self.pos as u32;
        self.nodes[node] = if object {
            Node::Object { len, end, from, to }
        } else {
            Node::Array { len, end, from, to }
        };
    }

    /// An object member's name and the `:` after it.
    fn member_key(&mut self) -> Result<(), ParseError> {
        if self.peek()? != b'"' {
            return self.error(ParseErrorKind::Expected("a string key"));
        }
        let key = self.string()?;
        self.nodes.push(Node::Key(key));
        self.skip_ws();
        if self.peek()? != b':' {
            return self.error(ParseErrorKind::Expected("`:`"));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    fn literal(&mut self, word: &'static str, node: Node<'a>) -> Result<(), ParseError> {
        if self.b[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            self.nodes.push(node);
            Ok(())
        } else {
            self.error(ParseErrorKind::Expected("a value"))
        }
    }

    fn string(&mut self) -> Result<Str<'a>, ParseError> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.skip_plain();
            let Some(&c) = self.b.get(self.pos) else {
                return self.error(ParseErrorKind::Eof);
            };
            match c {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.pos += 1;
                    match self.b.get(self.pos) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1;
                        }
                        Some(b'u') => {
                            let hex = self.b.get(self.pos + 1..self.pos + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return self.error(ParseErrorKind::Escape);
                            }
                            self.pos += 5;
                        }
                        Some(_) => return self.error(ParseErrorKind::Escape),
                        None => return self.error(ParseErrorKind::Eof),
                    }
                }
                0..=0x1f => return self.error(ParseErrorKind::Control),
                _ => self.pos += 1,
            }
        }
        let raw = &self.src[start..self.pos];
        self.pos += 1;
        Ok(Str { raw, escaped })
    }

    /// Skips string bytes that need no attention (not a quote, a backslash
    /// or a control character), eight at a time.
    fn skip_plain(&mut self) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let has_byte = |w: u64, b: u8| {
            let x = w ^ (ONES * u64::from(b));
            x.wrapping_sub(ONES) & !x & HIGHS
        };
        while let Some(chunk) = self.b.get(self.pos..self.pos + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let w = u64::from_le_bytes(word);
            // Some byte below 0x20 (the classic "has less than" test).
            let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
            if has_byte(w, b'"') | has_byte(w, b'\\') | control != 0 {
                break;
            }
            self.pos += 8;
        }
    }

    fn number(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.b.get(p.pos).is_some_and(u8::is_ascii_digit) {
                p.pos += 1;
            }
            p.pos - from
        };
        if self.b[self.pos] == b'-' {
            self.pos += 1;
        }
        match self.b.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return self.error(ParseErrorKind::Number),
        }
        if self.b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return self.error(ParseErrorKind::Number);
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.b.get(self.pos) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return self.error(ParseErrorKind::Number);
            }
        }
        self.nodes.push(Node::Number(&self.src[start..self.pos]));
        Ok(())
    }
}

/// Decodes the escapes of a validated JSON string; a lone surrogate becomes
/// U+FFFD.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let b = rest.as_bytes();
        let (c, used) = match b.get(i + 1) {
            Some(b'n') => ('\n', 2),
            Some(b't') => ('\t', 2),
            Some(b'r') => ('\r', 2),
            Some(b'b') => ('\u{8}', 2),
            Some(b'f') => ('\u{c}', 2),
            Some(b'u') => {
                let hi = hex4(&rest[i + 2..]);
                match hi {
                    Some(hi @ 0xD800..=0xDBFF) => {
                        let lo = rest[i + 6..]
                            .strip_prefix("\\u")
                            .and_then(hex4)
                            .filter(|lo| (0xDC00..=0xDFFF).contains(lo));
                        match lo {
                            Some(lo) => {
                                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                (char::from_u32(c).unwrap_or('\u{FFFD}'), 12)
                            }
                            None => ('\u{FFFD}', 6),
                        }
                    }
                    Some(c) => (char::from_u32(c).unwrap_or('\u{FFFD}'), 6),
                    None => ('\u{FFFD}', 2),
                }
            }
            Some(&other) => (other as char, 2),
            None => ('\u{FFFD}', 1),
        };
        out.push(c);
        rest = rest.get(i + used..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

fn hex4(s: &str) -> Option<u32> {
    let digits = s.get(..4)?;
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(json: &str) -> Tape<'_> {
        parse(json.as_bytes(), 128).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn err(json: &[u8]) -> String {
        parse(json, 128).unwrap_err().to_string()
    }

    #[test]
    fn parses_every_kind_of_value() {
        let t = ok(r#" {"a": [1, -2.5e3, "x\"y", true, false, null, {}, []], "b": {"c": 0}} "#);
        assert!(matches!(t.nodes[0], Node::Object { len: 2, .. }));
        assert_eq!(t.after(0), t.nodes.len());
        assert_eq!(t.leaves(0), 9);
        assert!(matches!(t.nodes[1], Node::Key(Str { raw: "a", .. })));
        assert!(matches!(t.nodes[2], Node::Array { len: 8, .. }));
        assert!(matches!(t.nodes[4], Node::Number("-2.5e3")));
        assert_eq!(t.text(2), r#"[1,-2.5e3,"x\"y",true,false,null,{},[]]"#);
        assert_eq!(t.text(5), r#""x\"y""#);
    }

    #[test]
    fn scalars_at_the_root() {
        for json in ["1", " \"s\" ", "null", "true", "-0.0e-0"] {
            assert_eq!(ok(json).nodes.len(), 1);
        }
    }

    #[test]
    fn rejects_what_json_rejects() {
        for bad in [
            &b""[..],
            b"{",
            b"[1,]",
            b"{\"a\" 1}",
            b"{\"a\":1,}",
            b"{1:2}",
            b"01",
            b"1.",
            b"-",
            b"1e",
            b".5",
            b"+1",
            b"tru",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"a\nb\"",
            b"[1] 2",
            b"NaN",
            b"\"abc",
        ] {
            assert!(
                parse(bad, 128).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(err(b"[1,]"), "invalid JSON: expected a value at byte 3");
        assert_eq!(
            err(b"{\"a\":1]"),
            "invalid JSON: expected `,` or `}` at byte 6"
        );
        assert_eq!(err(b"\xff"), "not UTF-8 (invalid byte at 0)");
        assert!(parse(b"\xff", 1).unwrap_err().is_binary());
    }

    #[test]
    fn depth_is_limited_without_recursion() {
        let deep = "[".repeat(1_000_000);
        let e = parse(deep.as_bytes(), 128).unwrap_err();
        assert!(e.is_too_deep());
        assert_eq!(
            e.to_string(),
            "JSON nested deeper than 128 levels (at byte 128)"
        );
        let fits = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(parse(fits.as_bytes(), 128).is_ok());
        let deeper = format!("{}{}", "[".repeat(129), "]".repeat(129));
        assert!(parse(deeper.as_bytes(), 128).unwrap_err().is_too_deep());
    }

    #[test]
    fn unescapes_lazily_and_exactly() {
        let t = ok(r#"["caf\u00e9 \ud83d\ude00 \n\/\\", "\ud800x", "plain"]"#);
        let Node::String(s) = t.nodes[1] else {
            panic!()
        };
        assert_eq!(s.decode(), "café 😀 \n/\\");
        let Node::String(s) = t.nodes[2] else {
            panic!()
        };
        assert_eq!(s.decode(), "\u{FFFD}x");
        let Node::String(s) = t.nodes[3] else {
            panic!()
        };
        assert!(matches!(s.decode(), Cow::Borrowed("plain")));
        let a = Str {
            raw: "é",
            escaped: false,
        };
        let b = Str {
            raw: "\\u00E9",
            escaped: true,
        };
        assert!(a.same(&b) && b.same(&a));
        assert!(!a.same(&Str {
            raw: "e",
            escaped: false
        }));
    }

    #[test]
    fn the_fast_string_scan_stops_at_every_special_byte() {
        for at in 0..20 {
            let pad = "é".repeat(at / 2) + &"x".repeat(at % 2);
            // A quote ends the string wherever it falls.
            let two = format!(r#"["{pad}","{pad}"]"#);
            assert!(
                matches!(ok(&two).nodes[0], Node::Array { len: 2, .. }),
                "{two}"
            );
            // An escape is seen wherever it falls.
            let escaped = format!(r#"["{pad}\"{pad}"]"#);
            let Node::String(s) = ok(&escaped).nodes[1] else {
                panic!()
            };
            assert_eq!(s.decode(), format!("{pad}\"{pad}"));
            // So is a control character.
            let control = format!("[\"{pad}\u{1f}{pad}\"]");
            assert!(parse(control.as_bytes(), 4).is_err(), "{control:?}");
        }
    }

    #[test]
    fn minify_keeps_strings() {
        assert_eq!(
            minify("{ \"a b\" : [ 1 , \"\\\" x\" ] }"),
            "{\"a b\":[1,\"\\\" x\"]}"
        );
    }
}
