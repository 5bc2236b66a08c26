use http::header::HeaderName;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which response headers (and trailers) a comparator compares.
///
/// Either every header except the framing ones ([`HeaderRules::all`], the
/// default of [`JsonComparator`](super::JsonComparator)), or only those
/// listed ([`HeaderRules::only`], `content-type` and `grpc-status` in
/// [`Standard`](super::Standard)); in both cases minus the ignored ones.
/// Names are case-insensitive. Each compared header that either side sends
/// is one unit of the score; a header's values are compared in order,
/// exactly.
///
/// In a serde config: `{"only": ["content-type"], "ignore": ["date"]}`;
/// both fields may be left out (`only` absent: every header). An invalid
/// header name is an error there; in the builder methods it is logged with
/// `tracing::warn!` and skipped.
///
/// ```
/// use http::HeaderName;
/// use tower_shadow::compare::HeaderRules;
///
/// let rules = HeaderRules::all().ignore("date").ignore("X-Request-Id");
/// assert!(rules.compares(&HeaderName::from_static("cache-control")));
/// assert!(!rules.compares(&HeaderName::from_static("x-request-id")));
/// assert!(!rules.compares(&HeaderName::from_static("content-length")));
///
/// let rules = HeaderRules::only(["content-type", "etag"]);
/// assert!(rules.compares(&HeaderName::from_static("etag")));
/// assert!(!rules.compares(&HeaderName::from_static("date")));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Repr", into = "Repr")]
pub struct HeaderRules {
    only: Option<Vec<HeaderName>>,
    ignore: Vec<HeaderName>,
}

/// Never compared by [`HeaderRules::all`]: they describe the connection and
/// the framing of the body, not the answer.
fn is_framing(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "content-length"
            | "keep-alive"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

impl HeaderRules {
    /// Every header, except those that only frame the message
    /// (`connection`, `content-length`, `keep-alive`, `te`, `trailer`,
    /// `transfer-encoding`, `upgrade`).
    ///
    /// ```
    /// use http::header::{CONTENT_LENGTH, DATE};
    /// use tower_shadow::compare::HeaderRules;
    ///
    /// assert!(HeaderRules::all().compares(&DATE));
    /// assert!(!HeaderRules::all().compares(&CONTENT_LENGTH));
    /// ```
    pub fn all() -> Self {
        Self {
            only: None,
            ignore: Vec::new(),
        }
    }

    /// Only the headers named.
    ///
    /// ```
    /// use http::header::{CONTENT_TYPE, DATE};
    /// use tower_shadow::compare::HeaderRules;
    ///
    /// let rules = HeaderRules::only(["Content-Type"]);
    /// assert!(rules.compares(&CONTENT_TYPE) && !rules.compares(&DATE));
    /// ```
    pub fn only<I>(names: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self {
            only: Some(names.into_iter().filter_map(|n| name(n.as_ref())).collect()),
            ignore: Vec::new(),
        }
    }

    /// No header at all.
    ///
    /// ```
    /// use http::header::CONTENT_TYPE;
    /// use tower_shadow::compare::HeaderRules;
    ///
    /// assert!(!HeaderRules::none().compares(&CONTENT_TYPE));
    /// ```
    pub fn none() -> Self {
        Self::only(std::iter::empty::<&str>())
    }

    /// Also leaves out `name`.
    ///
    /// ```
    /// use http::header::DATE;
    /// use tower_shadow::compare::HeaderRules;
    ///
    /// assert!(!HeaderRules::all().ignore("Date").compares(&DATE));
    /// ```
    #[must_use]
    pub fn ignore(mut self, name: impl AsRef<str>) -> Self {
        if let Some(name) = self::name(name.as_ref()) {
            if !self.ignore.contains(&name) {
                self.ignore.push(name);
            }
        }
        self
    }

    /// Whether the header `name` is compared.
    ///
    /// ```
    /// use http::header::ETAG;
    /// use tower_shadow::compare::HeaderRules;
    ///
    /// assert!(HeaderRules::default().compares(&ETAG));
    /// ```
    pub fn compares(&self, name: &HeaderName) -> bool {
        if self.ignore.contains(name) {
            return false;
        }
        match &self.only {
            Some(only) => only.contains(name),
            None => !is_framing(name),
        }
    }
}

impl Default for HeaderRules {
    /// [`HeaderRules::all`].
    fn default() -> Self {
        Self::all()
    }
}

impl fmt::Debug for HeaderRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn names(list: &[HeaderName]) -> Vec<&str> {
            list.iter().map(HeaderName::as_str).collect()
        }
        let mut d = f.debug_struct("HeaderRules");
        match &self.only {
            Some(only) => d.field("only", &names(only)),
            None => d.field("only", &"all"),
        };
        d.field("ignore", &names(&self.ignore)).finish()
    }
}

fn name(name: &str) -> Option<HeaderName> {
    match HeaderName::from_bytes(name.as_bytes()) {
        Ok(name) => Some(name),
        Err(_) => {
            tracing::warn!(name, "invalid header name in comparator rules, skipped");
            None
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    only: Option<Vec<String>>,
    #[serde(default)]
    ignore: Vec<String>,
}

impl From<HeaderRules> for Repr {
    fn from(rules: HeaderRules) -> Self {
        let names = |list: Vec<HeaderName>| list.iter().map(|n| n.as_str().to_owned()).collect();
        Self {
            only: rules.only.map(names),
            ignore: names(rules.ignore),
        }
    }
}

impl TryFrom<Repr> for HeaderRules {
    type Error = InvalidHeaderName;

    fn try_from(repr: Repr) -> Result<Self, Self::Error> {
        let names = |list: Vec<String>| {
            list.into_iter()
                .map(|n| HeaderName::from_bytes(n.as_bytes()).map_err(|_| InvalidHeaderName(n)))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            only: repr.only.map(names).transpose()?,
            ignore: names(repr.ignore)?,
        })
    }
}

#[derive(Debug)]
struct InvalidHeaderName(String);

impl fmt::Display for InvalidHeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid header name {:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    #[test]
    fn all_only_and_ignore() {
        let all = HeaderRules::all();
        assert!(all.compares(&header::DATE) && !all.compares(&header::TRANSFER_ENCODING));
        let only = HeaderRules::only(["content-type", "bad name"]).ignore("content-type");
        assert!(!only.compares(&header::CONTENT_TYPE));
        // Listed explicitly, a framing header is compared.
        assert!(HeaderRules::only(["content-length"]).compares(&header::CONTENT_LENGTH));
        assert_eq!(
            HeaderRules::all().ignore("a").ignore("A"),
            HeaderRules::all().ignore("a")
        );
    }

    #[test]
    fn serde_form() {
        let rules: HeaderRules =
            serde_json::from_str(r#"{"only": ["Content-Type"], "ignore": ["date"]}"#).unwrap();
        assert_eq!(rules, HeaderRules::only(["content-type"]).ignore("date"));
        let all: HeaderRules = serde_json::from_str("{}").unwrap();
        assert_eq!(all, HeaderRules::all());
        assert_eq!(serde_json::to_string(&all).unwrap(), r#"{"ignore":[]}"#);
        let e = serde_json::from_str::<HeaderRules>(r#"{"ignore": ["bad name"]}"#).unwrap_err();
        assert!(
            e.to_string().contains(r#"invalid header name "bad name""#),
            "{e}"
        );
        assert!(serde_json::from_str::<HeaderRules>(r#"{"except": []}"#).is_err());
        assert_eq!(
            format!("{:?}", HeaderRules::only(["etag"])),
            r#"HeaderRules { only: ["etag"], ignore: [] }"#
        );
    }
}
