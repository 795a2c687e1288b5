//! Hand-computed fixtures: every figure below was worked out on paper from the rules in the
//! module's comments, not read back from the engine.

use super::*;

fn sku() -> Sku {
    Sku::parse("PEG39-M-WHT-42").expect("sku")
}

fn wh() -> WarehouseCode {
    WarehouseCode::parse("SH-01").expect("warehouse")
}

const DAY: i64 = 86_400_000;

/// The inventory and cost-of-goods-sold totals of some lines.
fn split(lines: &[Line]) -> (i64, i64) {
    let inventory = lines.iter().filter(|l| l.account.starts_with("Assets:Inventory")).map(|l| l.amount).sum();
    let cogs = lines.iter().filter(|l| l.account == account::COGS).map(|l| l.amount).sum();
    (inventory, cogs)
}

struct Run {
    pile: Pile,
    method: Method,
    sku: Sku,
    warehouse: WarehouseCode,
    seq: u64,
    /// Cost of goods sold so far: issues' values and every difference.
    cogs: i64,
}

impl Run {
    fn new(method: Method) -> Run {
        Run { pile: Pile { history: Some(Vec::new()), ..Pile::default() }, method, sku: sku(), warehouse: wh(), seq: 0, cogs: 0 }
    }

    fn step(&mut self, at_ms: i64, kind: MoveKind) -> Vec<Line> {
        self.seq += 1;
        let m = Move { at_ms, seq: self.seq, kind };
        let backdated = at_ms < self.pile.last_ms - BACKDATED_MS;
        self.pile.remember(&m);
        let (sku, warehouse) = (self.sku.clone(), self.warehouse.clone());
        let place = Place { method: self.method, sku: &sku, warehouse: &warehouse, standard: 100 };
        let mut lines = match kind {
            MoveKind::In { qty, unit_cost } => self.pile.receive(&place, qty, unit_cost, at_ms),
            MoveKind::Out { qty } => {
                let lines = self.pile.issue(&place, qty, at_ms);
                self.cogs -= split(&lines).0;
                lines
            }
            MoveKind::Late { units, amount } => self.pile.late_cost(&place, units, amount, at_ms),
        };
        if backdated {
            lines.extend(self.pile.replay(&place));
        }
        self.cogs += split(&lines).1;
        lines
    }

    fn state(&self) -> (i64, i64) {
        (self.pile.on_hand(self.method), self.pile.book_value(self.method))
    }
}

#[test]
fn average_receipts_into_negative_stock_settle_the_debt_at_the_receipt_cost() {
    let mut run = Run::new(Method::Average);
    // Five issued with nothing on hand: a debt at the standard cost (1.00).
    assert_eq!(split(&run.step(DAY, MoveKind::Out { qty: 5 })), (-500, 0));
    assert_eq!(run.state(), (-5, -500));
    // Eight at 1.20: five settle the debt (they cost 0.20 more each: 1.00 to COGS), three stay.
    assert_eq!(split(&run.step(2 * DAY, MoveKind::In { qty: 8, unit_cost: 120 })), (500 + 360, 100));
    assert_eq!(run.state(), (3, 360));
    // Two at 1.50: five at 6.60, 1.32 each.
    run.step(3 * DAY, MoveKind::In { qty: 2, unit_cost: 150 });
    assert_eq!(run.state(), (5, 660));
    // Two out at the average: 2.64.
    assert_eq!(split(&run.step(4 * DAY, MoveKind::Out { qty: 2 })), (-264, 0));
    assert_eq!(run.state(), (3, 396));
    // Four out: the three on hand (3.96) and one more at the last average (1.32).
    assert_eq!(split(&run.step(5 * DAY, MoveKind::Out { qty: 4 })), (-528, 0));
    assert_eq!(run.state(), (-1, -132));
    // One at 1.40 settles it: 0.08 more.
    assert_eq!(split(&run.step(6 * DAY, MoveKind::In { qty: 1, unit_cost: 140 })), (132, 8));
    assert_eq!(run.state(), (0, 0));
    // Everything received (9.60 + 3.00 + 1.40) was consumed.
    assert_eq!(run.cogs, 1_400);
}

#[test]
fn average_a_return_comes_back_at_its_original_cost_and_re_averages() {
    let mut run = Run::new(Method::Average);
    run.step(DAY, MoveKind::In { qty: 10, unit_cost: 100 });
    assert_eq!(split(&run.step(2 * DAY, MoveKind::Out { qty: 4 })), (-400, 0));
    // The customer returns one: back at the 1.00 it left at.
    assert_eq!(split(&run.step(3 * DAY, MoveKind::In { qty: 1, unit_cost: 100 })), (100, 0));
    assert_eq!(run.state(), (7, 700));
    run.step(4 * DAY, MoveKind::In { qty: 3, unit_cost: 130 });
    assert_eq!(run.state(), (10, 1_090));
    // Five at 10.90 / 10 each: 5.45.
    assert_eq!(split(&run.step(5 * DAY, MoveKind::Out { qty: 5 })), (-545, 0));
    assert_eq!(run.state(), (5, 545));
}

