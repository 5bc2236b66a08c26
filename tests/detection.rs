//! The detection benchmark's claims, checked in CI on a reduced run (the
//! full table: `cargo run --release --example detection`, see
//! docs/detection.md).

#[path = "../examples/detection.rs"]
#[allow(dead_code)]
mod detection;

use detection::{run, Mode, Scenario};

#[test]
fn new_policies_keep_false_alarms_low_and_detect_fast() {
    let scenarios = [
        Scenario::AA,
        Scenario::Mismatch,
        Scenario::Variance,
        Scenario::SparseErrors,
    ];
    let (names, cells) = run(Mode::QUICK, &scenarios);
    let column = |name: &str| {
        names
            .iter()
            .position(|n| n.starts_with(name))
            .unwrap_or_else(|| panic!("no policy {name}"))
    };
    let table = detection::table(&names, &scenarios, &cells);

    for policy in [
        "RankPolicy",
        "SequentialPolicy",
        "AdaptivePolicy",
        "PredictivePolicy",
    ] {
        let aa = &cells[0][column(policy)];
        assert_eq!(aa.runs, 300);
        // Target ≤ 1 %; 2 % leaves room for the small sample.
        assert!(
            aa.detected <= 6,
            "{policy}: {} false alarms\n{table}",
            aa.detected
        );
    }

    let sequential = column("SequentialPolicy");
    let mismatch = &cells[1][sequential];
    assert!(
        mismatch.median_pairs.is_some_and(|p| p <= 1500),
        "mismatch 1 % → 3 %: {mismatch:?}\n{table}"
    );
    let sparse = &cells[3][sequential];
    assert!(sparse.detected >= 54, "sparse errors: {sparse:?}\n{table}");

    let spread = &cells[2][column("RankPolicy")];
    assert!(
        spread.median_pairs.is_some_and(|p| p <= 2400),
        "variance ×2: {spread:?}\n{table}"
    );
}
