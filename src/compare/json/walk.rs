//! The structural diff of two parsed documents under a set of rules.
//!
//! Objects are matched by member name (in one pass while both sides list
//! the same names in the same order, by sorting otherwise), arrays by index
//! or, under an `unordered` rule, as multisets. Every leaf (scalar or empty
//! container) compared counts toward the score; a value present on one side
//! only counts all its leaves as differing.

use super::number;
use super::parse::{Node, Tape};
use super::pointer::push_token;
use super::rules::{IndexText, Resolved, Rules};
use crate::compare::{DiffKind, Difference};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hasher;

/// Pairs of elements tried, at most, to match one unordered array whose
/// rules name indexes literally (and so cannot use hashing).
const PAIR_BUDGET: usize = 100_000;

/// Objects with at most this many members left to match are matched
/// without sorting (and without allocating).
const SMALL: usize = 16;

/// One step of the path to the node being compared.
#[derive(Clone, Copy, Debug)]
enum Seg {
    /// A member whose key is node `node` of the baseline (or candidate) tape.
    Key {
        cand: bool,
        node: usize,
    },
    Index(usize),
}

/// A range of `Walk::states`: the rule states of one document node.
type Span = (usize, usize);

/// The outcome of a walk.
#[derive(Debug)]
pub(crate) struct Walked {
    pub(crate) differences: Vec<Difference>,
    /// Leaves compared.
    pub(crate) compared: u64,
    /// Leaves that differ.
    pub(crate) differing: u64,
}

/// Compares two documents, listing at most `max_differences` differences.
pub(crate) fn walk(
    rules: &Rules,
    base: &Tape<'_>,
    cand: &Tape<'_>,
    max_differences: usize,
) -> Walked {
    let mut walk = Walk {
        rules,
        base,
        cand,
        path: Vec::new(),
        states: rules.root().to_vec(),
        differences: Vec::new(),
        max_differences,
        compared: 0,
        differing: 0,
        probing: false,
        failed: false,
    };
    let root = (0, walk.states.len());
    walk.value(0, 0, root);
    Walked {
        differences: walk.differences,
        compared: walk.compared,
        differing: walk.differing,
    }
}

struct Walk<'t, 'a> {
    rules: &'t Rules,
    base: &'t Tape<'a>,
    cand: &'t Tape<'a>,
    path: Vec<Seg>,
    /// The rule states of the nodes on the path, as a stack of spans.
    states: Vec<u32>,
    differences: Vec<Difference>,
    max_differences: usize,
    compared: u64,
    differing: u64,
    /// Only asking whether two values are equivalent: stop at the first
    /// difference, list nothing.
    probing: bool,
    failed: bool,
}

impl<'t, 'a> Walk<'t, 'a> {
    fn tape(&self, cand: bool) -> &'t Tape<'a> {
        if cand {
            self.cand
        } else {
            self.base
        }
    }

    fn resolve(&self, span: Span) -> Resolved {
        if span.0 == span.1 {
            Resolved::default()
        } else {
            self.rules.resolve(&self.states[span.0..span.1])
        }
    }

    /// Pushes the states of child `token` of a node whose states are `span`.
    fn advance(&mut self, span: Span, token: &str) -> Span {
        let start = self.states.len();
        for i in span.0..span.1 {
            let state = self.states[i];
            self.rules.advance(state, token, &mut self.states);
        }
        (start, self.states.len())
    }

    /// Whether no rule lies below the node whose states are `span`.
    fn leafless(&self, span: Span) -> bool {
        span.0 == span.1 || !self.rules.below(&self.states[span.0..span.1])
    }

    fn advance_key(&mut self, span: Span, cand: bool, key: usize) -> Span {
        if self.leafless(span) {
            return (self.states.len(), self.states.len());
        }
        let Node::Key(key) = self.tape(cand).nodes[key] else {
            return (self.states.len(), self.states.len());
        };
        self.advance(span, &key.decode())
    }

    fn advance_index(&mut self, span: Span, index: usize) -> Span {
        if self.leafless(span) {
            return (self.states.len(), self.states.len());
        }
        self.advance(span, IndexText::new(index).as_str())
    }

    fn pop_states(&mut self, span: Span) {
        self.states.truncate(span.0);
    }

