//! Differential test of `JsonComparator`: random JSON documents, mutated at
//! known paths, must be reported at exactly the mutated paths that the
//! rules do not excuse — no more, no fewer.
//!
//! Each case builds a seeded random document shaped like an API answer
//! (`meta`, `id`, `tags`, `items`, random `data`), copies it, applies a few
//! mutations that do not overlap (value changes, type changes, removed and
//! added members, elements popped and pushed, integers rewritten as equal
//! floats, prices moved inside or outside the tolerance, the ignored
//! timestamp changed, the UUID replaced by another or by garbage, tags
//! changed, removed, added and shuffled), and serialises the copy with its
//! members in a random order and random whitespace.

use http::{header::CONTENT_TYPE, HeaderMap, HeaderValue, StatusCode};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;
use tower_shadow::compare::{Comparator, DiffKind, JsonComparator, Shape, Tolerance};
use tower_shadow::exchange::Exchange;

const CASES: u64 = 4000;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Index(usize),
}

type Path = Vec<Seg>;

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

/// RFC 6901, written independently of the crate's own code.
fn pointer(path: &[Seg]) -> String {
    path.iter()
        .map(|seg| match seg {
            Seg::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            Seg::Index(i) => format!("/{i}"),
        })
        .collect()
}

fn get_mut<'v>(value: &'v mut Value, path: &[Seg]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |v, seg| match (v, seg) {
        (Value::Object(map), Seg::Key(k)) => map.get_mut(k),
        (Value::Array(list), Seg::Index(i)) => list.get_mut(*i),
        _ => None,
    })
}

