use super::*;
use tote_shared::Qty;

fn sku(n: u32) -> Sku {
    Sku::parse(&format!("PEG39-M-WHT-{n}")).expect("sku")
}

fn money(minor: i64) -> Money {
    Money::parse(minor).expect("money")
}

fn line(n: u32, qty: u32, cost: i64) -> PoLine {
    PoLine { sku: sku(n), qty, unit_cost: money(cost), confirmed: 0, shipped: 0, accepted: 0, rejected: 0, invoiced: 0 }
}

fn po(state: PoState) -> PurchaseOrder {
    let lines = vec![line(42, 12, 40000), line(43, 6, 40000)];
    PurchaseOrder {
        id: 7,
        supplier: "NIKE-CN".into(),
        warehouse: WarehouseCode::parse("SH-01").expect("wh"),
        state,
        note: String::new(),
        reason: None,
        promised_ms: None,
        total: order_total(&lines),
        lines,
        created_ms: 0,
        sent_ms: None,
        confirmed_ms: None,
        closed_ms: None,
    }
}

fn asn_line(n: u32, qty: u32) -> AsnLine {
    AsnLine { sku: sku(n), qty, lot: "LOT42".into(), expiry: Some("271231".into()), carton: "C1".into() }
}

/// An order confirmed in full, shipped and received: 12 and 6 passed QC.
fn received() -> PurchaseOrder {
    let mut po = po(PoState::Sent);
    confirm(&mut po, 10_000, &[], 0).expect("confirm");
    for l in &mut po.lines {
        (l.shipped, l.accepted) = (l.confirmed, l.confirmed);
    }
    po.state = PoState::Receiving;
    po
}

#[test]
fn confirmation_takes_the_whole_order_or_fewer_units_never_more() {
    let mut p = po(PoState::Sent);
    let fewer = [OrderLine { sku: sku(43), qty: Qty::parse(4).expect("qty") }];
    confirm(&mut p, 10_000, &fewer, 0).expect("confirm");
    assert_eq!((p.lines[0].confirmed, p.lines[1].confirmed, p.state), (12, 4, PoState::Confirmed));
    assert!(confirm(&mut p, 10_000, &[], 0).is_err(), "only once");
    let mut p = po(PoState::Sent);
    let more = [OrderLine { sku: sku(43), qty: Qty::parse(7).expect("qty") }];
    assert!(confirm(&mut p, 10_000, &more, 0).is_err(), "more than ordered");
    let other = [OrderLine { sku: sku(44), qty: Qty::parse(1).expect("qty") }];
    assert!(confirm(&mut p, 10_000, &other, 0).is_err(), "a SKU not ordered");
    assert!(confirm(&mut po(PoState::Draft), 10_000, &[], 0).is_err(), "a draft");
}

#[test]
fn an_asn_ships_only_confirmed_units_of_ordered_skus() {
    let mut p = po(PoState::Sent);
    confirm(&mut p, 10_000, &[OrderLine { sku: sku(43), qty: Qty::parse(4).expect("qty") }], 0).expect("confirm");
    let per_sku = check_asn(&p, &[asn_line(42, 5), asn_line(42, 7), asn_line(43, 4)]).expect("fits");
    assert_eq!(per_sku.iter().map(|l| (l.sku.to_string(), l.qty.get())).collect::<Vec<_>>(), vec![(sku(42).to_string(), 12), (sku(43).to_string(), 4)]);
    assert!(check_asn(&p, &[asn_line(43, 5)]).is_err(), "more than confirmed");
    assert!(check_asn(&p, &[asn_line(44, 1)]).is_err(), "not ordered");
    assert!(check_asn(&p, &[]).is_err(), "empty");
    let mut bad = asn_line(42, 1);
    bad.expiry = Some("271331".into());
    assert!(check_asn(&p, &[bad]).is_err(), "month 13");
    assert!(check_asn(&po(PoState::Sent), &[asn_line(42, 1)]).is_err(), "not confirmed yet");
}

