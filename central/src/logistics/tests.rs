//! Rate-card fixtures computed by hand (the arithmetic is in each comment) against the engine,
//! and the choice rules: promise, insurance, signature, suspension, remote areas, no service.

use super::choice::{choose, Choice, Request, Rules, Unfit};
use super::rates::{Carrier, Insurance, Lane, Parcel, RateCard, RemoteArea, Service};

const RULES: Rules = Rules { insure_from: 50_000, high_value_from: 200_000 };

fn carrier(code: &str, divisor: u32, insurance: Option<Insurance>, signature: bool, fragile: bool) -> Carrier {
    Carrier {
        code: code.into(),
        name: code.into(),
        volumetric_divisor: divisor,
        insurance,
        signature,
        fragile,
        max_weight_g: 30_000,
        max_side_mm: 1_200,
        suspended: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn lane(carrier: &str, service: Service, province: &str, first_g: u64, first: i64, step_g: u64, step: i64, days: u32) -> Lane {
    Lane {
        carrier: carrier.into(),
        service,
        origin: "SH-01".into(),
        province: province.into(),
        first_weight_g: first_g,
        first_price: first,
        step_g,
        step_price: step,
        transit_days: days,
        valid_from: 0,
        valid_to: None,
    }
}

/// SF (÷6000, insures 0.5 % min ¥1, signs), ZTO (÷8000, no insurance, no signature, no
/// fragile), JD (÷8000, insures 0.3 % min ¥2, signs), EMS (÷6000, insures 1 % min ¥1, no
/// signature). Lanes from SH-01 to Zhejiang and Tibet; none to Xinjiang.
fn card() -> RateCard {
    let carriers = vec![
        carrier("SF", 6_000, Some(Insurance { rate_bp: 50, min_fee: 100, max_declared: 5_000_000 }), true, true),
        carrier("ZTO", 8_000, None, false, false),
        carrier("JD", 8_000, Some(Insurance { rate_bp: 30, min_fee: 200, max_declared: 2_000_000 }), true, true),
        carrier("EMS", 6_000, Some(Insurance { rate_bp: 100, min_fee: 100, max_declared: 1_000_000 }), false, true),
    ];
    use Service::*;
    let lanes = vec![
        lane("SF", Standard, "zhejiang", 1_000, 1_200, 1_000, 200, 2),
        lane("SF", NextDay, "zhejiang", 1_000, 2_200, 500, 500, 1),
        lane("ZTO", Standard, "zhejiang", 1_000, 800, 1_000, 150, 3),
        lane("JD", Express, "zhejiang", 1_000, 1_500, 500, 200, 1),
        lane("EMS", Standard, "zhejiang", 1_000, 1_000, 1_000, 100, 3),
        lane("EMS", Standard, "xizang", 1_000, 2_000, 1_000, 1_000, 6),
        lane("SF", Standard, "xizang", 1_000, 2_500, 1_000, 1_200, 5),
    ];
    let remote = vec![
        RemoteArea { carrier: "EMS".into(), province: "xizang".into(), city: "*".into(), surcharge: 1_500 },
        RemoteArea { carrier: "SF".into(), province: "xizang".into(), city: "lhasa".into(), surcharge: 2_000 },
    ];
    RateCard::new(carriers, lanes, remote)
}

fn parcel(weight_g: u64, (l, w, h): (u64, u64, u64), declared_value: i64) -> Parcel {
    Parcel { weight_g, volume_mm3: l * w * h, longest_side_mm: l.max(w).max(h), declared_value, fragile: false }
}

fn ask(card: &RateCard, province: &str, city: &str, parcel: Parcel, promise_days: u32) -> Choice {
    choose(card, &RULES, &Request { origin: "SH-01", province, city, parcel, promise_days, today: 20_000 })
}

/// (carrier, service) → total, for every priced service.
fn totals(choice: &Choice) -> Vec<(String, Service, i64)> {
    let mut out: Vec<_> = choice
        .considered
        .iter()
        .filter_map(|c| Some((c.carrier.clone(), c.service?, c.price?.total)))
        .collect();
    out.sort();
    out
}

fn chosen(choice: &Choice) -> Option<(&str, Service, i64)> {
    choice.chosen.as_ref().map(|c| (c.carrier.as_str(), c.service.expect("a chosen service"), c.price.expect("a price").total))
}

fn unfit<'a>(choice: &'a Choice, carrier: &str) -> Option<&'a Unfit> {
    choice.considered.iter().find(|c| c.carrier == carrier).and_then(|c| c.unfit.as_ref())
}

