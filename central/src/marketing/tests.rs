use super::pricing::*;
use tote_shared::Sku;

fn sku(s: &str) -> Sku {
    Sku::parse(s).expect("a SKU")
}

fn line(s: &str, shop: &str, qty: i64, list: i64, floor: i64) -> CartLine {
    CartLine { sku: sku(s), shop: shop.into(), qty, list_price: list, floor }
}

fn promo(id: &str, layer: Layer, class: &str, shop: Option<&str>, benefit: Benefit) -> Promotion {
    Promotion { id: id.into(), layer, class: class.into(), shop: shop.map(str::to_owned), skus: Vec::new(), benefit, tier: None, segment: None }
}

fn tiers(pairs: &[(i64, i64)]) -> Benefit {
    Benefit::Tiers { tiers: pairs.iter().map(|&(threshold, off)| Tier { threshold, off }).collect() }
}

fn coupon(threshold: i64, off: i64) -> Benefit {
    Benefit::Coupon { threshold, off }
}

/// ¥ to fen.
const Y: i64 = 100;

/// Running shoes at ¥900 (¥800 in a limited-time sale), two pairs of socks at ¥50 from the same
/// shop, and a ¥100 cap from another shop.
fn cart(cap_floor: i64) -> Vec<CartLine> {
    vec![line("PEG39-M-WHT-42", "nike", 1, 900 * Y, 500 * Y), line("SOCK-L", "nike", 2, 50 * Y, 20 * Y), line("CAP-1", "caps", 1, 100 * Y, cap_floor)]
}

/// The shop's sale, tiers, two coupons; two cross-store offers; platform coupons.
fn promotions(platform: Vec<Promotion>) -> Vec<Promotion> {
    let mut sale = promo("nike-sale", Layer::Item, "limited_time", Some("nike"), Benefit::UnitPrice { price: 800 * Y });
    sale.skus = vec![sku("PEG39-M-WHT-42")];
    let mut out = vec![
        sale,
        promo("nike-tiers", Layer::ShopTier, "shop_tier", Some("nike"), tiers(&[(800 * Y, 80 * Y), (1200 * Y, 150 * Y)])),
        promo("nike-coupon-50", Layer::ShopCoupon, "shop_coupon", Some("nike"), coupon(800 * Y, 50 * Y)),
        promo("nike-coupon-30", Layer::ShopCoupon, "shop_coupon", Some("nike"), coupon(500 * Y, 30 * Y)),
        promo("cross-900-100", Layer::CrossStore, "cross_store", None, tiers(&[(900 * Y, 100 * Y)])),
        promo("cross-300-20", Layer::CrossStore, "cross_store", None, tiers(&[(300 * Y, 20 * Y)])),
    ];
    out.extend(platform);
    out
}

fn ids(p: &Priced) -> Vec<&str> {
    p.applied.iter().map(|a| a.promotion.as_str()).collect()
}

/// Tmall (parallel thresholds): every threshold on the ¥1,000 after the sale — the shop's ¥80
/// tier (¥900 ≥ 800), its better coupon ¥50 (one per shop), the better cross-store ¥100 (one),
/// the platform's ¥20: ¥1,000 − 250 = ¥750.
#[test]
fn a_tmall_stack_tests_every_threshold_on_the_price_after_the_item_layer() {
    let platform = vec![promo("tmall-20", Layer::Platform, "tmall_platform", None, coupon(800 * Y, 20 * Y))];
    let priced = price(&RuleSet::tmall(), &cart(60 * Y), &promotions(platform)).expect("priced");
    assert_eq!(priced.subtotal, 1_100 * Y);
    assert_eq!(priced.item_discount, 100 * Y, "the sale price");
    assert_eq!(ids(&priced), ["nike-tiers", "nike-coupon-50", "cross-900-100", "tmall-20"]);
    assert_eq!(priced.payable, 750 * Y);
    assert_eq!(priced.lines[0].item_promotion.as_deref(), Some("nike-sale"));
}

