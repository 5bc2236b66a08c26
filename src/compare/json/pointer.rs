//! JSON Pointers (RFC 6901) as rule paths, with `*` as a wildcard token.
//!
//! A rule path is `""` (the whole body) or a sequence of `/`-prefixed
//! tokens, where `~1` stands for `/` and `~0` for `~`. A token matches an
//! object member of that name or, when it is a decimal index, the array
//! element at that index. The token `*` (exactly) matches any member or
//! element; there is no way to name a member literally called `*`.

use std::fmt;

/// One token of a rule path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Token {
    /// A member name or array index, unescaped.
    Key(Box<str>),
    /// `*`: any member or element.
    Any,
}

/// Why a rule path is not a JSON Pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PointerError {
    pointer: String,
    reason: &'static str,
}

impl fmt::Display for PointerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid JSON Pointer {:?}: {}",
            self.pointer, self.reason
        )
    }
}

impl std::error::Error for PointerError {}

/// Splits a rule path into tokens.
pub(crate) fn parse(pointer: &str) -> Result<Vec<Token>, PointerError> {
    let error = |reason| PointerError {
        pointer: pointer.to_owned(),
        reason,
    };
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(error("must be empty or start with `/`"));
    };
    rest.split('/')
        .map(|token| {
            if token == "*" {
                return Ok(Token::Any);
            }
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                match c {
                    '~' => match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err(error("`~` must be followed by `0` or `1`")),
                    },
                    c => out.push(c),
                }
            }
            Ok(Token::Key(out.into()))
        })
        .collect()
}

/// Appends `/` and `key` escaped as a JSON Pointer token.
pub(crate) fn push_token(out: &mut String, key: &str) {
    out.push('/');
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// The array index a token names, if it is one (`0`, `17`; not `01`, `-1`).
pub(crate) fn as_index(token: &str) -> Option<usize> {
    let canonical = token == "0" || !token.starts_with('0');
    if canonical && !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
        token.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Token {
        Token::Key(k.into())
    }

    #[test]
    fn parses_rfc6901_with_wildcards() {
        assert_eq!(parse("").unwrap(), []);
        assert_eq!(parse("/").unwrap(), [key("")]);
        assert_eq!(
            parse("/items/*/price").unwrap(),
            [key("items"), Token::Any, key("price")]
        );
        assert_eq!(
            parse("/a~1b/m~0n/~01").unwrap(),
            [key("a/b"), key("m~n"), key("~1")]
        );
        assert_eq!(parse("/**/x*").unwrap(), [key("**"), key("x*")]);
    }

    #[test]
    fn rejects_bad_pointers() {
        for bad in ["items", "/a~", "/a~2", "#/a"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("a/b").unwrap_err().to_string(),
            r#"invalid JSON Pointer "a/b": must be empty or start with `/`"#
        );
    }

    #[test]
    fn escapes_round_trip() {
        let mut out = String::new();
        push_token(&mut out, "a/b~c");
        assert_eq!(out, "/a~1b~0c");
        assert_eq!(parse(&out).unwrap(), [key("a/b~c")]);
    }

    #[test]
    fn indexes() {
        assert_eq!(as_index("0"), Some(0));
        assert_eq!(as_index("17"), Some(17));
        assert_eq!(as_index("01"), None);
        assert_eq!(as_index("-1"), None);
        assert_eq!(as_index(""), None);
        assert_eq!(as_index("99999999999999999999999"), None);
    }
}
