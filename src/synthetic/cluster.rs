use super::profile::SyntheticProfile;
use super::shape::RequestShape;
use crate::policy::ConfigError;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// How request shapes are clustered into profiles, and its serde form.
/// Every field may be left out.
///
/// The number of groups, unless `groups` sets it, is the one in
/// `2..=max_groups` with the highest mean silhouette; when even that is
/// under `min_silhouette` (0.25: "no substantial structure", after Kaufman
/// and Rousseeuw) the traffic is one group. Distances count from a
/// resolution of half a standard deviation, so near-identical requests
/// (bodies a byte apart) are not taken for separate groups.
///
/// ```
/// use tower_shadow::synthetic::ClusterConfig;
///
/// let config: ClusterConfig = serde_json::from_str(r#"{"groups": 3, "seed": 7}"#)?;
/// assert!(config.validate().is_ok());
/// let bad: ClusterConfig = serde_json::from_str(r#"{"max_groups": 100}"#)?;
/// assert_eq!(
///     bad.validate().unwrap_err().to_string(),
///     "invalid cluster config: max_groups: must be in 2..=32, not 100"
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// A fixed number of groups, `1..=32`; default none (chosen by silhouette).
    pub groups: Option<usize>,
    /// The most groups tried, `2..=32`; default 8.
    pub max_groups: usize,
    /// Under this best mean silhouette, one group, in `-1..=1`; default 0.25.
    pub min_silhouette: f64,
    /// The seed of k-means++; default 0.
    pub seed: u64,
    /// k-means++ runs per number of groups, the tightest kept, `1..=32`;
    /// default 4.
    pub restarts: usize,
    /// The most Lloyd iterations per run, `1..=1000`; default 100.
    pub max_iterations: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            groups: None,
            max_groups: 8,
            min_silhouette: 0.25,
            seed: 0,
            restarts: 4,
            max_iterations: 100,
        }
    }
}

const MAX_GROUPS: usize = 32;

impl ClusterConfig {
    /// Checks every field, naming the first that is out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(groups) = self.groups {
            crate::config::in_range("cluster", "groups", groups, 1, MAX_GROUPS)?;
        }
        crate::config::in_range("cluster", "max_groups", self.max_groups, 2, MAX_GROUPS)?;
        crate::config::in_range("cluster", "min_silhouette", self.min_silhouette, -1.0, 1.0)?;
        crate::config::in_range("cluster", "restarts", self.restarts, 1, 32)?;
        crate::config::in_range("cluster", "max_iterations", self.max_iterations, 1, 1000)
    }
}

/// The outcome of clustering request shapes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Clustering {
    /// The profiles, largest share first.
    pub profiles: Vec<SyntheticProfile>,
    /// For each shape clustered, in order, the index of its profile.
    pub assignments: Vec<usize>,
    /// The mean silhouette of the chosen grouping (`None` for one group).
    pub silhouette: Option<f64>,
}

/// One-hot columns are weighted so that a different route outweighs a
/// difference of about two standard deviations in the sizes.
const ROUTE_WEIGHT: f64 = 2.0;
const AGENT_WEIGHT: f64 = 1.0;
/// The most routes and agent families given a column each; rarer ones share one.
const MAX_COLUMNS: usize = 64;
/// Distances under about this much (half a standard deviation of a size)
/// are not structure: silhouettes are computed on `a + RESOLUTION` and
/// `b + RESOLUTION`, so requests that differ by a byte are not split.
const RESOLUTION: f64 = 0.5;
/// Silhouettes are computed for at most this many distinct points.
const SILHOUETTE_POINTS: usize = 256;