/// JD (sequential): after the ¥80 tier the shop is at ¥820 and the cart at ¥920; the ¥50
/// coupon would bring the cart to ¥870, under the cross-store ¥900 threshold — so the best
/// stack leaves the coupon out: ¥920 − 100 (cross-store) = ¥820, then one platform coupon:
/// 京券 ¥20 or 东券 ¥25, never both: ¥795.
#[test]
fn a_jd_stack_tests_each_threshold_after_the_layers_before_it_and_a_coupon_can_break_a_later_one() {
    let platform = vec![
        promo("jq-800-20", Layer::Platform, "jd_jingquan", None, coupon(800 * Y, 20 * Y)),
        promo("dq-500-25", Layer::Platform, "jd_dongquan", None, coupon(500 * Y, 25 * Y)),
    ];
    let priced = price(&RuleSet::jd(), &cart(60 * Y), &promotions(platform.clone())).expect("priced");
    assert_eq!(ids(&priced), ["nike-tiers", "cross-900-100", "dq-500-25"]);
    assert_eq!(priced.payable, 795 * Y);
    // Under Tmall's rules the same promotions stack the coupon too (and both platform coupons,
    // which Tmall's rule set does not keep apart).
    let tmall = price(&RuleSet::tmall(), &cart(60 * Y), &promotions(platform)).expect("priced");
    assert_eq!(ids(&tmall), ["nike-tiers", "nike-coupon-50", "cross-900-100", "dq-500-25", "jq-800-20"]);
    assert_eq!(tmall.payable, (1_000 - 80 - 50 - 100 - 25 - 20) * Y);
}

/// 每满减 with a cap: ¥10 off every full ¥100, at most three times.
#[test]
fn every_full_amount_off_stops_at_its_maximum_count() {
    let cart = vec![line("PEG39-M-WHT-42", "nike", 1, 820 * Y, 0)];
    let every = |max_times| vec![promo("every-100-10", Layer::ShopTier, "shop_tier", Some("nike"), Benefit::EveryOff { every: 100 * Y, off: 10 * Y, max_times })];
    assert_eq!(price(&RuleSet::jd(), &cart, &every(3)).expect("priced").payable, 790 * Y, "three times, not eight");
    assert_eq!(price(&RuleSet::jd(), &cart, &every(20)).expect("priced").payable, 740 * Y, "eight full ¥100s");
}

/// The cap's floor is ¥95: the cross-store ¥100 would leave it about ¥89, so the best allowed
/// stack (the small cross-store offer aside) is the shop's tier and coupon and the platform's
/// ¥20 (the cap keeps ¥97.70).
#[test]
fn no_stack_sells_a_line_below_its_floor() {
    let platform = vec![promo("tmall-20", Layer::Platform, "tmall_platform", None, coupon(800 * Y, 20 * Y))];
    let offers: Vec<Promotion> = promotions(platform).into_iter().filter(|p| p.id != "cross-300-20").collect();
    let priced = price(&RuleSet::tmall(), &cart(95 * Y), &offers).expect("priced");
    assert_eq!(ids(&priced), ["nike-tiers", "nike-coupon-50", "tmall-20"]);
    assert_eq!(priced.payable, 850 * Y);
    for (l, p) in cart(95 * Y).iter().zip(&priced.lines) {
        assert!(p.payable >= l.floor * l.qty, "{} pays {} under its floor", l.sku, p.payable);
    }
    // An item price under the floor is not taken either.
    let mut cheap = cart(95 * Y);
    cheap[0].floor = 850 * Y;
    let priced = price(&RuleSet::tmall(), &cheap, &promotions(vec![])).expect("priced");
    assert_eq!((priced.lines[0].unit_price, priced.lines[0].item_promotion.as_deref()), (900 * Y, None));
}

