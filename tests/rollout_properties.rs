//! The rollout's stage machine under random sequences of policy decisions
//! and operators' commands.

use proptest::prelude::*;
use std::sync::{Arc, Mutex};
use tower_shadow::health::{Health, HealthSnapshot};
use tower_shadow::policy::Decision;
use tower_shadow::rollout::{Rollout, Stage};
use tower_shadow::router::Weights;

#[derive(Clone, Debug)]
enum Step {
    Tick(Decision),
    StartTesting(f64),
    Promote,
    Pause,
    Resume,
    Abort,
    Retry,
    RollbackTo,
    Remove,
}

fn decision() -> impl Strategy<Value = Decision> {
    prop_oneof![
        Just(Decision::Hold),
        Just(Decision::Promote),
        Just(Decision::Inconclusive {
            reason: "few pairs".into()
        }),
        Just(Decision::Rollback {
            reason: "bad".into()
        }),
        // Weights outside [0, 1] and NaN included on purpose.
        prop_oneof![-1.0..2.0f64, Just(f64::NAN)].prop_map(|w| Decision::Shift {
            canary_weight: w,
            reason: "shift".into()
        }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => decision().prop_map(Step::Tick),
        1 => (-0.5..1.5f64).prop_map(Step::StartTesting),
        1 => Just(Step::Promote),
        1 => Just(Step::Pause),
        1 => Just(Step::Resume),
        1 => Just(Step::Abort),
        1 => Just(Step::Retry),
        1 => Just(Step::RollbackTo),
        1 => Just(Step::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn weights_stay_in_range_moves_are_valid_and_rollbacks_zero_the_canary(
        steps in proptest::collection::vec(step(), 1..60)
    ) {
        let next = Arc::new(Mutex::new(Decision::Hold));
        let policy = {
            let next = next.clone();
            move |_: &HealthSnapshot, _: f64| next.lock().unwrap().clone()
        };
        let weights = Weights::new(0.0);
        let rollout = Rollout::builder(Health::new(), weights.clone())
            .policy(policy)
            .version("v1", serde_json::json!({}))
            .build();
        for step in steps {
            let before = rollout.stage();
            let result = match step {
                Step::Tick(decision) => {
                    *next.lock().unwrap() = decision;
                    rollout.step();
                    Ok(())
                }
                Step::StartTesting(w) => rollout.start_testing(w).map(drop),
                Step::Promote => rollout.promote().map(drop),
                Step::Pause => rollout.pause(),
                Step::Resume => rollout.resume(),
                Step::Abort => rollout.abort().map(drop),
                Step::Retry => rollout.retry().map(drop),
                Step::RollbackTo => rollout.rollback_to("v1").map(drop),
                Step::Remove => rollout.remove().map(drop),
            };
            if result.is_err() {
                prop_assert_eq!(rollout.stage(), before, "a refused command changed the stage");
            }
            let w = weights.canary();
            prop_assert!((0.0..=1.0).contains(&w), "weight {} out of range", w);
            match rollout.stage() {
                Stage::RolledBack | Stage::Removing | Stage::Shadow => prop_assert_eq!(w, 0.0),
                Stage::Live => prop_assert_eq!(w, 1.0),
                _ => {}
            }
        }
        for event in rollout.events() {
            prop_assert!(
                event.from == event.to || event.from.can_move_to(event.to),
                "invalid move {:?} -> {:?}", event.from, event.to
            );
            prop_assert!((0.0..=1.0).contains(&event.weight_after));
            if event.to == Stage::RolledBack {
                prop_assert_eq!(event.weight_after, 0.0);
            }
        }
    }
}