fn overlaps(a: &[Seg], b: &[Seg]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

struct Gen {
    rng: StdRng,
    unique: u64,
}

impl Gen {
    fn unique(&mut self, prefix: &str) -> String {
        self.unique += 1;
        format!("{prefix}{}", self.unique)
    }

    fn key(&mut self) -> String {
        const KEYS: [&str; 12] = [
            "a", "b", "name", "value", "a/b", "m~n", "~1", "é", "x y", "\"q\"", "", "*",
        ];
        if self.rng.random_bool(0.3) {
            self.unique("k")
        } else {
            KEYS.choose(&mut self.rng)
                .copied()
                .unwrap_or("a")
                .to_owned()
        }
    }

    fn string(&mut self) -> String {
        const STRINGS: [&str; 6] = [
            "",
            "plain",
            "quote \" slash \\ / done",
            "line\nbreak",
            "ünïcødé 😀",
            "\u{1}ctl",
        ];
        if self.rng.random_bool(0.5) {
            self.unique("s")
        } else {
            STRINGS
                .choose(&mut self.rng)
                .copied()
                .unwrap_or("")
                .to_owned()
        }
    }

    fn number(&mut self) -> Value {
        match self.rng.random_range(0..4) {
            0 => Value::from(self.rng.random_range(-1000i64..1000)),
            // Beyond f64's 53 bits: exactness matters.
            1 => Value::from(self.rng.random_range(1u64 << 60..u64::MAX)),
            2 => Number::from_f64(self.rng.random_range(-1e6..1e6))
                .map(Value::Number)
                .unwrap_or(Value::Null),
            _ => Number::from_f64(self.rng.random_range(-1e-3..1e-3) * 1e-200)
                .map(Value::Number)
                .unwrap_or(Value::Null),
        }
    }

    fn scalar(&mut self) -> Value {
        match self.rng.random_range(0..7) {
            0 => Value::Null,
            1 => Value::Bool(self.rng.random()),
            2 | 3 => self.number(),
            4 => Value::Array(Vec::new()),
            5 => Value::Object(Map::new()),
            _ => Value::String(self.string()),
        }
    }

    fn value(&mut self, depth: u32) -> Value {
        if depth == 0 || self.rng.random_bool(0.35) {
            return self.scalar();
        }
        let n = self.rng.random_range(1..5);
        if self.rng.random_bool(0.5) {
            Value::Array((0..n).map(|_| self.value(depth - 1)).collect())
        } else {
            let mut map = Map::new();
            for _ in 0..n {
                let k = self.key();
                let v = self.value(depth - 1);
                map.insert(k, v);
            }
            Value::Object(map)
        }
    }

    fn uuid(&mut self) -> String {
        let hex = |rng: &mut StdRng, n: usize| -> String {
            (0..n)
                .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
                .collect()
        };
        let r = &mut self.rng;
        format!(
            "{}-{}-{}-{}-{}",
            hex(r, 8),
            hex(r, 4),
            hex(r, 4),
            hex(r, 4),
            hex(r, 12)
        )
    }

    fn price(&mut self) -> f64 {
        (self.rng.random_range(100..100_000) as f64) / 100.0
    }

    fn document(&mut self) -> Value {
        let tags: Vec<Value> = (0..self.rng.random_range(0..8))
            .map(|_| Value::String(self.unique("t")))
            .collect();
        let items: Vec<Value> = (0..self.rng.random_range(0..6))
            .map(|i| {
                let mut item = Map::new();
                item.insert("id".into(), Value::from(i));
                item.insert("price".into(), Value::from(self.price()));
                item.insert("name".into(), Value::String(self.string()));
                item.insert("attrs".into(), self.value(2));
                Value::Object(item)
            })
            .collect();
        let mut data = Map::new();
        for _ in 0..self.rng.random_range(1..6) {
            let k = self.key();
            let v = self.value(4);
            data.insert(k, v);
        }
        let mut meta = Map::new();
        meta.insert(
            "timestamp".into(),
            Value::String("2024-01-01T00:00:00Z".into()),
        );
        meta.insert("version".into(), Value::from(3));
        let mut doc = Map::new();
        doc.insert("meta".into(), Value::Object(meta));
        doc.insert("id".into(), Value::String(self.uuid()));
        doc.insert("tags".into(), Value::Array(tags));
        doc.insert("items".into(), Value::Array(items));
        doc.insert("data".into(), Value::Object(data));
        Value::Object(doc)
    }

    /// JSON text with members in a random order and random whitespace.
    fn write(&mut self, value: &Value, out: &mut String) {
        let ws = |rng: &mut StdRng, out: &mut String| {
            if rng.random_bool(0.2) {
                out.push_str(
                    [" ", "\n", "\t", "\r\n  "]
                        .choose(rng)
                        .copied()
                        .unwrap_or(" "),
                );
            }
        };
        match value {
            Value::Array(list) => {
                out.push('[');
                for (i, v) in list.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    ws(&mut self.rng, out);
                    self.write(v, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                let mut members: Vec<_> = map.iter().collect();
                members.shuffle(&mut self.rng);
                out.push('{');
                for (i, (k, v)) in members.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    ws(&mut self.rng, out);
                    out.push_str(&serde_json::to_string(k).unwrap());
                    ws(&mut self.rng, out);
                    out.push(':');
                    self.write(v, out);
                }
                out.push('}');
            }
            scalar => out.push_str(&serde_json::to_string(scalar).unwrap()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Leaf,
    Object,
    Array,
}

/// Every place in `value`, with what it is.
fn places(value: &Value, path: &mut Path, out: &mut Vec<(Path, Kind)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push((path.clone(), Kind::Object));
            for (k, v) in map {
                path.push(key(k));
                places(v, path, out);
                path.pop();
            }
        }
        Value::Array(list) if !list.is_empty() => {
            out.push((path.clone(), Kind::Array));
            for (i, v) in list.iter().enumerate() {
                path.push(Seg::Index(i));
                places(v, path, out);
                path.pop();
            }
        }
        Value::Object(_) => {
            out.push((path.clone(), Kind::Object));
            out.push((path.clone(), Kind::Leaf));
        }
        Value::Array(_) => {
            out.push((path.clone(), Kind::Array));
            out.push((path.clone(), Kind::Leaf));
        }
        _ => out.push((path.clone(), Kind::Leaf)),
    }
}

/// What one case expects: reported paths, with their kind when it is
/// determined (inside an unordered array it depends on the pairing).
#[derive(Default)]
struct Expected {
    reported: BTreeMap<String, Option<DiffKind>>,
    /// Paths touched by a mutation, excused or not.
    touched: Vec<Path>,
    /// Arrays whose length changed.
    resized: Vec<Path>,
}

impl Expected {
    fn free(&self, path: &[Seg]) -> bool {
        !self.touched.iter().any(|t| overlaps(t, path))
    }

    fn record(&mut self, path: Path, kind: Option<DiffKind>, excused: bool) {
        if !excused {
            self.reported.insert(pointer(&path), kind);
        }
        self.touched.push(path);
    }
}

fn is_timestamp(path: &[Seg]) -> bool {
    path.len() >= 2 && path[0] == key("meta") && path[1] == key("timestamp")
}

fn is_price(path: &[Seg]) -> bool {
    path.len() == 3 && path[0] == key("items") && path[2] == key("price")
}

fn is_special(path: &[Seg]) -> bool {
    path.first() == Some(&key("tags")) || path == [key("id")]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tag {
    /// Still the baseline's tag at this index.
    Original(usize),
    Changed,
    Added,
}

/// The candidate's tags, before they are written back.
struct Tags {
    list: Vec<(Tag, String)>,
    adding: Option<bool>,
    shuffle: bool,
}

fn mutate(g: &mut Gen, doc: &mut Value, tags: &mut Tags, e: &mut Expected) {
    let mut all = Vec::new();
    places(doc, &mut Vec::new(), &mut all);
    let (path, kind) = all
        .choose(&mut g.rng)
        .cloned()
        .unwrap_or((Vec::new(), Kind::Leaf));
    let excused = is_timestamp(&path);
    match g.rng.random_range(0..12) {
        // A value changes, keeping its type.
        0 | 1 if kind == Kind::Leaf && !is_special(&path) && !is_price(&path) && e.free(&path) => {
            let Some(v) = get_mut(doc, &path) else { return };
            let new = match &*v {
                Value::Bool(b) => Value::Bool(!b),
                Value::String(s) => Value::String(format!("{s}Δ")),
                Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                    (Some(i), _, _) if i.abs() < 1 << 50 => {
                        Value::from(i + g.rng.random_range(1..100))
                    }
                    (_, Some(u), _) => Value::from(u - g.rng.random_range(1..100)),
                    (_, _, Some(f)) => Number::from_f64(f * 2.0 + 1.0)
                        .map(Value::Number)
                        .unwrap_or(Value::Null),
                    _ => return,
                },
                _ => return,
            };
            *v = new;
            e.record(path, Some(DiffKind::Value), excused);
        }
        // A leaf changes type.
        2 if kind == Kind::Leaf
            && path != [key("id")]
            && path.first() != Some(&key("tags"))
            && e.free(&path) =>
        {
            let Some(v) = get_mut(doc, &path) else { return };
            *v = match &*v {
                Value::Number(n) => Value::String(n.to_string()),
                Value::String(_) => Value::from(7),
                Value::Bool(_) => Value::Null,
                Value::Null => Value::Bool(true),
                Value::Array(_) => Value::Object(Map::new()),
                Value::Object(_) => Value::Array(Vec::new()),
            };
            e.record(path, Some(DiffKind::Type), excused);
        }
        // A member goes.
        3 | 4 if kind == Kind::Object && path.first() != Some(&key("tags")) => {
            let Some(Value::Object(map)) = get_mut(doc, &path) else {
                return;
            };
            let keys: Vec<String> = map.keys().cloned().collect();
            let Some(k) = keys.choose(&mut g.rng) else {
                return;
            };
            let mut member = path.clone();
            member.push(key(k));
            if !e.free(&member) {
                return;
            }
            map.remove(k);
            let excused = is_timestamp(&member);
            e.record(member, Some(DiffKind::Missing), excused);
        }
        // A member comes.
        5 if kind == Kind::Object && path.first() != Some(&key("tags")) => {
            let k = g.unique("new/~");
            let mut member = path.clone();
            member.push(key(&k));
            if !e.free(&member) {
                return;
            }
            let v = g.value(2);
            let Some(Value::Object(map)) = get_mut(doc, &path) else {
                return;
            };
            map.insert(k, v);
            e.record(member, Some(DiffKind::Added), false);
        }
        // An ordered array loses or gains its last element.
        6 if kind == Kind::Array
            && path.first() != Some(&key("tags"))
            && !e.resized.contains(&path) =>
        {
            let push = g.rng.random_bool(0.5);
            let v = g.value(2);
            let Some(Value::Array(list)) = get_mut(doc, &path) else {
                return;
            };
            let mut element = path.clone();
            if push {
                element.push(Seg::Index(list.len()));
                if !e.free(&element) {
                    return;
                }
                list.push(v);
                e.record(element, Some(DiffKind::Added), excused);
            } else {
                let Some(last) = list.len().checked_sub(1) else {
                    return;
                };
                element.push(Seg::Index(last));
                if !e.free(&element) {
                    return;
                }
                list.pop();
                e.record(element, Some(DiffKind::Missing), excused);
            }
            e.resized.push(path);
        }
        // An integer written as an equal float: not a difference.
        7 if kind == Kind::Leaf && !is_special(&path) && e.free(&path) => {
            let Some(v) = get_mut(doc, &path) else { return };
            if let Some(i) = v.as_i64().filter(|i| i.abs() < 1 << 50) {
                *v = Number::from_f64(i as f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null);
                e.record(path, None, true);
            }
        }
        // A price moves, inside or outside the 1 % tolerance.
        8 => {
            let n = doc["items"].as_array().map_or(0, Vec::len);
            if n == 0 {
                return;
            }
            let path = vec![
                key("items"),
                Seg::Index(g.rng.random_range(0..n)),
                key("price"),
            ];
            if !e.free(&path) {
                return;
            }
            let inside = g.rng.random_bool(0.5);
            let Some(v) = get_mut(doc, &path) else { return };
            let Some(price) = v.as_f64() else { return };
            let factor = if inside {
                1.0 + g.rng.random_range(-0.004..0.004)
            } else {
                let off = g.rng.random_range(0.03..0.5);
                if g.rng.random_bool(0.5) {
                    1.0 + off
                } else {
                    1.0 - off
                }
            };
            *v = Value::from(price * factor);
            e.record(path, Some(DiffKind::Value), inside);
        }
        // The id becomes another UUID (fine) or not a UUID.
        9 => {
            let path = vec![key("id")];
            if !e.free(&path) {
                return;
            }
            let good = g.rng.random_bool(0.5);
            let new = if good {
                g.uuid()
            } else {
                "not-a-uuid".to_owned()
            };
            let Some(v) = get_mut(doc, &path) else { return };
            *v = Value::String(new);
            e.record(path, Some(DiffKind::Value), good);
        }
        // The ignored timestamp changes.
        10 => {
            let path = vec![key("meta"), key("timestamp")];
            if !e.free(&path) {
                return;
            }
            let Some(v) = get_mut(doc, &path) else { return };
            *v = Value::from(g.rng.random_range(0..1_000_000));
            e.record(path, None, true);
        }
        // Tags: shuffled, changed, removed or added.
        _ => {
            if !e.free(&[key("tags"), key("#")]) {
                return;
            }
            match g.rng.random_range(0..4) {
                0 => tags.shuffle = true,
                1 | 2 if tags.adding != Some(true) => {
                    let originals: Vec<usize> = (0..tags.list.len())
                        .filter(|&i| matches!(tags.list[i].0, Tag::Original(_)))
                        .collect();
                    let Some(&i) = originals.choose(&mut g.rng) else {
                        return;
                    };
                    let Tag::Original(b) = tags.list[i].0 else {
                        return;
                    };
                    if g.rng.random_bool(0.5) {
                        tags.list[i] = (Tag::Changed, g.unique("changed"));
                    } else {
                        tags.list.remove(i);
                    }
                    tags.adding = Some(false);
                    e.reported
                        .insert(pointer(&[key("tags"), Seg::Index(b)]), None);
                }
                3 if tags.adding != Some(false) => {
                    tags.adding = Some(true);
                    let at = g.rng.random_range(0..=tags.list.len());
                    let value = g.unique("added");
                    tags.list.insert(at, (Tag::Added, value));
                }
                _ => {}
            }
            // The tags member itself may no longer be removed or retyped.
            e.touched.push(vec![key("tags"), key("#")]);
        }
    }
}

#[test]
fn reports_exactly_the_unexcused_mutations() {
    let comparator = JsonComparator::new()
        .ignore("/meta/timestamp")
        .tolerance("/items/*/price", Tolerance::relative(0.01))
        .unordered("/tags")
        .shape("/id", Shape::Uuid)
        .ignore_header("date")
        .max_differences(1000);
    let exchange = |body: String| {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Exchange::new(StatusCode::OK, headers, body)
    };

    let mut mutated_cases = 0;
    let mut equivalent_cases = 0;
    for seed in 0..CASES {
        let mut g = Gen {
            rng: StdRng::seed_from_u64(seed),
            unique: 0,
        };
        let baseline = g.document();
        let mut candidate = baseline.clone();
        let mut expected = Expected::default();
        let originals: Vec<String> = baseline["tags"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut tags = Tags {
            list: originals
                .into_iter()
                .enumerate()
                .map(|(i, t)| (Tag::Original(i), t))
                .collect(),
            adding: None,
            shuffle: false,
        };
        let mutations = g.rng.random_range(0..7);
        for _ in 0..mutations {
            mutate(&mut g, &mut candidate, &mut tags, &mut expected);
        }
        if tags.shuffle {
            tags.list.shuffle(&mut g.rng);
        }
        if let Some(slot) = candidate.get_mut("tags") {
            if slot.is_array() {
                *slot = Value::Array(
                    tags.list
                        .iter()
                        .map(|(_, t)| Value::String(t.clone()))
                        .collect(),
                );
                for (i, (b, _)) in tags.list.iter().enumerate() {
                    if *b == Tag::Added {
                        expected.reported.insert(
                            pointer(&[key("tags"), Seg::Index(i)]),
                            Some(DiffKind::Added),
                        );
                    }
                }
            }
        }

        let a = if g.rng.random_bool(0.5) {
            serde_json::to_string(&baseline).unwrap()
        } else {
            let mut s = String::new();
            g.write(&baseline, &mut s);
            s
        };
        let mut b = String::new();
        g.write(&candidate, &mut b);

        let comparison = comparator.compare(&exchange(a.clone()), &exchange(b.clone()));
        let found: BTreeMap<String, DiffKind> = comparison
            .differences
            .iter()
            .map(|d| (d.path.clone(), d.kind))
            .collect();
        let context = || format!("seed {seed}\nbaseline  {a}\ncandidate {b}\n{comparison:#?}");
        assert_eq!(
            found.keys().collect::<Vec<_>>(),
            expected.reported.keys().collect::<Vec<_>>(),
            "{}",
            context()
        );
        for (path, kind) in &expected.reported {
            if let Some(kind) = kind {
                assert_eq!(found[path], *kind, "{path}: {}", context());
            }
        }
        if expected.reported.is_empty() {
            assert!(
                comparison.is_equivalent() && comparison.score == 1.0,
                "{}",
                context()
            );
            equivalent_cases += 1;
        } else {
            assert!(
                comparison.score < 1.0 && comparison.score > 0.0,
                "{}",
                context()
            );
            mutated_cases += 1;
        }
    }
    // The generator covers both outcomes in earnest.
    assert!(mutated_cases > CASES / 2, "{mutated_cases}");
    assert!(equivalent_cases > CASES / 10, "{equivalent_cases}");
}

#[test]
fn a_document_equals_itself_however_written() {
    let comparator = JsonComparator::new();
    for seed in 0..500 {
        let mut g = Gen {
            rng: StdRng::seed_from_u64(1_000_000 + seed),
            unique: 0,
        };
        let doc = g.value(6);
        let (mut a, mut b) = (String::new(), String::new());
        g.write(&doc, &mut a);
        g.write(&doc, &mut b);
        let json = |s: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Exchange::new(StatusCode::OK, headers, s.to_owned())
        };
        let c = comparator.compare(&json(&a), &json(&b));
        assert!(c.is_equivalent(), "seed {seed}: {a} vs {b}: {c:?}");
    }
}
