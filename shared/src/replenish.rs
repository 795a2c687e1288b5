//! Pick-face replenishment: when a pick face is refilled from reserve and by how much, and the
//! steps of a refill on the handheld (scan the reserve bin, the item, then the face). Pure: the
//! edge loads the levels, asks, and writes what it is told.

use serde::Serialize;

/// Everything that decides a face's refill, in units of its SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FaceLevel {
    /// Refill when the projected level falls below this.
    pub min: i64,
    /// Refill up to this.
    pub max: i64,
    /// On the face now.
    pub on_hand: i64,
    /// On its way from reserve (open refills).
    pub incoming: i64,
    /// Open picks will take this much.
    pub claimed: i64,
}

impl FaceLevel {
    /// What the face will hold once every open pick and refill on it is done.
    pub fn projected(&self) -> i64 {
        self.on_hand + self.incoming - self.claimed
    }

    /// Units to bring from reserve: up to `max` once the projected level is below `min`, so
    /// picks already allocated never find the face empty; nothing otherwise.
    pub fn refill(&self) -> i64 {
        let projected = self.projected();
        if projected < self.min {
            self.max - projected
        } else {
            0
        }
    }
}

/// Where a refill is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Go to the reserve bin and scan it.
    Open,
    /// At the reserve bin: scan the item.
    AtSource,
    /// Carrying the units: scan the pick face to put them in.
    Carrying,
    Done,
    Cancelled,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Open => "open",
            Step::AtSource => "at_source",
            Step::Carrying => "carrying",
            Step::Done => "done",
            Step::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Step> {
        [Step::Open, Step::AtSource, Step::Carrying, Step::Done, Step::Cancelled].into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_live(self) -> bool {
        matches!(self, Step::Open | Step::AtSource | Step::Carrying)
    }
}

/// The barcodes a refill expects.
#[derive(Debug, Clone, Copy)]
pub struct Codes<'a> {
    pub from: &'a str,
    pub gtin: &'a str,
    pub to: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("scan {expected} ({what}); {scanned} is not it")]
    Wrong { what: &'static str, expected: String, scanned: String },
    #[error("this refill is {0}")]
    Finished(&'static str),
}

/// One scan on a refill: the step it leads to. `Done` means the units are in the face: the
/// caller moves the stock in the same transaction.
pub fn scan(step: Step, codes: Codes<'_>, code: &str) -> Result<Step, ScanError> {
    let expect = |what, expected: &str, next| {
        if code == expected {
            Ok(next)
        } else {
            Err(ScanError::Wrong { what, expected: expected.to_owned(), scanned: code.to_owned() })
        }
    };
    match step {
        Step::Open => expect("reserve bin", codes.from, Step::AtSource),
        Step::AtSource => expect("item", codes.gtin, Step::Carrying),
        Step::Carrying => expect("pick face", codes.to, Step::Done),
        Step::Done | Step::Cancelled => Err(ScanError::Finished(step.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn level(on_hand: i64, incoming: i64, claimed: i64) -> FaceLevel {
        FaceLevel { min: 4, max: 12, on_hand, incoming, claimed }
    }

    #[test]
    fn a_face_is_refilled_to_max_once_its_projected_level_is_below_min() {
        assert_eq!(level(10, 0, 6).refill(), 0, "four left after the picks: at min, no refill");
        assert_eq!(level(10, 0, 7).refill(), 9, "three left: bring nine to reach twelve");
        assert_eq!(level(2, 9, 7).refill(), 0, "a refill on its way counts");
        assert_eq!(level(0, 0, 5).refill(), 17, "picks beyond the face's units are covered too");
    }

    #[test]
    fn a_refill_takes_the_reserve_bin_then_the_item_then_the_face_and_nothing_else() {
        let codes = Codes { from: "R-01-01", gtin: "00194502876543", to: "A-01-01" };
        let wrong = scan(Step::Open, codes, "A-01-01").expect_err("the face first is wrong");
        assert_eq!(wrong, ScanError::Wrong { what: "reserve bin", expected: "R-01-01".into(), scanned: "A-01-01".into() });
        let mut step = Step::Open;
        for code in ["R-01-01", "00194502876543", "A-01-01"] {
            step = scan(step, codes, code).expect("the right code");
        }
        assert_eq!(step, Step::Done);
        assert_eq!(scan(Step::Done, codes, "A-01-01"), Err(ScanError::Finished("done")));
        assert_eq!(scan(Step::Cancelled, codes, "R-01-01"), Err(ScanError::Finished("cancelled")));
        assert!(Step::parse("carrying").is_some_and(Step::is_live) && Step::parse("lost").is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig { rng_seed: proptest::test_runner::RngSeed::Fixed(0x5e71), ..ProptestConfig::default() })]

        /// Whatever the levels, a refill leaves the face projected at exactly max, and none is
        /// asked for while the projection is at or above min.
        #[test]
        fn a_refill_brings_the_projection_to_max(min in 0i64..50, span in 1i64..50, on_hand in 0i64..200, incoming in 0i64..100, claimed in 0i64..300) {
            let face = FaceLevel { min, max: min + span, on_hand, incoming, claimed };
            let refill = face.refill();
            if face.projected() < min {
                prop_assert_eq!(FaceLevel { incoming: incoming + refill, ..face }.projected(), face.max);
                prop_assert!(refill > 0);
            } else {
                prop_assert_eq!(refill, 0);
            }
        }
    }
}