#[test]
fn the_order_closes_when_every_confirmed_unit_has_arrived_passed_or_failed() {
    let mut p = po(PoState::Sent);
    confirm(&mut p, 10_000, &[], 0).expect("confirm");
    p.state = PoState::Receiving;
    assert!(!receive(&mut p, &sku(42), 11, 1, 5));
    assert!(receive(&mut p, &sku(43), 6, 0, 6));
    assert_eq!((p.state, p.closed_ms, p.lines[0].accepted, p.lines[0].rejected), (PoState::Closed, Some(6), 11, 1));
}

#[test]
fn an_invoice_of_what_was_received_at_the_ordered_cost_matches() {
    let p = received();
    let lines = [SupplierInvoiceLine { sku: sku(42), qty: 12, unit_cost: money(40000) }, SupplierInvoiceLine { sku: sku(43), qty: 6, unit_cost: money(40000) }];
    let (expected, differences) = match_invoice(&p, &lines, money(720_000), &Tolerance::default());
    assert_eq!((expected, differences), (money(720_000), vec![]));
}

#[test]
fn quantity_and_price_beyond_tolerance_are_caught_and_within_pass() {
    let p = received();
    let tol = Tolerance::default();
    // 13 invoiced, 12 received: a quantity difference.
    let over = [SupplierInvoiceLine { sku: sku(42), qty: 13, unit_cost: money(40000) }];
    let (_, d) = match_invoice(&p, &over, money(520_000), &tol);
    assert_eq!(d, vec![InvoiceDifference { kind: InvoiceDifferenceKind::Quantity, sku: Some(sku(42)), invoiced: 13, expected: 12 }]);
    // One unit over is within a one-unit tolerance.
    let (_, d) = match_invoice(&p, &over, money(520_000), &Tolerance { qty_units: 1, ..tol });
    assert!(d.is_empty(), "{d:?}");
    // 1 % on ¥400 is ¥4: ¥403.99 passes, ¥404.01 does not.
    let within = [SupplierInvoiceLine { sku: sku(42), qty: 12, unit_cost: money(40399) }];
    let (_, d) = match_invoice(&p, &within, money(12 * 40399), &Tolerance { total_minor: 12 * 399, ..tol });
    assert!(d.is_empty(), "{d:?}");
    let beyond = [SupplierInvoiceLine { sku: sku(42), qty: 12, unit_cost: money(40401) }];
    let (_, d) = match_invoice(&p, &beyond, money(12 * 40401), &tol);
    assert_eq!(d, vec![InvoiceDifference { kind: InvoiceDifferenceKind::Price, sku: Some(sku(42)), invoiced: 40401, expected: 40000 }]);
    // Prices within 1 % each, but adding up past ¥1 on the total.
    let (_, d) = match_invoice(&p, &within, money(12 * 40399), &tol);
    assert_eq!(d, vec![InvoiceDifference { kind: InvoiceDifferenceKind::Total, sku: None, invoiced: 12 * 40399, expected: 12 * 40000 }]);
    // A total that is not the sum of the lines.
    let exact = [SupplierInvoiceLine { sku: sku(42), qty: 12, unit_cost: money(40000) }];
    let (_, d) = match_invoice(&p, &exact, money(480_200), &tol);
    assert_eq!(d, vec![InvoiceDifference { kind: InvoiceDifferenceKind::Total, sku: None, invoiced: 480_200, expected: 480_000 }]);
    // A SKU not ordered.
    let other = [SupplierInvoiceLine { sku: sku(44), qty: 1, unit_cost: money(40000) }];
    let (_, d) = match_invoice(&p, &other, money(40000), &tol);
    assert_eq!(d[0].kind, InvoiceDifferenceKind::NotOrdered);
}

#[test]
fn units_already_invoiced_cannot_be_invoiced_again() {
    let mut p = received();
    let lines = [SupplierInvoiceLine { sku: sku(42), qty: 12, unit_cost: money(40000) }];
    assert!(match_invoice(&p, &lines, money(480_000), &Tolerance::default()).1.is_empty());
    invoiced(&mut p, &lines);
    let (_, d) = match_invoice(&p, &lines, money(480_000), &Tolerance::default());
    assert_eq!(d, vec![InvoiceDifference { kind: InvoiceDifferenceKind::Quantity, sku: Some(sku(42)), invoiced: 12, expected: 0 }]);
}

