//! Replenishment, pure: a reorder point and an order-up-to level per SKU × warehouse from the
//! forecast, its error and the supplier's lead time with its variability, at a target service
//! level; what to order when the inventory position falls to the reorder point, rounded to the
//! supplier's MOQ.
//!
//! Safety stock covers both uncertainties: SS = z·√(L·σd² + d̄²·σL²), ROP = d̄·L + SS. The
//! buyer reviews every R days, so an order placed now must last until the next one arrives:
//! the protection interval is L + R, which takes L's place in both (periodic review); the
//! order-up-to level adds a review period's demand to the reorder point: S = ROP + d̄·R.

use serde::{Deserialize, Serialize};

/// The service level's z: the standard normal quantile (Acklam's rational approximation, good
/// to about 1e-9 over 0.5 to 0.9999). Its coefficients as published, hence the precision.
#[allow(clippy::excessive_precision)]
pub fn z_for(service_level: f64) -> f64 {
    let p = service_level.clamp(0.5, 0.9999);
    const A: [f64; 6] = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.383577518672690e2, -3.066479806614716e1, 2.506628277459239];
    const B: [f64; 5] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    if p > 0.97575 {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// What the rule needs of one SKU × warehouse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inputs {
    /// Expected units a day.
    pub daily: f64,
    /// One day's forecast error (σd).
    pub sigma: f64,
    /// Lead time in days (L) and its standard deviation (σL).
    pub lead_days: f64,
    pub lead_sigma: f64,
    /// Days between reviews (R).
    pub review_days: f64,
    pub service_level: f64,
}

/// The levels the rule sets, in units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Levels {
    pub safety_stock: f64,
    pub reorder_point: f64,
    pub order_up_to: f64,
}

/// A supplier's lead time as replenishment counts on it: the days from sending an order to
/// its first arrival, and their standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadTime {
    pub days: f64,
    pub sigma: f64,
    /// Deliveries it was measured over (0: the contract's days and the policy's spread).
    pub observed: u32,
}

/// Deliveries needed before history replaces the contract's lead time.
pub const MIN_LEAD_OBSERVATIONS: usize = 3;

/// The lead time from `observed` deliveries (days each) when there are enough, else the
/// contract's `contract_days` with a standard deviation of `cv` of it. Measured lead times are
/// never taken shorter than the contract's (a supplier early by luck does not cut the safety
/// stock below what they promised), but their spread is their own.
pub fn lead_time(observed: &[f64], contract_days: f64, cv: f64) -> LeadTime {
    if observed.len() < MIN_LEAD_OBSERVATIONS {
        return LeadTime { days: contract_days, sigma: contract_days * cv, observed: 0 };
    }
    let n = observed.len() as f64;
    let mean = observed.iter().sum::<f64>() / n;
    let variance = observed.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0);
    LeadTime { days: mean.max(contract_days), sigma: variance.sqrt(), observed: observed.len() as u32 }
}

pub fn levels(i: &Inputs) -> Levels {
    let z = z_for(i.service_level);
    let protect = i.lead_days + i.review_days;
    let safety_stock = z * (protect * i.sigma.powi(2) + i.daily.powi(2) * i.lead_sigma.powi(2)).sqrt();
    let reorder_point = i.daily * protect + safety_stock;
    Levels { safety_stock, reorder_point, order_up_to: reorder_point + i.daily * i.review_days }
}

