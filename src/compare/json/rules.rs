//! Per-path rules, compiled into a trie walked alongside the documents.
//!
//! Each document node carries the set of trie nodes ("states") whose path
//! matches its own; a child's states are the states' children for its key
//! or index plus their `*` children. Where no rule can apply the set is
//! empty and the comparison runs without looking anything up.

use super::pointer::{as_index, Token};
use crate::compare::{Shape, Tolerance};

/// What a rule does at its path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Rule {
    Ignore,
    Tolerance(Tolerance),
    Unordered,
    Shape(Shape),
}

/// The rules that apply at one document node.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) ignore: bool,
    pub(crate) unordered: bool,
    pub(crate) tolerance: Option<Tolerance>,
    pub(crate) shape: Option<Shape>,
}

#[derive(Clone, Debug, Default)]
struct TrieNode {
    /// Literal children, sorted by token.
    literals: Vec<(Box<str>, u32)>,
    any: Option<u32>,
    /// Some literal child is an array index.
    literal_index: bool,
    /// Some rule lies strictly below.
    below: bool,
    /// For each token on the path: literal (`true`) or `*`.
    specificity: Box<[bool]>,
    ignore: bool,
    unordered: bool,
    tolerance: Option<Tolerance>,
    shape: Option<Shape>,
}

/// A set of rules. Where several match one path, `ignore` wins; then a
/// shape or tolerance rule of the most specific path (a literal token beats
/// `*`, from the left); the same path given twice keeps the last rule.
#[derive(Clone, Debug)]
pub(crate) struct Rules {
    nodes: Vec<TrieNode>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            nodes: vec![TrieNode::default()],
        }
    }
}

/// The decimal text of an index, without allocating.
pub(crate) struct IndexText {
    buf: [u8; 20],
    start: usize,
}

impl IndexText {
    pub(crate) fn new(mut index: usize) -> Self {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        loop {
            start -= 1;
            buf[start] = b'0' + (index % 10) as u8;
            index /= 10;
            if index == 0 {
                break;
            }
        }
        Self { buf, start }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("")
    }
}

impl Rules {
    /// Whether there is no rule at all.
    pub(crate) fn is_empty(&self) -> bool {
        let root = &self.nodes[0];
        !root.below && root == &TrieNode::default()
    }

    /// The states of the document's root.
    pub(crate) fn root(&self) -> &'static [u32] {
        if self.is_empty() {
            &[]
        } else {
            &[0]
        }
    }

    /// Adds `rule` at the path `tokens`.
    pub(crate) fn add(&mut self, tokens: &[Token], rule: Rule) {
        let mut at = 0usize;
        for (depth, token) in tokens.iter().enumerate() {
            self.nodes[at].below = true;
            let existing = match token {
                Token::Any => self.nodes[at].any,
                Token::Key(key) => {
                    let literals = &self.nodes[at].literals;
                    literals
                        .binary_search_by(|(k, _)| (**k).cmp(&**key))
                        .ok()
                        .map(|i| literals[i].1)
                }
            };
            at = match existing {
                Some(child) => child as usize,
                None => {
                    let child = self.nodes.len();
                    let specificity = tokens[..=depth]
                        .iter()
                        .map(|t| matches!(t, Token::Key(_)))
                        .collect();
                    self.nodes.push(TrieNode {
                        specificity,
                        ..TrieNode::default()
                    });
                    let parent = &mut self.nodes[at];
                    match token {
                        Token::Any => parent.any = Some(child as u32),
                        Token::Key(key) => {
                            let i = parent
                                .literals
                                .binary_search_by(|(k, _)| (**k).cmp(&**key))
                                .unwrap_or_else(|i| i);
                            parent.literals.insert(i, (key.clone(), child as u32));
                            parent.literal_index |= as_index(key).is_some();
                        }
                    }
                    child
                }
            };
        }
        let node = &mut self.nodes[at];
        match rule {
            Rule::Ignore => node.ignore = true,
            Rule::Unordered => node.unordered = true,
            Rule::Tolerance(t) => node.tolerance = Some(t),
            Rule::Shape(s) => node.shape = Some(s),
        }
    }

    /// Appends to `out` the states of the child `token` (a member name or
    /// an index's decimal text) of a node in `state`.
    pub(crate) fn advance(&self, state: u32, token: &str, out: &mut Vec<u32>) {
        let node = &self.nodes[state as usize];
        if let Ok(i) = node.literals.binary_search_by(|(k, _)| (**k).cmp(token)) {
            out.push(node.literals[i].1);
        }
        if let Some(any) = node.any {
            out.push(any);
        }
    }

    /// Whether some rule lies below one of `states`.
    pub(crate) fn below(&self, states: &[u32]) -> bool {
        states.iter().any(|&s| self.nodes[s as usize].below)
    }

    /// Whether a rule below `states` names an array index literally.
    pub(crate) fn literal_index(&self, states: &[u32]) -> bool {
        states.iter().any(|&s| self.nodes[s as usize].literal_index)
    }

    /// The rules that apply at a node whose states are `states`.
    pub(crate) fn resolve(&self, states: &[u32]) -> Resolved {
        let mut out = Resolved::default();
        let mut tolerance_from: Option<&TrieNode> = None;
        let mut shape_from: Option<&TrieNode> = None;
        for &s in states {
            let node = &self.nodes[s as usize];
            out.ignore |= node.ignore;
            out.unordered |= node.unordered;
            if node.tolerance.is_some()
                && !matches!(tolerance_from, Some(t) if t.specificity >= node.specificity)
            {
                tolerance_from = Some(node);
                out.tolerance = node.tolerance;
            }
            if node.shape.is_some()
                && !matches!(shape_from, Some(t) if t.specificity >= node.specificity)
            {
                shape_from = Some(node);
                out.shape = node.shape;
            }
        }
        out
    }
}

