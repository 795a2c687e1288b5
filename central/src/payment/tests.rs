//! The payment rules, with no database.

use super::*;

fn payment(state: PaymentState) -> Payment {
    Payment {
        id: 7,
        order_id: 42,
        channel: ChannelKind::Wechat,
        out_trade_no: "T00000042_1".into(),
        channel_ref: None,
        amount_minor: 69_900,
        currency: "CNY".into(),
        state,
        refunded_minor: 0,
        pay_url: None,
        risk_rule: None,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn paid(amount_minor: i64) -> ChannelReport {
    ChannelReport::Paid { channel_ref: "4200001".into(), amount_minor, currency: "CNY".into() }
}

fn sku(raw: &str) -> Sku {
    Sku::parse(raw).expect("valid SKU")
}

#[test]
fn a_success_for_an_order_awaiting_payment_pays_it_and_issues_an_invoice() {
    let effects = decide_report(&payment(PaymentState::Pending), OrderState::AwaitingPayment, &paid(69_900)).expect("accepted");
    assert_eq!(effects, vec![Effect::SetState { to: PaymentState::Succeeded, channel_ref: Some("4200001".into()) }, Effect::PayOrder, Effect::IssueInvoice]);
}

#[test]
fn a_success_that_arrives_before_the_create_answer_is_applied_the_same() {
    let effects = decide_report(&payment(PaymentState::Intent), OrderState::AwaitingPayment, &paid(69_900)).expect("accepted");
    assert!(effects.contains(&Effect::PayOrder));
}

#[test]
fn a_second_success_changes_nothing() {
    assert_eq!(decide_report(&payment(PaymentState::Succeeded), OrderState::AwaitingShipment, &paid(69_900)).expect("accepted"), vec![]);
}

#[test]
fn money_for_an_order_that_closed_or_was_paid_elsewhere_goes_back() {
    for order_state in [OrderState::Closed, OrderState::Cancelled, OrderState::AwaitingShipment] {
        for state in [PaymentState::Pending, PaymentState::Closing, PaymentState::Closed] {
            let effects = decide_report(&payment(state), order_state, &paid(69_900)).expect("accepted");
            assert!(effects.contains(&Effect::RefundAll), "{order_state:?} {state:?}");
            assert!(!effects.contains(&Effect::PayOrder));
        }
    }
}

#[test]
fn a_success_for_another_amount_or_currency_is_refused() {
    let wrong_amount = decide_report(&payment(PaymentState::Pending), OrderState::AwaitingPayment, &paid(1));
    assert!(matches!(wrong_amount, Err(PaymentError::Mismatch { got_minor: 1, .. })));
    let usd = ChannelReport::Paid { channel_ref: "x".into(), amount_minor: 69_900, currency: "USD".into() };
    assert!(matches!(decide_report(&payment(PaymentState::Pending), OrderState::AwaitingPayment, &usd), Err(PaymentError::Mismatch { .. })));
}

#[test]
fn a_failure_or_close_only_moves_an_open_payment() {
    let failed = ChannelReport::Failed { reason: "declined".into() };
    assert_eq!(decide_report(&payment(PaymentState::Pending), OrderState::AwaitingPayment, &failed).expect("ok").len(), 1);
    assert!(decide_report(&payment(PaymentState::Succeeded), OrderState::AwaitingShipment, &failed).expect("ok").is_empty());
    assert!(decide_report(&payment(PaymentState::Succeeded), OrderState::AwaitingShipment, &ChannelReport::Closed).expect("ok").is_empty());
    let closing = decide_report(&payment(PaymentState::Closing), OrderState::Closed, &ChannelReport::Closed).expect("ok");
    assert_eq!(closing, vec![Effect::SetState { to: PaymentState::Closed, channel_ref: None }]);
}

fn order_lines() -> Vec<PaidLine> {
    vec![PaidLine { sku: sku("PEG39-M-42"), qty: 2, amount_minor: 139_800 }, PaidLine { sku: sku("SOCK-L"), qty: 3, amount_minor: 14_700 }]
}

#[test]
fn a_refund_is_priced_per_line_at_what_was_paid() {
    let mut succeeded = payment(PaymentState::Succeeded);
    succeeded.amount_minor = 2 * 69_900 + 3 * 4_900;
    let (lines, total) = decide_refund(&succeeded, &order_lines(), &[], &[(sku("PEG39-M-42"), 1)]).expect("allowed");
    assert_eq!(total, 69_900);
    assert_eq!(lines[0].qty.as_i64(), 1);
}

#[test]
fn a_refund_in_part_is_a_share_of_the_price_rounded_down_and_its_units_are_spent() {
    let mut succeeded = payment(PaymentState::Succeeded);
    succeeded.amount_minor = 2 * 69_900 + 3 * 4_900;
    let (lines, total) = decide_refund_at(&succeeded, &order_lines(), &[], &[(sku("PEG39-M-42"), 1, Share::Pct(100)), (sku("SOCK-L"), 1, Share::Pct(33))]).expect("allowed");
    assert_eq!(total, 69_900 + 1_617, "33 % of 49.00 is 16.17");
    assert_eq!((lines[1].qty.as_i64(), lines[1].amount_minor), (1, 1_617));
    let earlier = lines;
    let again = decide_refund_at(&succeeded, &order_lines(), &earlier, &[(sku("SOCK-L"), 3, Share::Pct(100))]);
    assert!(matches!(again, Err(PaymentError::Refused(_))), "a unit refunded in part is not refunded again");
    assert!(matches!(decide_refund_at(&succeeded, &order_lines(), &[], &[(sku("SOCK-L"), 1, Share::Pct(101))]), Err(PaymentError::Refused(_))));
}

#[test]
fn a_discounted_line_refunded_unit_by_unit_gives_back_exactly_what_was_paid() {
    // Three pairs at ¥699.00 with ¥80.00 of a promotion's share: ¥2,017.00 for the line,
    // which does not divide into three whole fen.
    let line = PaidLine { sku: sku("PEG39-M-42"), qty: 3, amount_minor: 201_700 };
    let mut succeeded = payment(PaymentState::Succeeded);
    succeeded.amount_minor = 201_700;
    let mut earlier: Vec<RefundLine> = Vec::new();
    for expected in [67_233, 67_233, 67_234] {
        let (lines, total) = decide_refund(&succeeded, std::slice::from_ref(&line), &earlier, &[(sku("PEG39-M-42"), 1)]).expect("allowed");
        assert_eq!(total, expected);
        earlier.extend(lines);
    }
    assert_eq!(earlier.iter().map(|r| r.amount_minor).sum::<i64>(), 201_700, "not a fen more or less than was paid");
    assert!(decide_refund_at(&succeeded, std::slice::from_ref(&line), &[], &[(sku("PEG39-M-42"), 1, Share::PerUnit(67_234))]).is_err(), "per unit at most ⌊paid / units⌋");
}

#[test]
fn a_price_difference_is_refunded_per_unit_to_the_fen_and_never_above_the_price_paid() {
    let mut succeeded = payment(PaymentState::Succeeded);
    succeeded.amount_minor = 2 * 69_900 + 3 * 4_900;
    let (lines, total) = decide_refund_at(&succeeded, &order_lines(), &[], &[(sku("PEG39-M-42"), 2, Share::PerUnit(5_001))]).expect("allowed");
    assert_eq!((total, lines[0].amount_minor, lines[0].qty.as_i64()), (10_002, 10_002, 2));
    let above = decide_refund_at(&succeeded, &order_lines(), &[], &[(sku("SOCK-L"), 1, Share::PerUnit(4_901))]);
    assert!(matches!(above, Err(PaymentError::Refused(why)) if why.contains("4901 per unit, 4900 paid")));
    assert!(matches!(decide_refund_at(&succeeded, &order_lines(), &[], &[(sku("SOCK-L"), 1, Share::PerUnit(-1))]), Err(PaymentError::Refused(_))));
    let again = decide_refund_at(&succeeded, &order_lines(), &lines, &[(sku("PEG39-M-42"), 1, Share::WHOLE)]);
    assert!(matches!(again, Err(PaymentError::Refused(_))), "a unit whose difference was refunded is spent");
}

#[test]
fn a_refund_never_returns_more_units_than_were_paid_counting_earlier_refunds() {
    let mut succeeded = payment(PaymentState::Succeeded);
    succeeded.amount_minor = 2 * 69_900 + 3 * 4_900;
    let earlier = vec![RefundLine { sku: sku("PEG39-M-42"), qty: Qty::parse(2).expect("qty"), amount_minor: 139_800 }];
    assert!(matches!(decide_refund(&succeeded, &order_lines(), &earlier, &[(sku("PEG39-M-42"), 1)]), Err(PaymentError::Refused(_))));
    assert!(decide_refund(&succeeded, &order_lines(), &earlier, &[(sku("SOCK-L"), 3)]).is_ok());
    assert!(matches!(decide_refund(&succeeded, &order_lines(), &[], &[(sku("SOCK-L"), 0)]), Err(PaymentError::Refused(_))));
    assert!(matches!(decide_refund(&succeeded, &order_lines(), &[], &[(sku("OTHER-1"), 1)]), Err(PaymentError::Refused(_))));
    // The same SKU twice in one request counts both.
    assert!(matches!(decide_refund(&succeeded, &order_lines(), &[], &[(sku("SOCK-L"), 2), (sku("SOCK-L"), 2)]), Err(PaymentError::Refused(_))));
}

#[test]
fn only_a_succeeded_payment_can_be_refunded() {
    assert!(matches!(decide_refund(&payment(PaymentState::Pending), &order_lines(), &[], &[(sku("SOCK-L"), 1)]), Err(PaymentError::Refused(_))));
}

#[test]
fn a_refund_never_exceeds_what_was_captured() {
    // Captured less than the lines are worth (a partial capture): the money bound holds.
    let mut succeeded = payment(PaymentState::Succeeded);
    succeeded.amount_minor = 50_000;
    assert!(matches!(decide_refund(&succeeded, &order_lines(), &[], &[(sku("PEG39-M-42"), 1)]), Err(PaymentError::Refused(_))));
}

#[test]
fn a_refund_of_free_lines_or_with_overflowing_units_is_refused() {
    let mut succeeded = payment(PaymentState::Succeeded);
    succeeded.amount_minor = 100;
    let free = vec![PaidLine { sku: sku("GIFT-1"), qty: 1, amount_minor: 0 }];
    assert!(matches!(decide_refund(&succeeded, &free, &[], &[(sku("GIFT-1"), 1)]), Err(PaymentError::Refused(_))));
    let earlier = vec![RefundLine { sku: sku("SOCK-L"), qty: Qty::parse(1).expect("qty"), amount_minor: 4_900 }];
    assert!(matches!(decide_refund(&succeeded, &order_lines(), &earlier, &[(sku("SOCK-L"), i64::MAX)]), Err(PaymentError::Refused(_))));
}