#[test]
fn a_light_bulky_parcel_is_charged_its_volumetric_weight_per_carrier_divisor() {
    // 1.2 kg in a 40 × 30 × 20 cm box = 24,000 cm³: 4 kg at ÷6000, 3 kg at ÷8000.
    // SF standard 12.00 + 3 steps × 2.00 = 18.00; SF next-day 22.00 + 6 × 5.00 = 52.00;
    // ZTO 8.00 + 2 × 1.50 = 11.00; JD express 15.00 + 4 × 2.00 = 23.00; EMS 10.00 + 3 × 1.00 = 13.00.
    let c = ask(&card(), "zhejiang", "hangzhou", parcel(1_200, (400, 300, 200), 30_000), 3);
    use Service::*;
    assert_eq!(
        totals(&c),
        vec![
            ("EMS".into(), Standard, 1_300),
            ("JD".into(), Express, 2_300),
            ("SF".into(), Standard, 1_800),
            ("SF".into(), NextDay, 5_200),
            ("ZTO".into(), Standard, 1_100),
        ]
    );
    assert_eq!(chosen(&c), Some(("ZTO", Standard, 1_100)), "the cheapest that arrives within 3 days");
    let sf = c.considered.iter().find(|q| q.carrier == "SF" && q.service == Some(Standard)).and_then(|q| q.price).expect("SF priced");
    assert_eq!((sf.chargeable_g, sf.freight, sf.insurance, sf.remote), (4_000, 1_800, 0, 0));
}

#[test]
fn a_dense_parcel_is_charged_its_actual_weight_with_started_steps_whole() {
    // 2.6 kg in 20 × 10 × 10 cm (334 g volumetric at ÷6000): SF 12.00 + 2 × 2.00 = 16.00;
    // JD 15.00 + ceil(1,600 / 500) = 4 × 2.00 = 23.00; ZTO 8.00 + 2 × 1.50 = 11.00.
    let c = ask(&card(), "zhejiang", "hangzhou", parcel(2_600, (200, 100, 100), 30_000), 3);
    let t = totals(&c);
    assert!(t.contains(&("SF".into(), Service::Standard, 1_600)), "{t:?}");
    assert!(t.contains(&("JD".into(), Service::Express, 2_300)), "{t:?}");
    assert!(t.contains(&("ZTO".into(), Service::Standard, 1_100)), "{t:?}");
}

#[test]
fn an_insured_parcel_pays_its_share_or_the_minimum_and_skips_carriers_without_insurance() {
    // ¥600 declared ≥ the ¥500 insurance threshold. SF 0.5 % = 3.00 → 12.00 + 3.00 = 15.00;
    // JD 0.3 % = 1.80, below the ¥2 minimum → 15.00 + 2.00 = 17.00; EMS 1 % = 6.00 → 16.00.
    let c = ask(&card(), "zhejiang", "hangzhou", parcel(800, (200, 100, 100), 60_000), 3);
    assert_eq!(unfit(&c, "ZTO"), Some(&Unfit::NoInsurance));
    let t = totals(&c);
    assert!(t.contains(&("SF".into(), Service::Standard, 1_500)), "{t:?}");
    assert!(t.contains(&("JD".into(), Service::Express, 1_700)), "{t:?}");
    assert!(t.contains(&("EMS".into(), Service::Standard, 1_600)), "{t:?}");
    assert_eq!(chosen(&c), Some(("SF", Service::Standard, 1_500)));
}

#[test]
fn a_high_value_parcel_goes_only_to_a_carrier_that_insures_and_takes_a_signature() {
    // ¥3,000: EMS insures but does not sign, ZTO does neither. SF 12.00 + 15.00 = 27.00;
    // JD 15.00 + 9.00 = 24.00.
    let c = ask(&card(), "zhejiang", "hangzhou", parcel(800, (200, 100, 100), 300_000), 3);
    assert_eq!(unfit(&c, "EMS"), Some(&Unfit::NoSignature));
    assert_eq!(unfit(&c, "ZTO"), Some(&Unfit::NoInsurance));
    assert_eq!(chosen(&c), Some(("JD", Service::Express, 2_400)));
    // ¥25,000 is above JD's ¥20,000 cover: SF takes it (12.00 + 125.00).
    let c = ask(&card(), "zhejiang", "hangzhou", parcel(800, (200, 100, 100), 2_500_000), 3);
    assert_eq!(unfit(&c, "JD"), Some(&Unfit::AboveCover { max_declared: 2_000_000 }));
    assert_eq!(chosen(&c), Some(("SF", Service::Standard, 13_700)));
}

