use super::*;

fn sku(s: &str) -> Sku {
    Sku::parse(s).expect("a SKU")
}

fn qty(n: i64) -> Qty {
    Qty::parse(n).expect("a quantity")
}

fn facts(kind: Kind, reason: Reason, days_since: u32) -> Facts {
    Facts { kind, reason, amount_minor: 79_900, days_since, return_rate_pct: Some(10) }
}

#[test]
fn the_first_rule_that_holds_approves_and_names_itself() {
    let policy = ReturnPolicy::default_policy();
    assert_eq!(decide_approval(&policy, &facts(Kind::Exchange, Reason::Size, 3)), Approval::Approved { rule: "seven-day-no-reason".into() });
    assert_eq!(decide_approval(&policy, &facts(Kind::ReturnRefund, Reason::Defective, 12)), Approval::Approved { rule: "faulty-goods".into() });
}

#[test]
fn review_says_why_each_rule_did_not_approve() {
    let policy = ReturnPolicy::default_policy();
    let Approval::Review { why } = decide_approval(&policy, &facts(Kind::ReturnRefund, Reason::Size, 9)) else { panic!("not approved") };
    assert!(why.contains("seven-day-no-reason: 9 days since delivery, at most 7"), "{why}");
    assert!(why.contains("faulty-goods: not for reason size"), "{why}");
    let mut risky = facts(Kind::Exchange, Reason::Size, 1);
    risky.return_rate_pct = Some(45);
    let Approval::Review { why } = decide_approval(&policy, &risky) else { panic!("not approved") };
    assert!(why.contains("returns 45% of units, at most 30%"), "{why}");
    risky.return_rate_pct = None;
    assert!(matches!(decide_approval(&policy, &risky), Approval::Review { why } if why.contains("return rate is unknown")));
    let mut dear = facts(Kind::Exchange, Reason::Size, 1);
    dear.amount_minor = 200_001;
    assert!(matches!(decide_approval(&policy, &dear), Approval::Review { why } if why.contains("amount 200001 above 200000")));
    assert!(matches!(decide_approval(&policy, &facts(Kind::RefundOnly, Reason::NotReceived, 0)), Approval::Review { .. }), "refund-only goes to HQ");
}

fn ordered() -> Vec<Ordered> {
    vec![Ordered { sku: sku("PEG39-M-WHT-42"), qty: 2, unit_price: 79_900 }, Ordered { sku: sku("SOCK-3P"), qty: 1, unit_price: 9_900 }]
}

fn asked(s: &str, n: i64, to: Option<&str>) -> AskedLine {
    AskedLine { sku: sku(s), qty: qty(n), exchange_sku: to.map(sku) }
}

#[test]
fn a_request_takes_units_of_shipped_lines_never_more_than_bought_less_other_requests() {
    let ok = check_lines(OrderState::Delivered, Kind::ReturnRefund, 2, 15, &ordered(), &[], &[asked("PEG39-M-WHT-42", 2, None)]).expect("allowed");
    assert_eq!((ok[0].qty.get(), ok[0].unit_price, amount(&ok)), (2, 79_900, 159_800));
    let held = [(sku("PEG39-M-WHT-42"), 1)];
    let over = check_lines(OrderState::Delivered, Kind::ReturnRefund, 2, 15, &ordered(), &held, &[asked("PEG39-M-WHT-42", 2, None)]);
    assert!(matches!(&over, Err(AfterSalesError::Refused(why)) if why.contains("2 asked, 2 bought, 1 in other requests")), "{over:?}");
    let not_on = check_lines(OrderState::Shipped, Kind::ReturnRefund, 0, 15, &ordered(), &[], &[asked("PEG39-M-WHT-43", 1, None)]);
    assert!(matches!(&not_on, Err(AfterSalesError::Refused(why)) if why.contains("not on the order")), "{not_on:?}");
    let twice = check_lines(OrderState::Shipped, Kind::ReturnRefund, 0, 15, &ordered(), &[], &[asked("SOCK-3P", 1, None), asked("SOCK-3P", 1, None)]);
    assert!(matches!(&twice, Err(AfterSalesError::Refused(why)) if why.contains("twice")), "{twice:?}");
}

#[test]
fn before_shipment_or_after_the_window_nothing_may_be_asked() {
    let line = [asked("SOCK-3P", 1, None)];
    let early = check_lines(OrderState::AwaitingShipment, Kind::RefundOnly, 0, 15, &ordered(), &[], &line);
    assert!(matches!(&early, Err(AfterSalesError::Refused(why)) if why.contains("cancel the order instead")), "{early:?}");
    let late = check_lines(OrderState::Delivered, Kind::ReturnRefund, 16, 15, &ordered(), &[], &line);
    assert!(matches!(&late, Err(AfterSalesError::Refused(why)) if why.contains("return window is 15 days")), "{late:?}");
    assert!(check_lines(OrderState::Cancelled, Kind::ReturnRefund, 0, 15, &ordered(), &[], &line).is_err());
}