#[test]
fn a_discount_is_shared_by_largest_remainder_and_never_more_than_is_left() {
    assert_eq!(largest_remainder(8_000, &[80_000, 10_000]), vec![7_111, 889], "the fen goes to the larger remainder");
    assert_eq!(largest_remainder(10, &[1, 1, 1]), vec![4, 3, 3], "a tie goes to the first");
    assert_eq!(largest_remainder(5, &[0, 0]), vec![0, 0]);
    let cart = vec![line("SOCK-L", "nike", 1, 30 * Y, 0)];
    let big = vec![promo("coupon-100", Layer::ShopCoupon, "shop_coupon", Some("nike"), coupon(0, 100 * Y))];
    let priced = price(&RuleSet::jd(), &cart, &big).expect("priced");
    assert_eq!((priced.payable, priced.order_discount), (0, 30 * Y), "capped at what is left");
}

/// Stopped at its node limit the search still answers with a stack the rules allow, and says
/// it may not be the best.
#[test]
fn a_search_cut_short_says_so_and_still_answers_a_valid_stack() {
    let platform = vec![promo("tmall-20", Layer::Platform, "tmall_platform", None, coupon(800 * Y, 20 * Y))];
    let full = price(&RuleSet::tmall(), &cart(60 * Y), &promotions(platform.clone())).expect("priced");
    assert!(full.exhaustive);
    let cut = price_within(&RuleSet::tmall(), &cart(60 * Y), &promotions(platform), 3).expect("priced");
    assert!(!cut.exhaustive, "cut at 3 nodes of {}", full.searched);
    assert!(cut.payable >= full.payable && cut.payable <= 1_000 * Y, "a valid stack: {}", cut.payable);
    assert_eq!(cut.lines.iter().map(|l| l.payable).sum::<i64>(), cut.payable);
}

#[test]
fn bad_carts_and_promotions_are_refused_naming_why() {
    let ok = cart(0);
    assert!(matches!(price(&RuleSet::jd(), &[], &[]), Err(PricingError::Invalid(_))));
    let mut negative = ok.clone();
    negative[0].qty = -1;
    assert!(matches!(price(&RuleSet::jd(), &negative, &[]), Err(PricingError::Invalid(why)) if why.contains("qty 1 to 100000")));
    let wrong_layer = vec![promo("x", Layer::Item, "x", None, coupon(0, 1))];
    assert!(matches!(price(&RuleSet::jd(), &ok, &wrong_layer), Err(PricingError::Invalid(why)) if why.contains("promotion x")));
    let shopless = vec![promo("y", Layer::ShopCoupon, "shop_coupon", None, coupon(0, 1))];
    assert!(matches!(price(&RuleSet::jd(), &ok, &shopless), Err(PricingError::Invalid(_))));
}