/// Units to order: up to the order-up-to level when the inventory position (on hand less what
/// is promised to customers, plus what is ordered or on its way) is at or below the reorder
/// point; at least the MOQ; none otherwise.
pub fn order_qty(l: &Levels, position: i64, moq: u32) -> u32 {
    if position as f64 > l.reorder_point {
        return 0;
    }
    // At most what one purchase order line may carry.
    let need = (l.order_up_to - position as f64).ceil().clamp(1.0, f64::from(tote_shared::Qty::MAX));
    (need as u32).max(moq).min(tote_shared::Qty::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procurement::forecast;
    use rand::{Rng, SeedableRng};

    #[test]
    fn z_matches_the_normal_table() {
        for (p, z) in [(0.5, 0.0), (0.9, 1.2816), (0.95, 1.6449), (0.98, 2.0537), (0.99, 2.3263), (0.999, 3.0902)] {
            assert!((z_for(p) - z).abs() < 1e-3, "z({p}) = {} not {z}", z_for(p));
        }
    }

    #[test]
    fn history_replaces_the_contract_lead_time_once_there_is_enough_of_it() {
        assert_eq!(lead_time(&[9.0, 11.0], 7.0, 0.25), LeadTime { days: 7.0, sigma: 1.75, observed: 0 }, "two deliveries are not enough");
        let late = lead_time(&[8.0, 12.0, 10.0, 14.0, 6.0], 7.0, 0.25);
        assert_eq!((late.days, late.observed), (10.0, 5));
        assert!((late.sigma - 10f64.sqrt()).abs() < 1e-9, "sample standard deviation: {late:?}");
        let early = lead_time(&[3.0, 4.0, 5.0], 7.0, 0.25);
        assert_eq!((early.days, early.sigma), (7.0, 1.0), "never shorter than promised; their own spread");
    }

    #[test]
    fn safety_stock_grows_with_demand_error_and_lead_time_variability() {
        let base = Inputs { daily: 10.0, sigma: 3.0, lead_days: 7.0, lead_sigma: 0.0, review_days: 7.0, service_level: 0.95 };
        let l = levels(&base);
        // L + R = 14 days of protection.
        assert!((l.safety_stock - 1.6449 * (14.0f64 * 9.0).sqrt()).abs() < 0.01, "{l:?}");
        assert!((l.reorder_point - 140.0 - l.safety_stock).abs() < 1e-9 && (l.order_up_to - 210.0 - l.safety_stock).abs() < 1e-9);
        assert!(levels(&Inputs { lead_sigma: 2.0, ..base }).safety_stock > l.safety_stock);
        assert!(levels(&Inputs { service_level: 0.99, ..base }).safety_stock > l.safety_stock);
        assert_eq!(order_qty(&l, 200, 6), 0, "above the reorder point");
        assert_eq!(order_qty(&l, 50, 6), (l.order_up_to - 50.0).ceil() as u32);
        assert_eq!(order_qty(&Levels { safety_stock: 0.0, reorder_point: 1.0, order_up_to: 2.0 }, 1, 6), 6, "at least the MOQ");
    }

    /// One SKU over `days`: each morning the stock on hand serves the day's demand (what it
    /// cannot serve is lost), orders placed arrive after a random lead time, and every `review`
    /// days the rule decides. Returns the fill rate (units served over units asked) and the
    /// average stock on hand.
    fn simulate(demand: &[f64], start: i64, lead: &[i64], rule: &dyn Fn(usize, i64) -> u32, review: usize) -> (f64, f64) {
        let (mut on_hand, mut arriving, mut served, mut asked, mut stock_days) = (start, Vec::<(usize, i64)>::new(), 0.0, 0.0, 0.0);
        for (day, &want) in demand.iter().enumerate() {
            on_hand += arriving.iter().filter(|(d, _)| *d == day).map(|(_, q)| q).sum::<i64>();
            arriving.retain(|(d, _)| *d > day);
            let take = (want as i64).min(on_hand);
            (on_hand, served, asked) = (on_hand - take, served + take as f64, asked + want);
            stock_days += on_hand as f64;
            if day % review == 0 {
                let position = on_hand + arriving.iter().map(|(_, q)| q).sum::<i64>();
                let qty = rule(day, position);
                if qty > 0 {
                    arriving.push((day + lead[day % lead.len()] as usize, i64::from(qty)));
                }
            }
        }
        (served / asked, stock_days / demand.len() as f64)
    }

    #[test]
    fn over_90_days_with_random_lead_times_the_forecast_rule_keeps_the_service_level_with_less_stock_than_min_max() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let week = [0.8, 0.7, 0.8, 0.9, 1.1, 1.5, 1.6];
        let mut daily = |d: usize| ((12.0 * week[d % 7]) + rng.gen_range(-4.0..4.0f64)).max(0.0).round();
        let history: Vec<f64> = (0..730).map(&mut daily).collect();
        let future: Vec<f64> = (730..820).map(&mut daily).collect();
        let lead: Vec<i64> = (0..90).map(|_| rng.gen_range(5..=11)).collect();
        let (lead_mean, lead_sigma) = (8.0, 2.0);
        let (target, review) = (0.95, 7);

        let (f, _) = forecast::choose(&history, 28);
        let l = levels(&Inputs { daily: f.daily, sigma: f.sigma, lead_days: lead_mean, lead_sigma, review_days: review as f64, service_level: target });
        let ours = simulate(&future, l.order_up_to as i64, &lead, &|_, position| order_qty(&l, position, 6), review);
        // What a buyer sets by hand: reorder at a month of average sales, fill up to two months.
        let average = history.iter().sum::<f64>() / history.len() as f64;
        let (min, max) = ((average * 30.0) as i64, (average * 60.0) as i64);
        let min_max = simulate(&future, max, &lead, &|_, position| if position <= min { (max - position) as u32 } else { 0 }, review);
        println!("forecast rule ({:?}): fill rate {:.3}, stock {:.0}; min/max: fill rate {:.3}, stock {:.0}", f.method, ours.0, ours.1, min_max.0, min_max.1);
        assert!(ours.0 >= target, "fill rate {:.3} under the target {target}", ours.0);
        assert!(ours.1 < min_max.1, "stock {:.0} not under min/max's {:.0}", ours.1, min_max.1);
    }
}