#[test]
fn a_sku_split_over_lines_is_billed_for_their_sum() {
    let p = received();
    let split = [SupplierInvoiceLine { sku: sku(42), qty: 12, unit_cost: money(40000) }, SupplierInvoiceLine { sku: sku(42), qty: 12, unit_cost: money(40000) }];
    let (_, d) = match_invoice(&p, &split, money(960_000), &Tolerance::default());
    assert_eq!(d, vec![InvoiceDifference { kind: InvoiceDifferenceKind::Quantity, sku: Some(sku(42)), invoiced: 24, expected: 12 }]);
    assert!(check_invoice_lines(&[SupplierInvoiceLine { sku: sku(42), qty: 0, unit_cost: money(1) }]).is_err());
    assert!(check_invoice_lines(&[SupplierInvoiceLine { sku: sku(42), qty: u32::MAX, unit_cost: money(1) }]).is_err());
}

#[test]
fn failed_units_are_not_payable() {
    let mut p = received();
    p.lines[0].accepted = 11;
    p.lines[0].rejected = 1;
    let lines = [SupplierInvoiceLine { sku: sku(42), qty: 12, unit_cost: money(40000) }];
    let (_, d) = match_invoice(&p, &lines, money(480_000), &Tolerance::default());
    assert_eq!(d[0], InvoiceDifference { kind: InvoiceDifferenceKind::Quantity, sku: Some(sku(42)), invoiced: 12, expected: 11 });
}

#[test]
fn delivery_numbers_round_trip() {
    assert_eq!(asn_id(&delivery_number(42)), Some(42));
    assert_eq!(asn_id("ASN-"), None);
    assert_eq!(asn_id("ASN-1001x"), None);
    assert_eq!(asn_id("DN-1"), None);
}

proptest::proptest! {
    /// Whatever was received and at whatever costs it was ordered, an invoice of exactly the
    /// received units at the ordered costs matches, and one more unit of any line does not.
    #[test]
    fn exact_invoices_match_and_one_more_unit_does_not(
        received in proptest::collection::vec((1u32..500, 1i64..1_000_000), 1..8),
        bump in 0usize..8,
    ) {
        let mut p = po(PoState::Receiving);
        p.lines = received.iter().enumerate().map(|(i, (qty, cost))| {
            let mut l = line(30 + i as u32, *qty, *cost);
            (l.confirmed, l.shipped, l.accepted) = (*qty, *qty, *qty);
            l
        }).collect();
        let mut lines: Vec<SupplierInvoiceLine> = p.lines.iter().map(|l| SupplierInvoiceLine { sku: l.sku.clone(), qty: l.accepted, unit_cost: l.unit_cost }).collect();
        let total = |lines: &[SupplierInvoiceLine]| money(lines.iter().map(|l| i64::from(l.qty) * l.unit_cost.minor()).sum());
        let (expected, d) = match_invoice(&p, &lines, total(&lines), &Tolerance::default());
        proptest::prop_assert!(d.is_empty(), "{:?}", d);
        proptest::prop_assert_eq!(expected, total(&lines));
        let i = bump % lines.len();
        lines[i].qty += 1;
        let (_, d) = match_invoice(&p, &lines, total(&lines), &Tolerance::default());
        proptest::prop_assert!(d.iter().any(|d| d.kind == InvoiceDifferenceKind::Quantity));
    }
}

#[test]
fn the_received_value_counts_only_units_received_and_not_yet_invoiced() {
    let mut p = received();
    p.lines[0].accepted = 11;
    // 12 billed for 11 received (within a 1-unit tolerance), at a dearer cost: 11 at the order's.
    let lines = [SupplierInvoiceLine { sku: sku(42), qty: 12, unit_cost: money(41000) }, SupplierInvoiceLine { sku: sku(99), qty: 1, unit_cost: money(5) }];
    assert_eq!(received_value(&p, &lines), money(11 * 40000), "not the 12th, not the SKU never ordered");
    invoiced(&mut p, &lines);
    assert_eq!(received_value(&p, &lines[..1]), money(0), "invoiced already");
}