/// Every stack the rules allow, by brute force over the subsets of the order-level
/// promotions: the reference the search must equal.
fn brute_force(rules: &RuleSet, cart: &[CartLine], promotions: &[Promotion]) -> (i64, Vec<String>) {
    let start: Vec<i64> = cart
        .iter()
        .map(|l| {
            let item = promotions
                .iter()
                .filter(|p| p.layer == Layer::Item && p.shop.as_ref().is_none_or(|s| *s == l.shop) && (p.skus.is_empty() || p.skus.contains(&l.sku)))
                .filter_map(|p| match p.benefit {
                    Benefit::UnitPrice { price } => Some(price.min(l.list_price)),
                    Benefit::PercentOff { bp } => Some(l.list_price - (i128::from(l.list_price) * i128::from(bp) / 10_000) as i64),
                    _ => None,
                })
                .filter(|&p| p >= l.floor)
                .min()
                .unwrap_or(l.list_price)
                .min(l.list_price);
            item * l.qty
        })
        .collect();
    let order: Vec<usize> = (0..promotions.len()).filter(|&i| promotions[i].layer != Layer::Item).collect();
    let mut best: Option<(i64, usize, Vec<String>)> = None;
    for mask in 0u32..(1 << order.len()) {
        let mut chosen: Vec<&Promotion> = order.iter().enumerate().filter(|(b, _)| mask & (1 << b) != 0).map(|(_, &i)| &promotions[i]).collect();
        // The order the layers apply in: by layer, then shop or class, then id.
        chosen.sort_by(|a, b| {
            let key = |p: &Promotion| (p.layer, if p.layer == Layer::Platform { p.class.clone() } else { p.shop.clone().unwrap_or_default() }, p.id.clone());
            key(a).cmp(&key(b))
        });
        let slot = |p: &Promotion| (p.layer, if p.layer == Layer::Platform { p.class.clone() } else if p.layer == Layer::CrossStore { String::new() } else { p.shop.clone().unwrap_or_default() });
        let one_per_slot = chosen.iter().enumerate().all(|(i, p)| chosen[..i].iter().all(|q| slot(q) != slot(p)));
        let apart = chosen.iter().enumerate().all(|(i, p)| chosen[..i].iter().all(|q| !rules.exclusive.iter().any(|(x, y)| (*x == p.class && *y == q.class) || (*x == q.class && *y == p.class))));
        if !one_per_slot || !apart {
            continue;
        }
        let mut amounts = start.clone();
        if !chosen.iter().all(|p| apply(rules, p, cart, &start, &mut amounts).is_some()) {
            continue;
        }
        if cart.iter().zip(&amounts).any(|(l, a)| *a < l.floor * l.qty) {
            continue;
        }
        let payable: i64 = amounts.iter().sum();
        let mut ids: Vec<String> = chosen.iter().map(|p| p.id.clone()).collect();
        ids.sort();
        let candidate = (payable, ids.len(), ids);
        if best.as_ref().is_none_or(|b| candidate < *b) {
            best = Some(candidate);
        }
    }
    best.map_or((start.iter().sum(), Vec::new()), |(p, _, ids)| (p, ids))
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn benefit() -> impl Strategy<Value = Benefit> {
        prop_oneof![
            (1i64..6, 1i64..4).prop_map(|(t, o)| tiers(&[(t * 100 * Y, o * 10 * Y), ((t + 3) * 100 * Y, (o + 3) * 10 * Y)])),
            (1i64..4, 1i64..3, 1u32..4).prop_map(|(e, o, m)| Benefit::EveryOff { every: e * 100 * Y, off: o * 10 * Y, max_times: m }),
            (0i64..6, 1i64..8).prop_map(|(t, o)| coupon(t * 100 * Y, o * 10 * Y)),
        ]
    }

    /// An order-level promotion, or (one time in five) an item price; one time in four
    /// narrowed to one SKU.
    fn order_promotion() -> impl Strategy<Value = Promotion> {
        let layer = prop_oneof![Just(Layer::ShopTier), Just(Layer::ShopCoupon), Just(Layer::CrossStore), Just(Layer::Platform)];
        let item = prop_oneof![(1i64..40).prop_map(|p| Benefit::UnitPrice { price: p * 25 * Y }), (1u32..5_000).prop_map(|bp| Benefit::PercentOff { bp })];
        (layer, 0usize..2, 0usize..3, benefit(), 0u32..1000, 0usize..5, item, 0usize..12).prop_map(|(layer, shop, class, benefit, n, kind, item, narrow)| {
            let shop = ["a", "b"][shop];
            let class = ["jd_jingquan", "jd_dongquan", "other"][class];
            let skus = if narrow < 3 { vec![sku(["A-1", "B-2", "C-3"][narrow])] } else { Vec::new() };
            if kind == 0 {
                return Promotion { id: format!("p{n:03}"), layer: Layer::Item, class: "item".into(), shop: None, skus, benefit: item, tier: None, segment: None };
            }
            let shop = matches!(layer, Layer::ShopTier | Layer::ShopCoupon).then(|| shop.to_owned());
            Promotion { id: format!("p{n:03}"), layer, class: class.into(), shop, skus, benefit, tier: None, segment: None }
        })
    }

    fn cart_line() -> impl Strategy<Value = CartLine> {
        (0usize..3, 0usize..2, 1i64..3, 1i64..40, 0i64..80).prop_map(|(s, shop, qty, list, floor_pct)| {
            let list = list * 25 * Y;
            line(["A-1", "B-2", "C-3"][s], ["a", "b"][shop], qty, list, list * floor_pct / 100)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, rng_seed: proptest::test_runner::RngSeed::Fixed(0x16), ..ProptestConfig::default() })]

        /// On small carts the search finds exactly what trying every allowed stack finds, under
        /// both rule sets; its lines add up, each promotion's shares add up to its discount, and
        /// no line ends below its floor.
        #[test]
        fn the_search_equals_brute_force_and_every_fen_is_accounted_for(
            cart in proptest::collection::vec(cart_line(), 1..5),
            promotions in proptest::collection::vec(order_promotion(), 0..9),
            sequential in any::<bool>(),
        ) {
            let mut promotions = promotions;
            promotions.sort_by(|a, b| a.id.cmp(&b.id));
            promotions.dedup_by(|a, b| a.id == b.id);
            let rules = if sequential { RuleSet::jd() } else { RuleSet::tmall() };
            let priced = price(&rules, &cart, &promotions).expect("priced");
            let (payable, mut ids) = brute_force(&rules, &cart, &promotions);
            let mut found: Vec<String> = priced.applied.iter().map(|a| a.promotion.clone()).collect();
            found.sort();
            ids.sort();
            prop_assert_eq!((priced.payable, found), (payable, ids));
            prop_assert_eq!(priced.lines.iter().map(|l| l.payable).sum::<i64>(), priced.payable);
            prop_assert_eq!(priced.subtotal - priced.item_discount - priced.order_discount, priced.payable);
            for a in &priced.applied {
                let shares: i64 = priced.lines.iter().flat_map(|l| &l.discounts).filter(|d| d.promotion == a.promotion).map(|d| d.amount).sum();
                prop_assert_eq!(shares, a.discount);
            }
            for (l, p) in cart.iter().zip(&priced.lines) {
                prop_assert!(p.payable >= l.floor * l.qty && p.payable >= 0);
            }
        }

        /// Shares always add up to the total, and none is above its weight.
        #[test]
        fn largest_remainder_shares_add_up(weights in proptest::collection::vec(0i64..1_000_000, 1..30), pct in 0i64..=100) {
            let sum: i64 = weights.iter().sum();
            let total = sum * pct / 100;
            let shares = largest_remainder(total, &weights);
            if sum > 0 {
                prop_assert_eq!(shares.iter().sum::<i64>(), total);
            }
            for (s, w) in shares.iter().zip(&weights) {
                prop_assert!(*s >= 0 && *s <= *w);
            }
        }
    }
}