#[test]
fn average_a_late_landed_cost_splits_between_units_on_hand_and_units_sold() {
    let mut run = Run::new(Method::Average);
    run.step(DAY, MoveKind::In { qty: 10, unit_cost: 100 });
    run.step(2 * DAY, MoveKind::Out { qty: 6 });
    // 0.50 of freight for the ten: four are still here (0.20), six were sold (0.30).
    assert_eq!(split(&run.step(3 * DAY, MoveKind::Late { units: 10, amount: 50 })), (20, 30));
    assert_eq!(run.state(), (4, 420));
    assert_eq!(split(&run.step(4 * DAY, MoveKind::Out { qty: 4 })), (-420, 0));
    assert_eq!(run.cogs, 1_050, "10.00 of goods and 0.50 of freight, all sold");
}

#[test]
fn average_a_back_dated_receipt_replays_the_issues_after_it() {
    let mut run = Run::new(Method::Average);
    run.step(DAY, MoveKind::In { qty: 10, unit_cost: 100 });
    run.step(3 * DAY, MoveKind::Out { qty: 8 });
    // Two on hand and two more: a debt of two at the last average (1.00).
    run.step(5 * DAY, MoveKind::Out { qty: 4 });
    assert_eq!(run.state(), (-2, -200));
    // Ten at 1.30 that arrived on day 2, booked on day 5. In date order:
    // day 1 in 10 @ 1.00 → 10 / 10.00; day 2 in 10 @ 1.30 → 20 / 23.00;
    // day 3 out 8 at 1.15 → 12 / 13.80; day 5 out 4 at 1.15 → 8 / 9.20.
    let lines = run.step(2 * DAY, MoveKind::In { qty: 10, unit_cost: 130 });
    assert_eq!(run.state(), (8, 920));
    // Booked as it came: the debt settles (0.60 more), eight stay at 10.40; the replay takes
    // the pile to 9.20, the 1.20 difference to cost of goods sold.
    assert_eq!(split(&lines), (200 + 1_040 - 120, 60 + 120));
    assert_eq!(run.cogs, 800 + 400 + 60 + 120);
    assert_eq!(run.cogs, 1_000 + 1_300 - 920, "what was received less what is left");
}

#[test]
fn fifo_a_late_cost_goes_onto_the_newest_units_on_hand_in_whole_fen() {
    let mut run = Run::new(Method::Fifo);
    run.step(DAY, MoveKind::In { qty: 5, unit_cost: 100 });
    run.step(2 * DAY, MoveKind::In { qty: 4, unit_cost: 110 });
    // 0.37 over six units: 0.06 each and one fen more on the first.
    let lines = run.step(3 * DAY, MoveKind::Late { units: 6, amount: 37 });
    assert_eq!(split(&lines), (37, 0));
    let layers: Vec<(i64, i64, i64)> = run.pile.layers.iter().map(|l| (l.received_ms / DAY, l.qty, l.unit_cost)).collect();
    assert_eq!(layers, vec![(1, 3, 100), (1, 1, 107), (1, 1, 106), (2, 4, 116)]);
    // The lines book every lot out and the new ones in, so the export's lots follow.
    let out: i64 = lines.iter().filter_map(|l| l.lot.as_ref()).filter(|l| l.qty < 0).map(|l| l.qty).sum();
    assert_eq!(out, -9);
    // Six units sold before the cost arrived: all of it is consumed cost.
    let mut sold = Run::new(Method::Fifo);
    sold.step(DAY, MoveKind::In { qty: 6, unit_cost: 100 });
    sold.step(2 * DAY, MoveKind::Out { qty: 6 });
    assert_eq!(split(&sold.step(3 * DAY, MoveKind::Late { units: 6, amount: 37 })), (0, 37));
}

#[test]
fn fifo_a_back_dated_receipt_is_issued_first_by_its_date() {
    let mut run = Run::new(Method::Fifo);
    run.step(DAY, MoveKind::In { qty: 2, unit_cost: 100 });
    run.step(3 * DAY, MoveKind::Out { qty: 3 }); // two at 1.00, one owed at the standard 1.00
    run.step(4 * DAY, MoveKind::In { qty: 2, unit_cost: 150 }); // settles the debt (+0.50), one left
    // Two at 1.20 dated day 2: by date, the day-3 issue took 1.00, 1.00, 1.20; what is left
    // is one at 1.20 and two at 1.50.
    run.step(2 * DAY, MoveKind::In { qty: 2, unit_cost: 120 });
    let layers: Vec<(i64, i64, i64)> = run.pile.layers.iter().map(|l| (l.received_ms / DAY, l.qty, l.unit_cost)).collect();
    assert_eq!(layers, vec![(2, 1, 120), (4, 2, 150)]);
    assert_eq!(run.cogs, 320, "the issue's three units by date");
}

#[test]
fn a_share_rounds_half_away_from_zero() {
    assert_eq!(share(660, 2, 5), 264);
    assert_eq!(share(5, 1, 2), 3);
    assert_eq!(share(-5, 1, 2), -3);
    assert_eq!(share(1, 1, 3), 0);
    assert_eq!(share(i64::MAX, 3, 2), i64::MAX, "saturates rather than wrapping");
}
