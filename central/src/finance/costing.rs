//! Inventory costing per SKU × warehouse, pure: FIFO with immutable layers, or a moving
//! weighted average — one method per company. Both hold units issued before any were received
//! as a debt that the next receipt settles (the difference to what they were issued at goes to
//! cost of goods sold); both split a late cost (a price variance, a landed cost) between the
//! units still on hand and those already consumed; both replay a pile's moves in date order
//! when a receipt arrives dated before moves already costed (a back-dated receipt).
//!
//! Every operation returns the inventory lines it moves (FIFO: one per lot, so the beancount
//! export can book the same lots) and any cost-of-goods-sold difference; the caller adds the
//! counter line (GRNI, payable, COGS, write-down).

use super::books::{account, Line, Lot};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use tote_shared::{Sku, WarehouseCode};

/// A move dated more than this before the pile's newest is back-dated: the pile is replayed.
/// Moves closer together than this (concurrent transactions, whose journal order and clock
/// order may differ) are costed in journal order.
pub const BACKDATED_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    #[default]
    Fifo,
    /// Moving weighted average: every receipt re-averages the units on hand.
    Average,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Fifo => "fifo",
            Method::Average => "average",
        }
    }

    pub fn parse(text: &str) -> Option<Method> {
        match text {
            "fifo" => Some(Method::Fifo),
            "average" => Some(Method::Average),
            _ => None,
        }
    }
}

/// One FIFO layer: units received together at one unit cost. A negative quantity is units
/// issued before any were received (a debt the next receipt settles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub received_ms: i64,
    pub qty: i64,
    pub unit_cost: i64,
}

/// What happened to a pile, kept so a back-dated move can replay the pile in date order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub at_ms: i64,
    /// The journal event's number: the order of moves with the same date.
    pub seq: u64,
    pub kind: MoveKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveKind {
    In {
        qty: i64,
        unit_cost: i64,
    },
    Out {
        qty: i64,
    },
    /// A cost that arrived after the units it belongs to (`units` of them).
    Late {
        units: i64,
        amount: i64,
    },
}

impl MoveKind {
    /// (kind, qty, amount) as the move table stores them.
    pub fn columns(self) -> (&'static str, i64, i64) {
        match self {
            MoveKind::In { qty, unit_cost } => ("in", qty, unit_cost),
            MoveKind::Out { qty } => ("out", qty, 0),
            MoveKind::Late { units, amount } => ("late", units, amount),
        }
    }

    pub fn from_columns(kind: &str, qty: i64, amount: i64) -> Option<MoveKind> {
        match kind {
            "in" => Some(MoveKind::In {
                qty,
                unit_cost: amount,
            }),
            "out" => Some(MoveKind::Out { qty }),
            "late" => Some(MoveKind::Late { units: qty, amount }),
            _ => None,
        }
    }
}

/// The stock of one SKU at one warehouse as costing sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pile {
    /// FIFO: the layers, oldest first.
    pub layers: VecDeque<Layer>,
    /// Average: units and their value (negative: a debt, valued at what it was issued at).
    pub qty: i64,
    pub value: i64,
    /// Average: the unit cost units leave at when none are on hand (the last average or
    /// receipt cost; 0: none yet, the SKU's standard cost is used).
    pub last_unit_cost: i64,
    /// The newest move's date.
    pub last_ms: i64,
    /// Every move, when the consumer loaded them for a replay.
    pub history: Option<Vec<Move>>,
}

/// A pile's account, method and SKU, with the standard cost a debt is valued at when nothing
/// better is known.
pub struct Place<'a> {
    pub method: Method,
    pub sku: &'a Sku,
    pub warehouse: &'a WarehouseCode,
    pub standard: i64,
}

impl Place<'_> {
    fn line(&self, amount: i64, lot: Option<(i64, i64, i64)>) -> Line {
        let lot = lot.map(|(qty, unit_cost, received_ms)| Lot {
            sku: self.sku.clone(),
            qty,
            unit_cost,
            received_ms,
        });
        Line {
            account: account::inventory(self.warehouse.as_str()),
            amount,
            lot,
        }
    }
}

fn cogs(amount: i64) -> Line {
    Line {
        account: account::COGS.to_owned(),
        amount,
        lot: None,
    }
}

/// `value × part / whole`, rounded half away from zero, without overflow.
pub fn share(value: i64, part: i64, whole: i64) -> i64 {
    if whole == 0 {
        return 0;
    }
    let (n, d) = (i128::from(value) * i128::from(part), i128::from(whole));
    let q = (2 * n + n.signum() * d.abs()) / (2 * d);
    i64::try_from(q).unwrap_or(if (n < 0) == (d < 0) {
        i64::MAX
    } else {
        i64::MIN
    })
}

impl Pile {
    pub fn on_hand(&self, method: Method) -> i64 {
        match method {
            Method::Fifo => self.layers.iter().map(|l| l.qty).sum(),
            Method::Average => self.qty,
        }
    }