    /// Compares node `b` of the baseline with node `c` of the candidate.
    fn value(&mut self, b: usize, c: usize, span: Span) {
        let rule = self.resolve(span);
        if rule.ignore {
            return;
        }
        let (bn, cn) = (self.base.nodes[b], self.cand.nodes[c]);
        if let Some(shape) = rule.shape {
            if shape.matches(&bn) && shape.matches(&cn) {
                self.compared += self.base.leaves(b);
                return;
            }
        }
        match (bn, cn) {
            (Node::Object { .. }, Node::Object { .. }) => self.object(b, c, span),
            (Node::Array { .. }, Node::Array { .. }) if rule.unordered => {
                self.unordered(b, c, span)
            }
            (Node::Array { .. }, Node::Array { .. }) => self.array(b, c, span),
            (Node::Object { .. } | Node::Array { .. }, _)
            | (_, Node::Object { .. } | Node::Array { .. }) => {
                let leaves = self.base.leaves(b).max(self.cand.leaves(c));
                self.compared += leaves;
                self.differ(DiffKind::Type, Some(b), Some(c), leaves);
            }
            _ => {
                self.compared += 1;
                let same = match (bn, cn) {
                    (Node::Null, Node::Null) => Some(true),
                    (Node::Bool(x), Node::Bool(y)) => Some(x == y),
                    (Node::Number(x), Node::Number(y)) => Some(
                        number::equal(x, y)
                            || rule
                                .tolerance
                                .is_some_and(|t| t.accepts(number::to_f64(x), number::to_f64(y))),
                    ),
                    (Node::String(x), Node::String(y)) => Some(x.same(&y)),
                    _ => None,
                };
                match same {
                    Some(true) => {}
                    Some(false) => self.differ(DiffKind::Value, Some(b), Some(c), 1),
                    None => self.differ(DiffKind::Type, Some(b), Some(c), 1),
                }
            }
        }
    }

    #[inline(never)]
    fn differ(&mut self, kind: DiffKind, b: Option<usize>, c: Option<usize>, leaves: u64) {
        if self.probing {
            self.failed = true;
            return;
        }
        self.differing += leaves;
        if self.differences.len() < self.max_differences {
            let baseline = b.map(|i| self.base.text(i));
            let candidate = c.map(|i| self.cand.text(i));
            let path = self.render_path();
            self.differences
                .push(Difference::new(path, kind, baseline, candidate));
        }
    }