#[test]
fn an_exchange_names_another_sku_and_only_an_exchange_does() {
    let none = check_lines(OrderState::Delivered, Kind::Exchange, 0, 15, &ordered(), &[], &[asked("PEG39-M-WHT-42", 1, None)]);
    assert!(matches!(&none, Err(AfterSalesError::Refused(why)) if why.contains("names the exchange_sku")), "{none:?}");
    let same = check_lines(OrderState::Delivered, Kind::Exchange, 0, 15, &ordered(), &[], &[asked("PEG39-M-WHT-42", 1, Some("PEG39-M-WHT-42"))]);
    assert!(same.is_err());
    let stray = check_lines(OrderState::Delivered, Kind::ReturnRefund, 0, 15, &ordered(), &[], &[asked("PEG39-M-WHT-42", 1, Some("PEG39-M-WHT-43"))]);
    assert!(stray.is_err());
    let ok = check_lines(OrderState::Delivered, Kind::Exchange, 0, 15, &ordered(), &[], &[asked("PEG39-M-WHT-42", 1, Some("PEG39-M-WHT-43"))]);
    assert_eq!(ok.expect("allowed")[0].exchange_sku, Some(sku("PEG39-M-WHT-43")));
}

fn line(s: &str, n: i64) -> AfterSalesLine {
    AfterSalesLine { sku: sku(s), qty: qty(n), unit_price: 79_900, exchange_sku: None, price_difference: 0, passed: 0, failed: 0, fail_reason: String::new() }
}

fn qc(s: &str, passed: i64, failed: i64) -> Checked {
    Checked { sku: sku(s), passed, failed, fail_reason: if failed > 0 { "sole worn".into() } else { String::new() } }
}

#[test]
fn an_exchange_ships_its_replacement_only_when_every_unit_passed() {
    let lines = [line("PEG39-M-WHT-42", 1)];
    let ok = decide_outcome(Kind::Exchange, &lines, &[qc("PEG39-M-WHT-42", 1, 0)], 0).expect("decided");
    assert_eq!((ok.release_replacement, ok.cancel_replacement, ok.state, ok.refund.len()), (true, false, RequestState::Replacing, 0));
    let failed = decide_outcome(Kind::Exchange, &lines, &[qc("PEG39-M-WHT-42", 0, 1)], 0).expect("decided");
    assert_eq!((failed.release_replacement, failed.cancel_replacement, failed.state), (false, true, RequestState::Refused));
    assert!(failed.note.contains("1 × PEG39-M-WHT-42 failed QC (sole worn)"), "{}", failed.note);
}

#[test]
fn a_return_refunds_what_passed_and_says_what_did_not() {
    let lines = [line("PEG39-M-WHT-42", 2), line("SOCK-3P", 1)];
    let out = decide_outcome(Kind::ReturnRefund, &lines, &[qc("PEG39-M-WHT-42", 1, 1)], 0).expect("decided");
    assert_eq!(out.refund, vec![(sku("PEG39-M-WHT-42"), 1, 100)]);
    assert_eq!(out.state, RequestState::Refunding);
    assert!(out.note.contains("failed QC") && out.note.contains("1 × SOCK-3P did not come back"), "{}", out.note);
    let over = decide_outcome(Kind::ReturnRefund, &lines, &[qc("PEG39-M-WHT-42", 2, 1)], 0);
    assert!(over.is_err(), "more checked than returned is refused");
    let stray = decide_outcome(Kind::ReturnRefund, &lines, &[qc("PEG39-M-WHT-43", 1, 0)], 0);
    assert!(stray.is_err(), "a SKU not on the request is refused");
    let nothing = decide_outcome(Kind::ReturnRefund, &lines, &[], 0).expect("decided");
    assert_eq!((nothing.state, nothing.refund.len()), (RequestState::Refused, 0));
}

