//! Scanner input is untrusted: random and mutated inputs never panic, and anything accepted as
//! GS1 is internally consistent. (`tote-sim bench gs1` runs a million of these.)

use proptest::prelude::*;
use tote_shared::scan::{parse, Scan};

const VALID: &[&str] = &[
    "]C1010950600013435217261231\u{1d}10ABC123\u{1d}21SN-9",
    "]d2010950600013435210LOT7\u{1d}17270200",
    "(01)09506000134352(10)LOT7(17)270200",
    "]C100106141411234567897020950600013435237120",
    "4006381333931",
    "POD-000123",
    "A-03-2",
];

fn alphabet() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('0', '9'),
        1 => Just('\u{1d}'),
        1 => prop::sample::select(vec!['(', ')', ']', 'C', 'd', 'Q', '1', '2', '3', '-', 'A', 'P', 'O', 'D']),
        1 => any::<char>(),
    ]
}

fn check(raw: &str) -> Result<(), TestCaseError> {
    if let Ok(Scan::Gs1(g)) = parse(raw, 2026) {
        if let Some(gtin) = &g.gtin {
            prop_assert_eq!(gtin.as_str().len(), 14);
        }
        if let Some(d) = g.expiry {
            prop_assert!((1..=12).contains(&d.month) && (1..=31).contains(&d.day));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, rng_seed: proptest::test_runner::RngSeed::Fixed(0x7073), ..ProptestConfig::default() })]

    #[test]
    fn random_input_never_panics(raw in prop::collection::vec(alphabet(), 0..80).prop_map(|v| v.into_iter().collect::<String>())) {
        check(&raw)?;
    }

    #[test]
    fn mutated_valid_scans_never_panic(
        base in prop::sample::select(VALID.to_vec()),
        edits in prop::collection::vec((0usize..64, alphabet(), 0u8..3), 1..6),
    ) {
        let mut chars: Vec<char> = base.chars().collect();
        for (at, c, op) in edits {
            let at = at % (chars.len() + 1);
            match op {
                0 => chars.insert(at, c),
                1 if at < chars.len() => { chars.remove(at); }
                _ if at < chars.len() => chars[at] = c,
                _ => chars.push(c),
            }
        }
        check(&chars.into_iter().collect::<String>())?;
    }
}