/// Clusters `shapes` (e.g. [`Captured::shapes`](super::Captured::shapes))
/// into synthetic profiles with k-means++ (seeded, so the same shapes
/// always give the same profiles). Settings out of range are clamped to it.
///
/// Each shape is a point: the z-scores of `ln(1 + query bytes)`,
/// `ln(1 + body bytes)` and the number of headers, a one-hot column per
/// route (weight 2) and per user agent family (weight 1). Identical points
/// are clustered once, with their count as weight.
///
/// ```
/// use tower_shadow::mask::Masker;
/// use tower_shadow::synthetic::{cluster, ClusterConfig, RequestShape};
///
/// let shape = |path: &str, body: usize| {
///     let (head, ()) = http::Request::post(path).body(()).unwrap().into_parts();
///     let route = format!("POST {path}");
///     RequestShape::of(&head, route, &vec![b'a'; body], body, &Masker::new())
/// };
/// let mut shapes = Vec::new();
/// for i in 0..30 {
///     shapes.push(shape("/small", 10 + i % 3));
///     shapes.push(shape("/large", 5000 + i));
/// }
/// let clustering = cluster(&shapes, &ClusterConfig::default());
/// assert_eq!(clustering.profiles.len(), 2);
/// assert_eq!(clustering.profiles[0].share, 0.5);
/// assert_ne!(clustering.assignments[0], clustering.assignments[1]);
/// ```
pub fn cluster(shapes: &[RequestShape], config: &ClusterConfig) -> Clustering {
    if shapes.is_empty() {
        return Clustering {
            profiles: Vec::new(),
            assignments: Vec::new(),
            silhouette: None,
        };
    }
    let features = features(shapes);
    // Distinct points and their weights; `of[i]` is shape i's point.
    let mut index: HashMap<Vec<u64>, usize> = HashMap::new();
    let mut points: Vec<Vec<f64>> = Vec::new();
    let mut weights: Vec<f64> = Vec::new();
    let of: Vec<usize> = features
        .into_iter()
        .map(|f| {
            let key = f.iter().map(|x| x.to_bits()).collect();
            let p = *index.entry(key).or_insert_with(|| {
                points.push(f);
                weights.push(0.0);
                points.len() - 1
            });
            weights[p] += 1.0;
            p
        })
        .collect();

    let mut rng = StdRng::seed_from_u64(config.seed);
    let restarts = config.restarts.clamp(1, 32);
    let iterations = config.max_iterations.clamp(1, 1000);
    let mut run = |k: usize| {
        (0..restarts)
            .map(|_| kmeans(&points, &weights, k, iterations, &mut rng))
            .min_by(|a, b| a.inertia.total_cmp(&b.inertia))
            .expect("at least one restart")
    };
    let (fit, silhouette) = match config.groups {
        Some(k) => {
            let k = k.clamp(1, MAX_GROUPS).min(points.len());
            let fit = run(k);
            let s = (k > 1).then(|| silhouette(&points, &weights, &fit.labels, k));
            (fit, s)
        }
        None => {
            let most = config.max_groups.clamp(2, MAX_GROUPS).min(points.len());
            let mut best: Option<(Fit, f64)> = None;
            for k in 2..=most {
                let fit = run(k);
                let s = silhouette(&points, &weights, &fit.labels, k);
                if best.as_ref().is_none_or(|(_, b)| s > *b) {
                    best = Some((fit, s));
                }
            }
            match best {
                Some((fit, s)) if s >= config.min_silhouette => (fit, Some(s)),
                _ => (run(1), None),
            }
        }
    };
    profiles(shapes, &of, &points, &fit, silhouette)
}

/// The feature vector of each shape.
fn features(shapes: &[RequestShape]) -> Vec<Vec<f64>> {
    let routes = vocabulary(shapes.iter().map(|s| s.route.as_str()));
    let agents = vocabulary(shapes.iter().map(|s| s.user_agent.as_str()));
    let numeric: Vec<[f64; 3]> = shapes
        .iter()
        .map(|s| {
            [
                (s.query_bytes as f64).ln_1p(),
                (s.body_bytes as f64).ln_1p(),
                s.header_names.len() as f64,
            ]
        })
        .collect();
    let n = shapes.len() as f64;
    let mut scale = [(0.0, 1.0); 3];
    for (column, (mean, sd)) in scale.iter_mut().enumerate() {
        *mean = numeric.iter().map(|x| x[column]).sum::<f64>() / n;
        let var = numeric
            .iter()
            .map(|x| (x[column] - *mean).powi(2))
            .sum::<f64>()
            / n;
        *sd = if var > 0.0 { var.sqrt() } else { 1.0 };
    }
    let width = 3 + routes.width + agents.width;
    shapes
        .iter()
        .zip(&numeric)
        .map(|(shape, x)| {
            let mut f = vec![0.0; width];
            for (column, (mean, sd)) in scale.iter().enumerate() {
                f[column] = (x[column] - mean) / sd;
            }
            f[3 + routes.column(&shape.route)] = ROUTE_WEIGHT;
            f[3 + routes.width + agents.column(&shape.user_agent)] = AGENT_WEIGHT;
            f
        })
        .collect()
}