    fn render_path(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            match *seg {
                Seg::Key { cand, node } => {
                    if let Node::Key(key) = self.tape(cand).nodes[node] {
                        push_token(&mut out, &key.decode());
                    }
                }
                Seg::Index(i) => {
                    let _ = write!(out, "/{i}");
                }
            }
        }
        out
    }

    /// A value on one side only, at the path just pushed.
    #[inline(never)]
    fn lone(&mut self, kind: DiffKind, cand: bool, node: usize, span: Span) {
        if self.resolve(span).ignore {
            return;
        }
        let leaves = self.tape(cand).leaves(node);
        self.compared += leaves;
        let (b, c) = if cand {
            (None, Some(node))
        } else {
            (Some(node), None)
        };
        self.differ(kind, b, c, leaves);
    }

    /// Members `bk` (a baseline key node) and `ck` (a candidate key node).
    #[inline(never)]
    fn member(&mut self, bk: usize, ck: usize, span: Span) {
        let child = self.advance_key(span, false, bk);
        self.path.push(Seg::Key {
            cand: false,
            node: bk,
        });
        self.value(bk + 1, ck + 1, child);
        self.path.pop();
        self.pop_states(child);
    }

    /// A member on one side only: `key` is its key node.
    #[inline(never)]
    fn lone_member(&mut self, kind: DiffKind, cand: bool, key: usize, span: Span) {
        let child = self.advance_key(span, cand, key);
        self.path.push(Seg::Key { cand, node: key });
        self.lone(kind, cand, key + 1, child);
        self.path.pop();
        self.pop_states(child);
    }

    #[inline(never)]
    fn object(&mut self, b: usize, c: usize, span: Span) {
        let (Node::Object { len: bl, .. }, Node::Object { len: cl, .. }) =
            (self.base.nodes[b], self.cand.nodes[c])
        else {
            return;
        };
        let (mut bi, mut ci, mut k) = (b + 1, c + 1, 0);
        // Both sides usually list the same members in the same order.
        while k < bl && k < cl {
            let (Node::Key(bkey), Node::Key(ckey)) = (self.base.nodes[bi], self.cand.nodes[ci])
            else {
                return;
            };
            if !bkey.same(&ckey) {
                break;
            }
            self.member(bi, ci, span);
            if self.failed {
                return;
            }
            bi = self.base.after(bi + 1);
            ci = self.cand.after(ci + 1);
            k += 1;
        }
        if k < bl || k < cl {
            self.members_by_name(bi, (bl - k) as usize, ci, (cl - k) as usize, span);
        }
    }

    /// Matches the remaining members by name; a name given twice on both
    /// sides matches in order (first with first).
    #[inline(never)]
    fn members_by_name(&mut self, bi: usize, bn: usize, ci: usize, cn: usize, span: Span) {
        if bn <= SMALL && cn <= SMALL {
            return self.few_members_by_name(bi, bn, ci, cn, span);
        }
        let keys = |tape: &Tape<'a>, mut i: usize, n: usize| {
            let mut out: Vec<(Cow<'a, str>, usize)> = Vec::with_capacity(n);
            for _ in 0..n {
                if let Node::Key(key) = tape.nodes[i] {
                    out.push((key.decode(), i));
                }
                i = tape.after(i + 1);
            }
            out
        };
        let bkeys = keys(self.base, bi, bn);
        let ckeys = keys(self.cand, ci, cn);
        let sorted = |keys: &[(Cow<'a, str>, usize)]| {
            let mut order: Vec<usize> = (0..keys.len()).collect();
            order.sort_by(|&x, &y| keys[x].0.cmp(&keys[y].0));
            order
        };
        let (bsorted, csorted) = (sorted(&bkeys), sorted(&ckeys));
        let mut matched: Vec<Option<usize>> = vec![None; bkeys.len()];
        let mut cmatched = vec![false; ckeys.len()];
        let (mut x, mut y) = (0, 0);
        while x < bsorted.len() && y < csorted.len() {
            let (bo, co) = (bsorted[x], csorted[y]);
            match bkeys[bo].0.cmp(&ckeys[co].0) {
                std::cmp::Ordering::Less => x += 1,
                std::cmp::Ordering::Greater => y += 1,
                std::cmp::Ordering::Equal => {
                    matched[bo] = Some(ckeys[co].1);
                    cmatched[co] = true;
                    x += 1;
                    y += 1;
                }
            }
        }
        for (&(_, bk), m) in bkeys.iter().zip(&matched) {
            match *m {
                Some(ck) => self.member(bk, ck, span),
                None => self.lone_member(DiffKind::Missing, false, bk, span),
            }
            if self.failed {
                return;
            }
        }
        for (&(_, ck), m) in ckeys.iter().zip(&cmatched) {
            if !m {
                self.lone_member(DiffKind::Added, true, ck, span);
                if self.failed {
                    return;
                }
            }
        }
    }

    /// [`members_by_name`](Self::members_by_name) for small objects:
    /// quadratic, but without allocating.
    fn few_members_by_name(&mut self, bi: usize, bn: usize, ci: usize, cn: usize, span: Span) {
        let mut ckeys = [0usize; SMALL];
        let mut k = ci;
        for slot in ckeys.iter_mut().take(cn) {
            *slot = k;
            k = self.cand.after(k + 1);
        }
        let mut cmatched: u64 = 0;
        let mut k = bi;
        for _ in 0..bn {
            let Node::Key(bkey) = self.base.nodes[k] else {
                return;
            };
            let found = (0..cn).find(|&j| {
                cmatched & (1 << j) == 0
                    && matches!(self.cand.nodes[ckeys[j]], Node::Key(ckey) if bkey.same(&ckey))
            });
            match found {
                Some(j) => {
                    cmatched |= 1 << j;
                    self.member(k, ckeys[j], span);
                }
                None => self.lone_member(DiffKind::Missing, false, k, span),
            }
            if self.failed {
                return;
            }
            k = self.base.after(k + 1);
        }
        for (j, &ck) in ckeys.iter().enumerate().take(cn) {
            if cmatched & (1 << j) == 0 {
                self.lone_member(DiffKind::Added, true, ck, span);
                if self.failed {
                    return;
                }
            }
        }
    }

    #[inline(never)]
    fn array(&mut self, b: usize, c: usize, span: Span) {
        let (Node::Array { len: bl, .. }, Node::Array { len: cl, .. }) =
            (self.base.nodes[b], self.cand.nodes[c])
        else {
            return;
        };
        let (mut bi, mut ci) = (b + 1, c + 1);
        for i in 0..bl.max(cl) as usize {
            let child = self.advance_index(span, i);
            self.path.push(Seg::Index(i));
            if i < bl as usize && i < cl as usize {
                self.value(bi, ci, child);
                bi = self.base.after(bi);
                ci = self.cand.after(ci);
            } else if i < bl as usize {
                self.lone(DiffKind::Missing, false, bi, child);
                bi = self.base.after(bi);
            } else {
                self.lone(DiffKind::Added, true, ci, child);
                ci = self.cand.after(ci);
            }
            self.path.pop();
            self.pop_states(child);
            if self.failed {
                return;
            }
        }
    }

    fn elements(tape: &Tape<'_>, array: usize) -> Vec<usize> {
        let Node::Array { len, .. } = tape.nodes[array] else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(len as usize);
        let mut i = array + 1;
        for _ in 0..len {
            out.push(i);
            i = tape.after(i);
        }
        out
    }

    /// Whether `b` and `c` are equivalent under the rules at `span`.
    #[inline(never)]
    fn equivalent(&mut self, b: usize, c: usize, span: Span) -> bool {
        let saved = (self.probing, self.failed, self.compared, self.differing);
        self.probing = true;
        self.failed = false;
        let depth = self.path.len();
        self.value(b, c, span);
        self.path.truncate(depth);
        let equivalent = !self.failed;
        (self.probing, self.failed, self.compared, self.differing) = saved;
        equivalent
    }

    /// Arrays compared as multisets: each baseline element is matched with
    /// an equivalent candidate element. Elements left over are paired in
    /// order and compared (at the baseline's index); the rest are missing
    /// (baseline index) or added (candidate index).
    #[inline(never)]
    fn unordered(&mut self, b: usize, c: usize, span: Span) {
        if self.same_order(b, c, span) {
            self.compared += self.base.leaves(b);
            return;
        }
        let belems = Self::elements(self.base, b);
        let celems = Self::elements(self.cand, c);
        let mut bmatch = vec![false; belems.len()];
        let mut cmatch = vec![false; celems.len()];

        // In the same order, as is common.
        for i in 0..belems.len().min(celems.len()) {
            let child = self.advance_index(span, i);
            if self.equivalent(belems[i], celems[i], child) {
                bmatch[i] = true;
                cmatch[i] = true;
            }
            self.pop_states(child);
        }

        let literal = span.0 != span.1 && self.rules.literal_index(&self.states[span.0..span.1]);
        if !literal {
            // Elements' rules do not depend on their index: bucket the
            // candidate's by a hash that equivalent values share.
            let child = self.advance_index(span, usize::MAX);
            let mut buckets: HashMap<u64, Vec<usize>> = HashMap::new();
            for (j, &e) in celems.iter().enumerate() {
                if !cmatch[j] {
                    let h = self.hash(true, e, child);
                    buckets.entry(h).or_default().push(j);
                }
            }
            for (i, &e) in belems.iter().enumerate() {
                if bmatch[i] {
                    continue;
                }
                let h = self.hash(false, e, child);
                let Some(bucket) = buckets.get_mut(&h) else {
                    continue;
                };
                if let Some(k) =
                    (0..bucket.len()).find(|&k| self.equivalent(e, celems[bucket[k]], child))
                {
                    let j = bucket.remove(k);
                    bmatch[i] = true;
                    cmatch[j] = true;
                }
            }
            self.pop_states(child);
        } else {
            let mut budget = PAIR_BUDGET;
            'outer: for (i, &e) in belems.iter().enumerate() {
                if bmatch[i] {
                    continue;
                }
                let child = self.advance_index(span, i);
                for (j, &f) in celems.iter().enumerate() {
                    if cmatch[j] {
                        continue;
                    }
                    if budget == 0 {
                        self.pop_states(child);
                        break 'outer;
                    }
                    budget -= 1;
                    if self.equivalent(e, f, child) {
                        bmatch[i] = true;
                        cmatch[j] = true;
                        break;
                    }
                }
                self.pop_states(child);
            }
        }

        for (i, &e) in belems.iter().enumerate() {
            if bmatch[i] {
                self.compared += self.base.leaves(e);
            }
        }
        let bleft: Vec<usize> = (0..belems.len()).filter(|&i| !bmatch[i]).collect();
        let cleft: Vec<usize> = (0..celems.len()).filter(|&j| !cmatch[j]).collect();
        for k in 0..bleft.len().max(cleft.len()) {
            match (bleft.get(k), cleft.get(k)) {
                (Some(&i), Some(&j)) => {
                    let child = self.advance_index(span, i);
                    self.path.push(Seg::Index(i));
                    self.value(belems[i], celems[j], child);
                    self.path.pop();
                    self.pop_states(child);
                }
                (Some(&i), None) => {
                    let child = self.advance_index(span, i);
                    self.path.push(Seg::Index(i));
                    self.lone(DiffKind::Missing, false, belems[i], child);
                    self.path.pop();
                    self.pop_states(child);
                }
                (None, Some(&j)) => {
                    let child = self.advance_index(span, j);
                    self.path.push(Seg::Index(j));
                    self.lone(DiffKind::Added, true, celems[j], child);
                    self.path.pop();
                    self.pop_states(child);
                }
                (None, None) => {}
            }
            if self.failed {
                return;
            }
        }
    }

    /// Whether two arrays of one length are equivalent element by element:
    /// the common case of an unordered array, checked without allocating.
    fn same_order(&mut self, b: usize, c: usize, span: Span) -> bool {
        let (Node::Array { len: bl, .. }, Node::Array { len: cl, .. }) =
            (self.base.nodes[b], self.cand.nodes[c])
        else {
            return false;
        };
        if bl != cl {
            return false;
        }
        let (mut bi, mut ci) = (b + 1, c + 1);
        for i in 0..bl as usize {
            let child = self.advance_index(span, i);
            let equivalent = self.equivalent(bi, ci, child);
            self.pop_states(child);
            if !equivalent {
                return false;
            }
            bi = self.base.after(bi);
            ci = self.cand.after(ci);
        }
        true
    }

    /// A hash that values equivalent under the rules share: what a rule
    /// excuses (ignored members and elements, shaped values, numbers under
    /// a tolerance) does not enter it, and unordered arrays and objects
    /// combine their parts without order.
    fn hash(&mut self, cand: bool, i: usize, span: Span) -> u64 {
        const IGNORED: u64 = 0x1;
        const SHAPED: u64 = 0x2;
        const NUMBER: u64 = 0x3;
        const OPAQUE_ARRAY: u64 = 0x4;
        let rule = self.resolve(span);
        if rule.ignore {
            return IGNORED;
        }
        if rule.shape.is_some() {
            return SHAPED;
        }
        let tape = self.tape(cand);
        match tape.nodes[i] {
            Node::Null => 0x10,
            Node::Bool(b) => 0x11 + u64::from(b),
            Node::Number(_) if rule.tolerance.is_some() => NUMBER,
            Node::Number(n) => {
                let mut h = Fnv::new(0x20);
                number::hash(n, &mut h);
                mix(h.finish())
            }
            Node::String(s) | Node::Key(s) => {
                let mut h = Fnv::new(0x30);
                h.write(s.decode().as_bytes());
                mix(h.finish())
            }
            Node::Array { len, .. } => {
                let unordered = rule.unordered;
                if unordered
                    && span.0 != span.1
                    && self.rules.literal_index(&self.states[span.0..span.1])
                {
                    return OPAQUE_ARRAY;
                }
                let mut acc: u64 = 0x40;
                let mut e = i + 1;
                for index in 0..len as usize {
                    let child = self.advance_index(span, index);
                    if !self.resolve(child).ignore {
                        let h = self.hash(cand, e, child);
                        acc = if unordered {
                            acc.wrapping_add(mix(h))
                        } else {
                            mix(acc ^ mix(h ^ index as u64))
                        };
                    }
                    self.pop_states(child);
                    e = tape.after(e);
                }
                acc
            }
            Node::Object { len, .. } => {
                let mut acc: u64 = 0x50;
                let mut k = i + 1;
                for _ in 0..len {
                    let child = self.advance_key(span, cand, k);
                    if !self.resolve(child).ignore {
                        let key = self.hash(cand, k, (0, 0));
                        let value = self.hash(cand, k + 1, child);
                        acc = acc.wrapping_add(mix(key ^ value.rotate_left(17)));
                    }
                    self.pop_states(child);
                    k = tape.after(k + 1);
                }
                acc
            }
        }
    }
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser.
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a: small and fast for short keys; only a bucketing hint here.
struct Fnv(u64);