    pub fn book_value(&self, method: Method) -> i64 {
        match method {
            Method::Fifo => self.layers.iter().map(|l| l.qty * l.unit_cost).sum(),
            Method::Average => self.value,
        }
    }

    /// Units in at `unit_cost`: first they settle a debt, the rest is stock. Returns the
    /// inventory lines and any cost difference on settled units.
    pub fn receive(&mut self, place: &Place, qty: i64, unit_cost: i64, at_ms: i64) -> Vec<Line> {
        self.last_ms = self.last_ms.max(at_ms);
        match place.method {
            Method::Fifo => self.receive_fifo(place, qty, unit_cost, at_ms),
            Method::Average => self.receive_average(place, qty, unit_cost),
        }
    }

    fn receive_fifo(&mut self, place: &Place, qty: i64, unit_cost: i64, at_ms: i64) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut left = qty;
        while left > 0 {
            let Some(debt) = self.layers.front_mut().filter(|l| l.qty < 0) else {
                break;
            };
            let settled = left.min(-debt.qty);
            debt.qty += settled;
            left -= settled;
            lines.push(place.line(settled * debt.unit_cost, None));
            let difference = settled * (unit_cost - debt.unit_cost);
            if difference != 0 {
                lines.push(cogs(difference));
            }
            if debt.qty == 0 {
                self.layers.pop_front();
            }
        }
        if left > 0 {
            // Never dated before the newest layer: beancount takes lots by date, so a receipt
            // booked in journal order but a moment older (across midnight) would go first there.
            let received_ms = self
                .layers
                .back()
                .map_or(at_ms, |l| l.received_ms.max(at_ms));
            self.layers.push_back(Layer {
                received_ms,
                qty: left,
                unit_cost,
            });
            lines.push(place.line(left * unit_cost, Some((left, unit_cost, received_ms))));
        }
        lines
    }

    fn receive_average(&mut self, place: &Place, qty: i64, unit_cost: i64) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut left = qty;
        if self.qty < 0 {
            // The debt's units were issued at some value; they really cost `unit_cost`.
            let settled = left.min(-self.qty);
            let issued_at = if settled == -self.qty {
                -self.value
            } else {
                share(-self.value, settled, -self.qty)
            };
            self.qty += settled;
            self.value += issued_at;
            left -= settled;
            lines.push(place.line(issued_at, None));
            if settled * unit_cost != issued_at {
                lines.push(cogs(settled * unit_cost - issued_at));
            }
        }
        if left > 0 {
            self.qty += left;
            self.value += left * unit_cost;
            lines.push(place.line(left * unit_cost, None));
        }
        self.last_unit_cost = unit_cost;
        lines
    }

    /// Units out. FIFO: oldest layer first, one line per layer; average: at the average. Units
    /// beyond what is on hand leave a debt at the last known cost.
    pub fn issue(&mut self, place: &Place, qty: i64, at_ms: i64) -> Vec<Line> {
        self.last_ms = self.last_ms.max(at_ms);
        match place.method {
            Method::Fifo => self.issue_fifo(place, qty, at_ms),
            Method::Average => self.issue_average(place, qty),
        }
    }

    fn issue_fifo(&mut self, place: &Place, qty: i64, at_ms: i64) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut left = qty;
        while left > 0 {
            let Some(layer) = self.layers.front_mut().filter(|l| l.qty > 0) else {
                break;
            };
            let taken = left.min(layer.qty);
            layer.qty -= taken;
            left -= taken;
            lines.push(place.line(
                -taken * layer.unit_cost,
                Some((-taken, layer.unit_cost, layer.received_ms)),
            ));
            if layer.qty == 0 {
                self.layers.pop_front();
            }
        }
        if left > 0 {
            // More owed joins the debt at its cost, so the pile and the books keep one value.
            let unit_cost = match self.layers.back_mut().filter(|l| l.qty < 0) {
                Some(debt) => {
                    debt.qty -= left;
                    debt.unit_cost
                }
                None => {
                    self.layers.push_back(Layer {
                        received_ms: at_ms,
                        qty: -left,
                        unit_cost: place.standard,
                    });
                    place.standard
                }
            };
            lines.push(place.line(-left * unit_cost, None));
        }
        lines
    }

    fn issue_average(&mut self, place: &Place, qty: i64) -> Vec<Line> {
        let mut out = 0;
        let taken = qty.min(self.qty.max(0));
        if taken > 0 {
            let value = if taken == self.qty {
                self.value
            } else {
                share(self.value, taken, self.qty)
            };
            self.last_unit_cost = share(self.value, 1, self.qty);
            self.qty -= taken;
            self.value -= value;
            out += value;
        }
        let beyond = qty - taken;
        if beyond > 0 {
            let unit = if self.last_unit_cost > 0 {
                self.last_unit_cost
            } else {
                place.standard
            };
            self.qty -= beyond;
            self.value -= beyond * unit;
            out += beyond * unit;
        }
        vec![place.line(-out, None)]
    }

    /// A cost that belongs to `units` received earlier: the share of the units still on hand
    /// goes into their cost, the rest to cost of goods sold (they were sold or written off).
    pub fn late_cost(&mut self, place: &Place, units: i64, amount: i64, at_ms: i64) -> Vec<Line> {
        self.last_ms = self.last_ms.max(at_ms);
        let here = units.min(self.on_hand(place.method).max(0)).max(0);
        let on_hand_part = if units > 0 {
            share(amount, here, units)
        } else {
            0
        };
        let mut lines = match place.method {
            Method::Average if here > 0 => {
                self.value += on_hand_part;
                vec![place.line(on_hand_part, None)]
            }
            Method::Fifo if here > 0 => self.revalue_newest(place, here, on_hand_part),
            _ => Vec::new(),
        };
        // What the on-hand units could not take (none left, or a decrease larger than their
        // cost) is consumed cost.
        let taken: i64 = lines.iter().map(|l| l.amount).sum();
        if amount != taken {
            lines.push(cogs(amount - taken));
        }
        lines
    }

    /// Spreads `amount` over the newest `units` units on hand (the late cost's own goods, as
    /// FIFO consumes oldest first), whole fen per unit: the first `amount mod units` units take
    /// one fen more. The pile's lots are booked out and back in at their new costs, so the
    /// export's lots stay the layers.
    fn revalue_newest(&mut self, place: &Place, units: i64, amount: i64) -> Vec<Line> {
        let (per_unit, extra) = (amount.div_euclid(units), amount.rem_euclid(units));
        let old = self.clone();
        let mut rebuilt: VecDeque<Layer> = VecDeque::new();
        let mut skip = self.on_hand(Method::Fifo) - units;
        let mut given_extra = 0;
        for layer in &self.layers {
            if layer.qty <= 0 {
                rebuilt.push_back(layer.clone());
                continue;
            }
            let untouched = skip.min(layer.qty);
            skip -= untouched;
            if untouched > 0 {
                rebuilt.push_back(Layer {
                    qty: untouched,
                    ..layer.clone()
                });
            }
            let mut rest = layer.qty - untouched;
            let plus_one = (extra - given_extra).min(rest);
            if plus_one > 0 {
                rebuilt.push_back(Layer {
                    qty: plus_one,
                    unit_cost: layer.unit_cost + per_unit + 1,
                    ..layer.clone()
                });
                given_extra += plus_one;
                rest -= plus_one;
            }
            if rest > 0 {
                rebuilt.push_back(Layer {
                    qty: rest,
                    unit_cost: layer.unit_cost + per_unit,
                    ..layer.clone()
                });
            }
        }
        if rebuilt.iter().any(|l| l.qty > 0 && l.unit_cost < 0) {
            return Vec::new(); // a decrease beyond the goods' cost: all of it is consumed cost
        }
        self.layers = rebuilt;
        relayer_lines(place, &old, self)
    }

    /// A back-dated move arrived: replays the history in date order from nothing and returns
    /// the lines that take the pile from what it is to what the replay says (the difference in
    /// value to cost of goods sold). The history must be loaded and hold the new move.
    pub fn replay(&mut self, place: &Place) -> Vec<Line> {
        let Some(mut history) = self.history.take() else {
            return Vec::new();
        };
        history.sort_by_key(|m| (m.at_ms, m.seq));
        let mut fresh = Pile::default();
        for m in &history {
            match m.kind {
                MoveKind::In { qty, unit_cost } => {
                    drop(fresh.receive(place, qty, unit_cost, m.at_ms))
                }
                MoveKind::Out { qty } => drop(fresh.issue(place, qty, m.at_ms)),
                MoveKind::Late { units, amount } => {
                    drop(fresh.late_cost(place, units, amount, m.at_ms))
                }
            }
        }
        fresh.history = Some(history);
        let old = std::mem::replace(self, fresh);
        let mut lines = match place.method {
            Method::Fifo => relayer_lines(place, &old, self),
            Method::Average => vec![place.line(self.value - old.value, None)],
        };
        let moved: i64 = lines.iter().map(|l| l.amount).sum();
        if moved != 0 {
            lines.push(cogs(-moved));
        }
        lines
    }

    /// Records a move (when the history is loaded, it joins it).
    pub fn remember(&mut self, m: &Move) {
        if let Some(history) = &mut self.history {
            history.push(m.clone());
        }
    }
}

/// Lines that book every lot of `old` out and every lot of `new` in (debts as plain amounts).
fn relayer_lines(place: &Place, old: &Pile, new: &Pile) -> Vec<Line> {
    let mut lines = Vec::new();
    for l in &old.layers {
        let lot = (l.qty > 0).then_some((-l.qty, l.unit_cost, l.received_ms));
        lines.push(place.line(-l.qty * l.unit_cost, lot));
    }
    for l in &new.layers {
        let lot = (l.qty > 0).then_some((l.qty, l.unit_cost, l.received_ms));
        lines.push(place.line(l.qty * l.unit_cost, lot));
    }
    lines
}

#[cfg(test)]
mod tests;