/// Points pay after every promotion, at most the policy's share, shared among the lines by
/// largest remainder of what is left of each; nothing is held back by floors.
#[test]
fn points_pay_the_rest_within_their_share_and_every_fen_lands_on_a_line() {
    let cart = vec![line("A", "s1", 1, 10_000, 9_000), line("B", "s1", 2, 5_001, 4_000)];
    let promotions = vec![promo("t", Layer::ShopTier, "tier", Some("s1"), tiers(&[(20_000, 1_000)]))];
    let mut priced = price(&RuleSet::tmall(), &cart, &promotions).expect("priced");
    assert_eq!(priced.payable, 19_002);
    assert!(spend_points(&mut priced.clone(), 9_502, 1, 5_000).is_err(), "more than half the payable");
    spend_points(&mut priced, 9_501, 1, 5_000).expect("half");
    assert_eq!((priced.payable, priced.points, priced.points_off), (9_501, 9_501, 9_501));
    let points: Vec<i64> = priced.lines.iter().map(|l| l.discounts.iter().filter(|d| d.promotion == POINTS).map(|d| d.amount).sum()).collect();
    assert_eq!(points.iter().sum::<i64>(), 9_501);
    assert!(priced.lines.iter().all(|l| l.payable >= 0));
    assert_eq!(priced.lines.iter().map(|l| l.payable).sum::<i64>(), priced.payable);
    assert!(spend_points(&mut priced.clone(), -1, 1, 5_000).is_err());
    assert!(spend_points(&mut priced.clone(), i64::MAX, 2, 10_000).is_err(), "overflow refused");
}