/// The most frequent values get a column each; the rest share the last.
struct Vocabulary {
    columns: HashMap<String, usize>,
    width: usize,
}

impl Vocabulary {
    fn column(&self, value: &str) -> usize {
        self.columns.get(value).copied().unwrap_or(self.width - 1)
    }
}

fn vocabulary<'a>(values: impl Iterator<Item = &'a str>) -> Vocabulary {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let rest = ranked.len() > MAX_COLUMNS;
    let columns: HashMap<String, usize> = ranked
        .iter()
        .take(MAX_COLUMNS)
        .enumerate()
        .map(|(i, (value, _))| ((*value).to_owned(), i))
        .collect();
    Vocabulary {
        width: columns.len() + usize::from(rest),
        columns,
    }
}

fn distance2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

struct Fit {
    labels: Vec<usize>,
    centroids: Vec<Vec<f64>>,
    inertia: f64,
}

/// Weighted k-means with k-means++ seeding.
fn kmeans(
    points: &[Vec<f64>],
    weights: &[f64],
    k: usize,
    iterations: usize,
    rng: &mut StdRng,
) -> Fit {
    let mut centroids = vec![points[weighted_draw(weights, rng)].clone()];
    let mut nearest: Vec<f64> = points.iter().map(|p| distance2(p, &centroids[0])).collect();
    while centroids.len() < k {
        let d2: Vec<f64> = nearest.iter().zip(weights).map(|(d, w)| d * w).collect();
        let next = if d2.iter().sum::<f64>() > 0.0 {
            weighted_draw(&d2, rng)
        } else {
            rng.random_range(0..points.len())
        };
        centroids.push(points[next].clone());
        for (d, p) in nearest.iter_mut().zip(points) {
            *d = d.min(distance2(p, &centroids[centroids.len() - 1]));
        }
    }
    let mut labels = vec![usize::MAX; points.len()];
    for _ in 0..iterations {
        let mut changed = false;
        for (label, p) in labels.iter_mut().zip(points) {
            let best = closest(p, &centroids).0;
            changed |= *label != best;
            *label = best;
        }
        if !changed {
            break;
        }
        let dims = points[0].len();
        let mut sums = vec![vec![0.0; dims]; k];
        let mut mass = vec![0.0; k];
        for ((p, &label), w) in points.iter().zip(&labels).zip(weights) {
            mass[label] += w;
            for (s, x) in sums[label].iter_mut().zip(p) {
                *s += w * x;
            }
        }
        for (c, (sum, m)) in centroids.iter_mut().zip(sums.into_iter().zip(&mass)) {
            // An emptied group keeps its centroid; it may win points back.
            if *m > 0.0 {
                *c = sum.into_iter().map(|s| s / m).collect();
            }
        }
    }
    let inertia = points
        .iter()
        .zip(&labels)
        .zip(weights)
        .map(|((p, &l), w)| w * distance2(p, &centroids[l]))
        .sum();
    Fit {
        labels,
        centroids,
        inertia,
    }
}

fn closest(p: &[f64], centroids: &[Vec<f64>]) -> (usize, f64) {
    centroids
        .iter()
        .map(|c| distance2(p, c))
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("at least one centroid")
}

fn weighted_draw(weights: &[f64], rng: &mut StdRng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut target = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if target < *w {
            return i;
        }
        target -= w;
    }
    weights.len() - 1
}