#[test]
fn a_next_day_promise_picks_an_express_service_and_a_suspended_carrier_is_never_chosen() {
    let small = parcel(800, (200, 100, 100), 10_000);
    let c = ask(&card(), "zhejiang", "hangzhou", small, 1);
    assert_eq!(chosen(&c), Some(("JD", Service::Express, 1_500)));
    assert_eq!(unfit(&c, "ZTO"), Some(&Unfit::TooSlow { transit_days: 3, promise_days: 1 }));
    let mut suspended = card();
    suspended.carriers[2].suspended = Some("on-time rate 71 % in November".into());
    let c = ask(&suspended, "zhejiang", "hangzhou", small, 1);
    assert_eq!(chosen(&c), Some(("SF", Service::NextDay, 2_200)));
    assert!(matches!(unfit(&c, "JD"), Some(Unfit::Suspended { .. })));
    // Even when it would be the only carrier left.
    let c = ask(&suspended, "zhejiang", "hangzhou", Parcel { fragile: true, ..small }, 1);
    assert_eq!(chosen(&c).map(|(carrier, ..)| carrier), Some("SF"));
}

#[test]
fn remote_areas_add_their_surcharge_by_city_or_whole_province() {
    // 1.5 kg to Lhasa: EMS 20.00 + 1 × 10.00 + 15.00 (all of Tibet) = 45.00;
    // SF 25.00 + 1 × 12.00 + 20.00 (Lhasa) = 57.00. To Shigatse SF has no surcharge: 37.00.
    let p = parcel(1_500, (200, 100, 100), 10_000);
    let c = ask(&card(), "xizang", "lhasa", p, 7);
    assert_eq!(totals(&c), vec![("EMS".into(), Service::Standard, 4_500), ("SF".into(), Service::Standard, 5_700)]);
    assert_eq!(chosen(&c), Some(("EMS", Service::Standard, 4_500)));
    let c = ask(&card(), "xizang", "shigatse", p, 7);
    assert_eq!(chosen(&c), Some(("SF", Service::Standard, 3_700)));
    // Promised in 5 days, EMS (6) is too slow even where it is cheaper.
    let c = ask(&card(), "xizang", "lhasa", p, 5);
    assert_eq!(chosen(&c), Some(("SF", Service::Standard, 5_700)));
}

#[test]
fn a_lane_without_service_quotes_nothing_and_says_so() {
    let c = ask(&card(), "xinjiang", "urumqi", parcel(800, (200, 100, 100), 10_000), 7);
    assert_eq!(c.chosen, None);
    assert_eq!(c.considered.len(), 4, "one line per carrier");
    assert!(c.considered.iter().all(|q| q.unfit == Some(Unfit::NoLane) && q.service.is_none() && q.price.is_none()));
}

#[test]
fn weight_size_and_fragility_rule_carriers_out() {
    let mut heavy = parcel(31_000, (200, 100, 100), 10_000);
    let c = ask(&card(), "zhejiang", "hangzhou", heavy, 3);
    assert_eq!(c.chosen, None);
    assert_eq!(unfit(&c, "SF"), Some(&Unfit::Overweight { max_weight_g: 30_000 }));
    heavy.weight_g = 1_000;
    heavy.longest_side_mm = 1_300;
    assert_eq!(unfit(&ask(&card(), "zhejiang", "hangzhou", heavy, 3), "JD"), Some(&Unfit::Oversize { max_side_mm: 1_200 }));
    let fragile = Parcel { fragile: true, ..parcel(800, (200, 100, 100), 10_000) };
    let c = ask(&card(), "zhejiang", "hangzhou", fragile, 3);
    assert_eq!(unfit(&c, "ZTO"), Some(&Unfit::Fragile));
    assert_eq!(chosen(&c), Some(("EMS", Service::Standard, 1_000)));
}