impl PartialEq for TrieNode {
    fn eq(&self, other: &Self) -> bool {
        self.literals == other.literals
            && self.any == other.any
            && self.ignore == other.ignore
            && self.unordered == other.unordered
            && self.tolerance == other.tolerance
            && self.shape == other.shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::json::pointer::parse;

    fn rules(list: &[(&str, Rule)]) -> Rules {
        let mut rules = Rules::default();
        for (path, rule) in list {
            rules.add(&parse(path).unwrap(), *rule);
        }
        rules
    }

    /// The states reached along `path`.
    fn at(rules: &Rules, path: &[&str]) -> Resolved {
        let mut states = rules.root().to_vec();
        for key in path {
            let mut next = Vec::new();
            for &s in &states {
                rules.advance(s, key, &mut next);
            }
            states = next;
        }
        rules.resolve(&states)
    }

    #[test]
    fn empty_rules_have_no_states() {
        let r = Rules::default();
        assert!(r.is_empty());
        assert!(r.root().is_empty());
        assert_eq!(at(&r, &["a"]), Resolved::default());
    }

    #[test]
    fn literal_and_wildcard_paths() {
        let r = rules(&[
            ("/meta/timestamp", Rule::Ignore),
            ("/items/*/price", Rule::Tolerance(Tolerance::relative(0.01))),
            ("/items/0/price", Rule::Tolerance(Tolerance::absolute(5.0))),
            ("/tags", Rule::Unordered),
        ]);
        assert!(!r.is_empty());
        assert!(at(&r, &["meta", "timestamp"]).ignore);
        assert!(!at(&r, &["meta"]).ignore);
        assert!(!at(&r, &["meta", "timestamp", "x"]).ignore);
        assert_eq!(
            at(&r, &["items", "3", "price"]).tolerance,
            Some(Tolerance::relative(0.01))
        );
        // The literal index is more specific than `*`.
        assert_eq!(
            at(&r, &["items", "0", "price"]).tolerance,
            Some(Tolerance::absolute(5.0))
        );
        assert!(at(&r, &["tags"]).unordered);
        assert_eq!(at(&r, &["other"]), Resolved::default());
    }

    #[test]
    fn specificity_runs_from_the_left() {
        let r = rules(&[
            ("/*/b", Rule::Shape(Shape::Any)),
            ("/a/*", Rule::Shape(Shape::Uuid)),
        ]);
        assert_eq!(at(&r, &["a", "b"]).shape, Some(Shape::Uuid));
        assert_eq!(at(&r, &["x", "b"]).shape, Some(Shape::Any));
    }

    #[test]
    fn last_rule_for_a_path_wins_and_ignore_beats_all() {
        let r = rules(&[
            ("/a", Rule::Tolerance(Tolerance::absolute(1.0))),
            ("/a", Rule::Tolerance(Tolerance::absolute(2.0))),
            ("/*", Rule::Ignore),
        ]);
        let a = at(&r, &["a"]);
        assert_eq!(a.tolerance, Some(Tolerance::absolute(2.0)));
        assert!(a.ignore);
    }

    #[test]
    fn index_text() {
        for i in [0, 7, 10, 12345, usize::MAX] {
            assert_eq!(IndexText::new(i).as_str(), i.to_string());
        }
        let r = rules(&[("/list/12", Rule::Ignore)]);
        assert!(at(&r, &["list", "12"]).ignore);
        assert!(r.literal_index(&[1]));
        assert!(!r.literal_index(&[0]));
    }

    #[test]
    fn root_rules() {
        let r = rules(&[("", Rule::Ignore)]);
        assert!(r.resolve(r.root()).ignore);
    }
}