/// The weighted mean silhouette (each distinct point standing for `weight`
/// identical shapes), over at most [`SILHOUETTE_POINTS`] evenly spread
/// points, at the [`RESOLUTION`].
fn silhouette(points: &[Vec<f64>], weights: &[f64], labels: &[usize], k: usize) -> f64 {
    let step = points.len().div_ceil(SILHOUETTE_POINTS);
    let mut mass = vec![0.0; k];
    for (&l, w) in labels.iter().zip(weights) {
        mass[l] += w;
    }
    let (mut total, mut weight) = (0.0, 0.0);
    for i in (0..points.len()).step_by(step) {
        let own = labels[i];
        let mut sums = vec![0.0; k];
        for (j, p) in points.iter().enumerate() {
            sums[labels[j]] += weights[j] * distance2(&points[i], p).sqrt();
        }
        let s = if mass[own] <= 1.0 {
            0.0
        } else {
            let a = sums[own] / (mass[own] - 1.0);
            let b = (0..k)
                .filter(|&c| c != own && mass[c] > 0.0)
                .map(|c| sums[c] / mass[c])
                .fold(f64::INFINITY, f64::min);
            if b.is_finite() {
                let (a, b) = (a + RESOLUTION, b + RESOLUTION);
                (b - a) / a.max(b)
            } else {
                0.0
            }
        };
        total += weights[i] * s;
        weight += weights[i];
    }
    total / weight
}

/// The profiles of a fit, largest first, each represented by the shape
/// nearest its centroid.
fn profiles(
    shapes: &[RequestShape],
    of: &[usize],
    points: &[Vec<f64>],
    fit: &Fit,
    silhouette: Option<f64>,
) -> Clustering {
    let k = fit.centroids.len();
    let mut members = vec![0usize; k];
    let mut representative: Vec<Option<(f64, usize)>> = vec![None; k];
    for (i, &p) in of.iter().enumerate() {
        let label = fit.labels[p];
        members[label] += 1;
        let d = distance2(&points[p], &fit.centroids[label]);
        if representative[label].is_none_or(|(best, _)| d < best) {
            representative[label] = Some((d, i));
        }
    }
    let mut order: Vec<usize> = (0..k).filter(|&c| members[c] > 0).collect();
    order.sort_by(|&a, &b| members[b].cmp(&members[a]).then(a.cmp(&b)));
    let mut rank = vec![usize::MAX; k];
    for (r, &c) in order.iter().enumerate() {
        rank[c] = r;
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let routes: Vec<&str> = order
        .iter()
        .map(|&c| {
            shapes[representative[c].expect("a member").1]
                .route
                .as_str()
        })
        .collect();
    let profiles = order
        .iter()
        .zip(&routes)
        .map(|(&c, route)| {
            let shape = &shapes[representative[c].expect("a member").1];
            let repeats = routes.iter().filter(|r| *r == route).count();
            let nth = seen.entry(route).or_default();
            *nth += 1;
            let name = if repeats > 1 {
                format!("{route} #{nth}")
            } else {
                (*route).to_owned()
            };
            SyntheticProfile::new(name, members[c] as f64 / shapes.len() as f64, shape)
        })
        .collect();
    Clustering {
        profiles,
        assignments: of.iter().map(|&p| rank[fit.labels[p]]).collect(),
        silhouette,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silhouette_is_high_for_separate_groups_and_low_for_one_blob() {
        let points: Vec<Vec<f64>> = vec![vec![0.0], vec![0.1], vec![10.0], vec![10.1]];
        let weights = vec![1.0; 4];
        let s = silhouette(&points, &weights, &[0, 0, 1, 1], 2);
        assert!(s > 0.9, "{s}");
        let s = silhouette(&points, &weights, &[0, 1, 0, 1], 2);
        assert!(s < 0.0, "{s}");
        // Two stacks of identical points a hair apart are one group.
        let points: Vec<Vec<f64>> = vec![vec![0.0], vec![0.01]];
        let s = silhouette(&points, &[10.0, 5.0], &[0, 1], 2);
        assert!(s < 0.05, "{s}");
    }

    #[test]
    fn weights_count_like_repeated_points() {
        let repeated: Vec<Vec<f64>> = vec![vec![0.0], vec![0.0], vec![1.0], vec![5.0]];
        let once: Vec<Vec<f64>> = vec![vec![0.0], vec![1.0], vec![5.0]];
        let a = silhouette(&repeated, &[1.0; 4], &[0, 0, 0, 1], 2);
        let b = silhouette(&once, &[2.0, 1.0, 1.0], &[0, 0, 1], 2);
        assert!((a - b).abs() < 1e-12, "{a} {b}");
    }

    #[test]
    fn invalid_settings_are_named() {
        let config = ClusterConfig {
            groups: Some(0),
            ..ClusterConfig::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("groups: must be in 1..=32, not 0"));
        assert_eq!(cluster(&[], &config).profiles, vec![]);
    }
}