#[test]
fn an_expired_lane_is_not_quoted() {
    let mut c = card();
    c = RateCard::new(
        c.carriers.clone(),
        vec![Lane { valid_to: Some(19_999), ..lane("SF", Service::Standard, "zhejiang", 1_000, 1_200, 1_000, 200, 2) }],
        vec![],
    );
    let got = ask(&c, "zhejiang", "hangzhou", parcel(800, (200, 100, 100), 10_000), 3);
    assert_eq!(got.chosen, None);
    assert_eq!(unfit(&got, "SF"), Some(&Unfit::NoLane));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, rng_seed: proptest::test_runner::RngSeed::Fixed(0x1061), ..Default::default() })]

    /// Whatever the parcel and promise: the winner fits, keeps the promise and is no dearer
    /// than any fitting quote; a heavier parcel never costs less on the same service.
    #[test]
    fn the_choice_is_the_cheapest_fitting_quote_and_prices_grow_with_weight(
        weight in 1u64..40_000, side in 50u64..1_400, declared in 0i64..3_000_000, promise in 1u32..8, fragile: bool, extra in 1u64..5_000,
    ) {
        let card = card();
        let p = Parcel { weight_g: weight, volume_mm3: side * side * 100, longest_side_mm: side, declared_value: declared, fragile };
        let c = ask(&card, "zhejiang", "hangzhou", p, promise);
        let fitting: Vec<_> = c.considered.iter().filter(|q| q.unfit.is_none()).collect();
        match &c.chosen {
            None => proptest::prop_assert!(fitting.is_empty()),
            Some(win) => {
                proptest::prop_assert!(win.transit_days.is_some_and(|d| d <= promise));
                let total = win.price.map(|p| p.total);
                proptest::prop_assert!(fitting.iter().all(|q| q.price.map(|p| p.total) >= total));
            }
        }
        let heavier = ask(&card, "zhejiang", "hangzhou", Parcel { weight_g: weight + extra, ..p }, promise);
        for q in &c.considered {
            let same = heavier.considered.iter().find(|h| h.carrier == q.carrier && h.service == q.service);
            if let (Some(a), Some(b)) = (q.price, same.and_then(|h| h.price)) {
                proptest::prop_assert!(b.freight >= a.freight);
            }
        }
    }
}

/// Pushes applied in one batch end exactly as the same pushes applied one by one: the same
/// states, the same history, the same journal events — including two pushes for one parcel in
/// the batch, a duplicate, an older history after a newer one, and an unknown waybill.
#[tokio::test]
async fn a_batch_of_pushes_ends_as_the_same_pushes_one_by_one() {
    use super::tracking::{Push, TrackEvent, TrackState};
    use super::{receive_push, receive_pushes, store, PushOutcome};
    let event = |at_ms: i64, state: TrackState| TrackEvent { at_ms, state, context: format!("{state:?} at {at_ms}"), area: None };
    let push = |waybill: &str, events: Vec<TrackEvent>| Push { company: "shunfeng".into(), waybill: waybill.into(), events };
    let (picked, transit, out, done) = (event(1_000, TrackState::PickedUp), event(2_000, TrackState::InTransit), event(3_000, TrackState::OutForDelivery), event(4_000, TrackState::Delivered));
    let pushes = vec![
        push("SF1", vec![picked.clone()]),
        push("SF2", vec![transit.clone(), picked.clone()]),
        push("SF1", vec![done.clone(), out.clone(), transit.clone(), picked.clone()]),
        push("SF1", vec![transit.clone(), picked.clone()]),
        push("SF9", vec![picked.clone()]),
        push("SF2", vec![transit.clone(), picked.clone()]),
        Push { company: "jd".into(), ..push("SF2", vec![done.clone()]) },
    ];
    let mut ends = Vec::new();
    for batched in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = crate::db::Database::open(&crate::config::DatabaseSettings::sqlite_file(dir.path().join("c.sqlite"))).await.expect("opens");
        let pushes = pushes.clone();
        let end = db
            .write(move |tx| -> crate::db::DbResult<_> {
                for (n, waybill) in ["SF1", "SF2"].into_iter().enumerate() {
                    let parcel = super::Shipped { waybill, carrier: "SF", order_id: n as u64 + 1, warehouse: "SH-01", shipped_ms: 500 };
                    store::record_parcel(tx, &parcel, None)?;
                }
                let outcomes = if batched { receive_pushes(tx, &pushes, 9)? } else { pushes.iter().map(|p| receive_push(tx, p, 9)).collect::<Result<Vec<_>, _>>()? };
                let parcels = [store::parcels_of(tx, 1)?, store::parcels_of(tx, 2)?];
                let journal = tx.query_one("SELECT COUNT(*) FROM journal WHERE kind = 'parcel_tracked'", &[])?.int(0)?;
                Ok((outcomes, parcels, journal))
            })
            .await
            .expect("applies");
        ends.push(end);
    }
    assert_eq!(ends[0], ends[1], "batched and one by one agree");
    let (outcomes, parcels, journal) = &ends[1];
    assert_eq!(outcomes[4], PushOutcome::UnknownWaybill);
    assert_eq!(outcomes[6], PushOutcome::UnknownWaybill, "another carrier's parcel under one of our numbers is not ours");
    assert_eq!(outcomes[3], PushOutcome::Applied { new_events: 0, moved: false }, "an older history changes nothing");
    assert_eq!((parcels[0][0].state, parcels[0][0].events.len()), (TrackState::Delivered, 4));
    assert_eq!((parcels[1][0].state, parcels[1][0].events.len()), (TrackState::InTransit, 2));
    assert_eq!(*journal, 3, "SF1 picked up then delivered, SF2 in transit");
}