impl Fnv {
    fn new(seed: u64) -> Self {
        Self(0xcbf2_9ce4_8422_2325 ^ seed)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::json::parse::parse;
    use crate::compare::json::pointer;
    use crate::compare::json::rules::Rule;
    use crate::compare::{Shape, Tolerance};

    fn rules(list: &[(&str, Rule)]) -> Rules {
        let mut rules = Rules::default();
        for (path, rule) in list {
            rules.add(&pointer::parse(path).unwrap(), *rule);
        }
        rules
    }

    fn diff(rules: &Rules, a: &str, b: &str) -> Walked {
        let a = parse(a.as_bytes(), 128).unwrap();
        let b = parse(b.as_bytes(), 128).unwrap();
        walk(rules, &a, &b, 100)
    }

    fn paths(rules: &Rules, a: &str, b: &str) -> Vec<(String, DiffKind)> {
        diff(rules, a, b)
            .differences
            .into_iter()
            .map(|d| (d.path, d.kind))
            .collect()
    }

    fn p(path: &str, kind: DiffKind) -> (String, DiffKind) {
        (path.to_owned(), kind)
    }

    #[test]
    fn equal_documents_in_any_member_order() {
        let r = Rules::default();
        let w = diff(
            &r,
            r#"{"a":1,"b":[1,2],"c":{"d":null}}"#,
            r#"{"c":{"d":null},"b":[1.0,2e0],"a":1}"#,
        );
        assert!(w.differences.is_empty());
        assert_eq!((w.compared, w.differing), (4, 0));
    }

    #[test]
    fn names_each_difference() {
        let r = Rules::default();
        let a = r#"{"items":[{"price":1},{"price":2}],"gone":{"x":[1,2]},"t":1,"s":"x","e":[]}"#;
        let b =
            r#"{"items":[{"price":1},{"price":3},{"new":1}],"t":"1","s":"y","e":{},"new":true}"#;
        assert_eq!(
            paths(&r, a, b),
            [
                p("/items/1/price", DiffKind::Value),
                p("/items/2", DiffKind::Added),
                p("/gone", DiffKind::Missing),
                p("/t", DiffKind::Type),
                p("/s", DiffKind::Value),
                p("/e", DiffKind::Type),
                p("/new", DiffKind::Added),
            ]
        );
        let w = diff(&r, a, b);
        let gone = &w.differences[2];
        assert_eq!(gone.baseline.as_deref(), Some(r#"{"x":[1,2]}"#));
        assert_eq!(gone.candidate, None);
        // items: 3 (2 differ); gone: 2; t, s, e, new: 1 each.
        assert_eq!((w.compared, w.differing), (9, 8));
    }

    #[test]
    fn escaped_keys_and_strings() {
        let r = Rules::default();
        assert!(paths(&r, r#"{"a/b":"é"}"#, r#"{"a\/b":"\u00e9"}"#).is_empty());
        assert_eq!(
            paths(&r, r#"{"a/b":{"c~d":1}}"#, r#"{"a/b":{"c~d":2}}"#),
            [p("/a~1b/c~0d", DiffKind::Value)]
        );
    }

    #[test]
    fn duplicate_names_match_in_order() {
        let r = Rules::default();
        assert!(paths(&r, r#"{"a":1,"a":2,"b":0}"#, r#"{"b":0,"a":1,"a":2}"#).is_empty());
        assert_eq!(
            paths(&r, r#"{"a":1,"a":2}"#, r#"{"b":0,"a":1}"#),
            [p("/a", DiffKind::Missing), p("/b", DiffKind::Added)]
        );
    }

    #[test]
    fn ignore_tolerance_and_shape() {
        let r = rules(&[
            ("/meta/timestamp", Rule::Ignore),
            ("/items/*/price", Rule::Tolerance(Tolerance::relative(0.01))),
            ("/id", Rule::Shape(Shape::Uuid)),
        ]);
        let a = r#"{"meta":{"timestamp":1,"v":1},"items":[{"price":100,"n":1}],"id":"123e4567-e89b-12d3-a456-426614174000"}"#;
        let b = r#"{"meta":{"v":1},"items":[{"price":100.5,"n":1}],"id":"00000000-0000-0000-0000-000000000000"}"#;
        assert!(paths(&r, a, b).is_empty());
        let c = r#"{"meta":{"timestamp":"x","v":1},"items":[{"price":102,"n":1}],"id":"nope"}"#;
        assert_eq!(
            paths(&r, a, c),
            [
                p("/items/0/price", DiffKind::Value),
                p("/id", DiffKind::Value)
            ]
        );
        // A tolerance does not excuse a type change.
        assert_eq!(
            paths(
                &r,
                r#"{"items":[{"price":1}]}"#,
                r#"{"items":[{"price":"1"}]}"#
            ),
            [p("/items/0/price", DiffKind::Type)]
        );
    }

    #[test]
    fn ignore_at_the_root_and_on_elements() {
        assert!(paths(&rules(&[("", Rule::Ignore)]), "[1]", r#"{"a":2}"#).is_empty());
        let r = rules(&[("/a/*", Rule::Ignore)]);
        assert!(paths(&r, r#"{"a":[1,2,3]}"#, r#"{"a":[4]}"#).is_empty());
    }

    #[test]
    fn unordered_arrays_are_multisets() {
        let r = rules(&[("/tags", Rule::Unordered)]);
        assert!(paths(&r, r#"{"tags":["a","b","c"]}"#, r#"{"tags":["c","a","b"]}"#).is_empty());
        // Duplicates count: one "a" is missing.
        assert_eq!(
            paths(&r, r#"{"tags":["a","a","b"]}"#, r#"{"tags":["b","a"]}"#),
            [p("/tags/0", DiffKind::Missing)]
        );
        // A changed element is compared with the leftover in order.
        assert_eq!(
            paths(&r, r#"{"tags":["a","b","c"]}"#, r#"{"tags":["c","x","a"]}"#),
            [p("/tags/1", DiffKind::Value)]
        );
        assert_eq!(
            paths(&r, r#"{"tags":["a"]}"#, r#"{"tags":["a","z"]}"#),
            [p("/tags/1", DiffKind::Added)]
        );
        // Without the rule, order matters.
        assert_eq!(
            paths(&Rules::default(), "[1,2]", "[2,1]"),
            [p("/0", DiffKind::Value), p("/1", DiffKind::Value)]
        );
    }

    #[test]
    fn unordered_with_rules_inside() {
        let r = rules(&[
            ("/items", Rule::Unordered),
            ("/items/*/at", Rule::Ignore),
            ("/items/*/price", Rule::Tolerance(Tolerance::absolute(0.5))),
            ("/items/*/tags", Rule::Unordered),
        ]);
        let a = r#"{"items":[{"id":1,"at":1,"price":1,"tags":[1,2]},{"id":2,"at":2,"price":2,"tags":[]}]}"#;
        let b = r#"{"items":[{"id":2,"price":2.4,"tags":[]},{"tags":[2,1],"id":1,"at":9,"price":0.6}]}"#;
        assert!(paths(&r, a, b).is_empty());
        let c = r#"{"items":[{"id":2,"price":2.6,"tags":[]},{"tags":[2,1],"id":1,"at":9,"price":0.6}]}"#;
        assert_eq!(paths(&r, a, c), [p("/items/1/price", DiffKind::Value)]);
    }

    #[test]
    fn unordered_with_literal_indexes() {
        let r = rules(&[
            ("/a", Rule::Unordered),
            ("/a/0", Rule::Shape(Shape::Number)),
        ]);
        // Element 0 of the baseline matches any number.
        assert!(paths(&r, "{\"a\":[1,\"x\"]}", "{\"a\":[\"x\",7]}").is_empty());
    }

    #[test]
    fn probing_restores_counts() {
        let r = rules(&[("/a", Rule::Unordered)]);
        let w = diff(&r, r#"{"a":[[1,2],[3]]}"#, r#"{"a":[[3],[1,2]]}"#);
        assert!(w.differences.is_empty());
        assert_eq!((w.compared, w.differing), (3, 0));
    }

    #[test]
    fn lists_at_most_max_differences_but_counts_all() {
        let a = parse(b"[1,2,3,4]", 8).unwrap();
        let b = parse(b"[5,6,7,8]", 8).unwrap();
        let w = walk(&Rules::default(), &a, &b, 2);
        assert_eq!(w.differences.len(), 2);
        assert_eq!((w.compared, w.differing), (4, 4));
    }

    #[test]
    fn root_scalars() {
        assert_eq!(paths(&Rules::default(), "1", "2"), [p("", DiffKind::Value)]);
        assert!(paths(&Rules::default(), "1e2", "100").is_empty());
    }
}