#[test]
fn units_that_failed_qc_get_the_policys_share_for_the_reason_and_the_note_says_so() {
    let lines = [line("PEG39-M-WHT-42", 2)];
    let out = decide_outcome(Kind::ReturnRefund, &lines, &[qc("PEG39-M-WHT-42", 1, 1)], 50).expect("decided");
    assert_eq!(out.refund, vec![(sku("PEG39-M-WHT-42"), 1, 100), (sku("PEG39-M-WHT-42"), 1, 50)]);
    assert!(out.note.contains("1 × PEG39-M-WHT-42 failed QC (sole worn): refunded at 50 %"), "{}", out.note);
    let only_failed = decide_outcome(Kind::Exchange, &[line("PEG39-M-WHT-42", 1)], &[qc("PEG39-M-WHT-42", 0, 1)], 30).expect("decided");
    assert_eq!((only_failed.state, only_failed.cancel_replacement, only_failed.refund.len()), (RequestState::Refunding, true, 1), "no replacement, 30 % back");
    let mut policy = ReturnPolicy::default_policy();
    assert_eq!(policy.failed_qc_pct(Reason::ChangedMind), 0, "by default a failed unit is refused");
    policy.failed_qc_refunds = vec![FailedQcRefund { reason: Reason::ChangedMind, refund_pct: 50 }];
    assert_eq!((policy.failed_qc_pct(Reason::ChangedMind), policy.failed_qc_pct(Reason::Size)), (50, 0));
    assert_eq!(policy.check(), Ok(()));
    policy.failed_qc_refunds.push(FailedQcRefund { reason: Reason::ChangedMind, refund_pct: 10 });
    assert!(policy.check().is_err(), "one share per reason");
    policy.failed_qc_refunds = vec![FailedQcRefund { reason: Reason::Size, refund_pct: 101 }];
    assert!(policy.check().is_err(), "at most the price");
}

#[test]
fn the_default_policy_keeps_its_own_limits_and_bad_ones_are_named() {
    assert_eq!(ReturnPolicy::default_policy().check(), Ok(()));
    let mut p = ReturnPolicy::default_policy();
    p.rules[0].within_days = 40;
    assert!(p.check().is_err_and(|e| e.contains("beyond the window")));
    let mut p = ReturnPolicy::default_policy();
    p.rules[0].name = "bad name".into();
    assert!(p.check().is_err());
    for s in RequestState::ALL {
        assert_eq!(RequestState::parse(s.as_str()), Some(*s));
    }
}

#[test]
fn we_pay_for_the_way_back_only_for_the_reasons_the_policy_prepays() {
    let policy = ReturnPolicy::default_policy();
    for method in [ReturnMethod::Pickup, ReturnMethod::Label] {
        assert!(check_method(&policy, Kind::ReturnRefund, Reason::Defective, method).is_ok());
        assert!(check_method(&policy, Kind::Exchange, Reason::WrongItem, method).is_ok());
        let Err(AfterSalesError::Refused(why)) = check_method(&policy, Kind::Exchange, Reason::Size, method) else { panic!("size is not prepaid") };
        assert!(why.contains("returns for size are sent by the customer (drop_off)") && why.contains("defective, wrong_item"), "{why}");
        let Err(AfterSalesError::Refused(why)) = check_method(&policy, Kind::RefundOnly, Reason::Defective, method) else { panic!("nothing comes back") };
        assert!(why.contains("refund without a return sends nothing back"), "{why}");
    }
    assert!(check_method(&policy, Kind::ReturnRefund, Reason::ChangedMind, ReturnMethod::DropOff).is_ok(), "a drop-off is always possible");
    let none = ReturnPolicy { prepaid_returns: vec![], ..policy.clone() };
    let Err(AfterSalesError::Refused(why)) = check_method(&none, Kind::ReturnRefund, Reason::Defective, ReturnMethod::Pickup) else { panic!("nothing prepaid") };
    assert!(why.ends_with("is for no reason"), "{why}");
    let twice = ReturnPolicy { prepaid_returns: vec![Reason::Defective, Reason::Size, Reason::Defective], ..policy };
    assert_eq!(twice.check(), Err("prepaid_returns names defective twice (entry 3)".into()));
}

#[test]
fn a_policy_saved_before_prepaid_returns_prepays_faulty_goods() {
    let old = r#"{"window_days": 15, "rules": [], "return_by_days": 14}"#;
    let policy: ReturnPolicy = serde_json::from_str(old).expect("an old policy reads");
    assert_eq!(policy.prepaid_returns, vec![Reason::Defective, Reason::WrongItem, Reason::NotAsDescribed, Reason::DamagedInTransit]);
}

#[test]
fn an_exchange_costs_the_difference_of_catalog_prices_one_way_per_request() {
    assert_eq!(price_differences(&[(89_900, 94_900), (89_900, 89_900)]).expect("one way"), vec![5_000, 0]);
    assert_eq!(price_differences(&[(89_900, 79_900)]).expect("cheaper"), vec![-10_000]);
    let Err(AfterSalesError::Refused(why)) = price_differences(&[(89_900, 94_900), (89_900, 79_900)]) else { panic!("both ways") };
    assert!(why.contains("two requests"), "{why}");
    let mut lines = vec![line("PEG39-M-WHT-42", 2), line("PEG39-M-WHT-43", 1)];
    lines[0].price_difference = 5_000;
    assert_eq!(difference(&lines), 10_000, "per unit times units");
    let policy = ReturnPolicy { balance_due_hours: 0, ..ReturnPolicy::default_policy() };
    assert_eq!(policy.check(), Err("balance_due_hours must be 1 to 720".into()));
}
