//! Demand forecasting per SKU × warehouse from daily sales, pure: the demand pattern (ADI and
//! CV², Syntetos–Boylan), candidate methods for it, each backtested on a holdout and scored by
//! MASE, the best refitted on the whole history.
//!
//! Methods: naive, seasonal naive (weekly), simple exponential smoothing, additive Holt-Winters
//! (level, trend, weekly season) for smooth and erratic demand; Croston, SBA and TSB for
//! intermittent and lumpy demand. Smoothing parameters come from a small grid by one-step
//! squared error, which is deterministic and fast enough for 100,000 series on two cores.

use serde::{Deserialize, Serialize};

/// A week: the season of daily retail demand.
pub const SEASON: usize = 7;
/// Days held out to choose a method.
pub const HOLDOUT: usize = 28;
/// Holdouts a method is judged on (rolling origins).
pub const ORIGINS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Demand most days, steady in size.
    Smooth,
    /// Demand most days, size varying widely.
    Erratic,
    /// Demand on few days, steady in size.
    Intermittent,
    /// Demand on few days, size varying widely.
    Lumpy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Naive,
    SeasonalNaive,
    Ses,
    HoltWinters,
    Croston,
    Sba,
    Tsb,
}

/// Syntetos–Boylan cut-offs: an average interval between demands of 1.32 days, a squared
/// coefficient of variation of the non-zero demands of 0.49.
pub fn pattern(history: &[f64]) -> Pattern {
    let sizes: Vec<f64> = history.iter().copied().filter(|d| *d > 0.0).collect();
    if sizes.is_empty() {
        return Pattern::Lumpy;
    }
    let adi = history.len() as f64 / sizes.len() as f64;
    let mean = sizes.iter().sum::<f64>() / sizes.len() as f64;
    let var = sizes.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / sizes.len() as f64;
    let cv2 = var / (mean * mean);
    match (adi < 1.32, cv2 < 0.49) {
        (true, true) => Pattern::Smooth,
        (true, false) => Pattern::Erratic,
        (false, true) => Pattern::Intermittent,
        (false, false) => Pattern::Lumpy,
    }
}

/// The methods tried for a pattern.
pub fn candidates(p: Pattern) -> &'static [Method] {
    match p {
        Pattern::Smooth | Pattern::Erratic => &[Method::Naive, Method::SeasonalNaive, Method::Ses, Method::HoltWinters],
        Pattern::Intermittent | Pattern::Lumpy => &[Method::SeasonalNaive, Method::Ses, Method::Croston, Method::Sba, Method::Tsb],
    }
}

/// A fitted method: its forecast for the next `h` days.
pub fn forecast(method: Method, history: &[f64], h: usize) -> Vec<f64> {
    if history.is_empty() {
        return vec![0.0; h];
    }
    match method {
        Method::Naive => vec![history[history.len() - 1]; h],
        Method::SeasonalNaive => seasonal_naive(history, h),
        Method::Ses => vec![best_ses(history); h],
        Method::HoltWinters => holt_winters(history, h),
        Method::Croston => vec![croston(history, 1.0); h],
        Method::Sba => vec![croston(history, 0.0); h],
        Method::Tsb => vec![tsb(history); h],
    }
}

fn seasonal_naive(history: &[f64], h: usize) -> Vec<f64> {
    if history.len() < SEASON {
        return vec![history[history.len() - 1]; h];
    }
    let last = &history[history.len() - SEASON..];
    (0..h).map(|i| last[i % SEASON]).collect()
}

const ALPHAS: [f64; 6] = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5];

/// SES's final level under the alpha with the least one-step squared error.
fn best_ses(history: &[f64]) -> f64 {
    let run = |alpha: f64| {
        let (mut level, mut sse) = (history[0], 0.0);
        for &y in &history[1..] {
            sse += (y - level).powi(2);
            level += alpha * (y - level);
        }
        (sse, level)
    };
    ALPHAS.iter().map(|a| run(*a)).min_by(|a, b| a.0.total_cmp(&b.0)).map_or(history[0], |(_, level)| level)
}

/// Additive Holt-Winters with a damped trend, weekly season; the parameters from a grid by
/// one-step squared error. Needs two seasons; with less it is SES.
fn holt_winters(history: &[f64], h: usize) -> Vec<f64> {
    if history.len() < 2 * SEASON {
        return vec![best_ses(history); h];
    }
    let mut best: Option<(f64, [f64; 3])> = None;
    for &alpha in &[0.05, 0.1, 0.2, 0.4] {
        for &beta in &[0.0, 0.01, 0.05] {
            for &gamma in &[0.05, 0.1, 0.3] {
                let (sse, _) = hw_run(history, alpha, beta, gamma, 0);
                if best.is_none_or(|(b, _)| sse < b) {
                    best = Some((sse, [alpha, beta, gamma]));
                }
            }
        }
    }
    let [alpha, beta, gamma] = best.map_or([0.1, 0.0, 0.1], |(_, p)| p);
    hw_run(history, alpha, beta, gamma, h).1
}

/// The trend's damping: a forecast far out does not run away on a trend.
const PHI: f64 = 0.9;

/// Runs the recursions; returns the one-step squared error and an `h`-day forecast.
fn hw_run(y: &[f64], alpha: f64, beta: f64, gamma: f64, h: usize) -> (f64, Vec<f64>) {
    let first: f64 = y[..SEASON].iter().sum::<f64>() / SEASON as f64;
    let second: f64 = y[SEASON..2 * SEASON].iter().sum::<f64>() / SEASON as f64;
    let mut level = first;
    let mut trend = (second - first) / SEASON as f64;
    let mut season: [f64; SEASON] = std::array::from_fn(|i| y[i] - first);
    let mut sse = 0.0;
    for (t, &obs) in y.iter().enumerate().skip(SEASON) {
        let s = season[t % SEASON];
        let fitted = level + PHI * trend + s;
        sse += (obs - fitted).powi(2);
        let prev = level;
        level = alpha * (obs - s) + (1.0 - alpha) * (level + PHI * trend);
        trend = beta * (level - prev) + (1.0 - beta) * PHI * trend;
        season[t % SEASON] = gamma * (obs - level) + (1.0 - gamma) * s;
    }
    let n = y.len();
    let mut damp = 0.0;
    let out = (1..=h)
        .map(|k| {
            damp += PHI.powi(k as i32);
            (level + damp * trend + season[(n + k - 1) % SEASON]).max(0.0)
        })
        .collect();
    (sse, out)
}

/// Croston's rate: the smoothed demand size over the smoothed interval between demands, the
/// alpha from the grid by one-step squared error. `bias` 1 is Croston's own; 0 is SBA's
/// correction (1 − alpha/2), which removes the method's known upward bias.
fn croston(history: &[f64], bias: f64) -> f64 {
    let sba = bias < 1.0;
    ALPHAS.iter().map(|a| croston_run(history, *a, sba)).min_by(|a, b| a.0.total_cmp(&b.0)).map_or(0.0, |(_, rate)| rate)
}

/// One Croston pass: the one-step squared error of its rate over the history, and its final rate.
fn croston_run(history: &[f64], alpha: f64, sba: bool) -> (f64, f64) {
    let correction = if sba { 1.0 - alpha / 2.0 } else { 1.0 };
    let (mut size, mut interval, mut since, mut seen, mut sse) = (0.0, 0.0, 1.0, false, 0.0);
    let rate = |size: f64, interval: f64| if interval > 0.0 { correction * size / interval } else { 0.0 };
    for &y in history {
        if seen {
            sse += (y - rate(size, interval)).powi(2);
        }
        if y > 0.0 {
            if seen {
                size += alpha * (y - size);
                interval += alpha * (since - interval);
            } else {
                (size, interval, seen) = (y, since, true);
            }
            since = 1.0;
        } else {
            since += 1.0;
        }
    }
    (sse, rate(size, interval))
}

/// TSB: the smoothed probability of a demand each day times its smoothed size; unlike Croston
/// it decays when demand stops, so an item that died is not restocked forever. Its two
/// smoothing constants from a grid by one-step squared error.
fn tsb(history: &[f64]) -> f64 {
    let mut best = (f64::INFINITY, 0.0);
    for &alpha in &[0.05, 0.1, 0.2, 0.3] {
        for &beta in &[0.02, 0.05, 0.1, 0.2] {
            let run = tsb_run(history, alpha, beta);
            if run.0 < best.0 {
                best = run;
            }
        }
    }
    best.1
}

fn tsb_run(history: &[f64], alpha: f64, beta: f64) -> (f64, f64) {
    let Some(first) = history.iter().position(|y| *y > 0.0) else { return (0.0, 0.0) };
    let (mut size, mut prob, mut sse) = (history[first], 1.0 / (first as f64 + 1.0), 0.0);
    for &y in &history[first + 1..] {
        sse += (y - prob * size).powi(2);
        if y > 0.0 {
            prob += beta * (1.0 - prob);
            size += alpha * (y - size);
        } else {
            prob += beta * (0.0 - prob);
        }
    }
    (sse, prob * size)
}

/// Root mean squared scaled error (M5's measure): squared errors scaled by the in-sample
/// one-step naive's. Chooses among methods for intermittent demand, where MASE rewards
/// forecasting zero (the median of mostly-zero days) and would starve the shelf.
pub fn rmsse(train: &[f64], actual: &[f64], forecast: &[f64]) -> f64 {
    let scale = if train.len() > 1 { train.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum::<f64>() / (train.len() - 1) as f64 } else { 0.0 };
    let mse = actual.iter().zip(forecast).map(|(a, f)| (a - f).powi(2)).sum::<f64>() / actual.len().max(1) as f64;
    if scale > 0.0 {
        (mse / scale).sqrt()
    } else if mse == 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// Mean absolute scaled error of `forecast` against `actual`, scaled by the in-sample MAE of
/// the seasonal naive method on `train` (the one-step naive's when a season does not fit).
pub fn mase(train: &[f64], actual: &[f64], forecast: &[f64]) -> f64 {
    let lag = if train.len() > SEASON { SEASON } else { 1 };
    let scale = if train.len() > lag {
        train.windows(lag + 1).map(|w| (w[lag] - w[0]).abs()).sum::<f64>() / (train.len() - lag) as f64
    } else {
        0.0
    };
    let mae = actual.iter().zip(forecast).map(|(a, f)| (a - f).abs()).sum::<f64>() / actual.len().max(1) as f64;
    if scale > 0.0 {
        mae / scale
    } else if mae == 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// What a series' forecast is: the method chosen, its holdout error, the mean daily demand it
/// expects and its one-day error (RMSE on the holdout), for safety stock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Forecast {
    pub pattern: Pattern,
    pub method: Method,
    /// The chosen method's error on the holdout: MASE for smooth and erratic demand, RMSSE
    /// for intermittent and lumpy (lower is better; 1 is the scaling naive method's
    /// in-sample error); none for a history too short to judge, or when the scale is zero.
    pub error: Option<f64>,
    /// Expected units a day over the horizon.
    pub daily: f64,
    /// The root mean squared error of one day's forecast on the holdout.
    pub sigma: f64,
}

/// Chooses the method for `history` (daily units, oldest first) by its error on the last
/// `HOLDOUT` days among the pattern's candidates, then forecasts `h` days from the whole
/// history. A short history (under two holdouts) gets seasonal naive without a contest.
pub fn choose(history: &[f64], h: usize) -> (Forecast, Vec<f64>) {
    let p = pattern(history);
    if history.len() < 2 * HOLDOUT {
        let path = forecast(Method::SeasonalNaive, history, h);
        let mean = history.iter().sum::<f64>() / history.len().max(1) as f64;
        let sigma = (history.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / history.len().max(1) as f64).sqrt();
        let daily = path.iter().sum::<f64>() / h.max(1) as f64;
        return (Forecast { pattern: p, method: Method::SeasonalNaive, error: None, daily, sigma }, path);
    }
    // Rolling origins: each method forecasts the last ORIGINS holdouts from the history before
    // each; its error is their mean. One holdout alone is a noisy judge between close methods.
    let origins = ORIGINS.min(history.len() / HOLDOUT - 1).max(1);
    let mut best: Option<(Method, f64, f64)> = None;
    for &m in candidates(p) {
        let (mut score, mut squared) = (0.0, 0.0);
        for k in 1..=origins {
            let (train, rest) = history.split_at(history.len() - k * HOLDOUT);
            let test = &rest[..HOLDOUT];
            let f = forecast(m, train, HOLDOUT);
            score += match p {
                Pattern::Smooth | Pattern::Erratic => mase(train, test, &f),
                Pattern::Intermittent | Pattern::Lumpy => rmsse(train, test, &f),
            };
            squared += test.iter().zip(&f).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
        }
        let (score, rmse) = (score / origins as f64, (squared / (origins * HOLDOUT) as f64).sqrt());
        // Equal scores — none can be scaled (a flat history, a new item) — go to the least
        // squared error, so the safety stock still sees the error.
        let better = best.is_none_or(|(_, s, r): (Method, f64, f64)| score.total_cmp(&s).then(rmse.total_cmp(&r)).is_lt());
        if better {
            best = Some((m, score, rmse));
        }
    }
    let best = best.unwrap_or((Method::SeasonalNaive, f64::INFINITY, 0.0));
    let path = forecast(best.0, history, h);
    let daily = path.iter().sum::<f64>() / h.max(1) as f64;
    (Forecast { pattern: p, method: best.0, error: best.1.is_finite().then_some(best.1), daily, sigma: best.2 }, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The simulator's kind of demand: a level, a weekly shape (weekends busier), a slow trend
    /// and Poisson-like noise.
    fn seasonal(days: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let week = [0.8, 0.7, 0.8, 0.9, 1.1, 1.5, 1.6];
        (0..days).map(|d| (20.0 + d as f64 * 0.01) * week[d % 7] + rng.gen_range(-3.0..3.0)).map(|x: f64| x.max(0.0).round()).collect()
    }

    /// A long-tail item: a sale on few days, of 1 to 4 units, growing rarer as it ages (from
    /// one day in five to one in twelve over the series).
    fn intermittent(days: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..days).map(|d| if rng.gen_bool(0.2 - 0.12 * d as f64 / days as f64) { f64::from(rng.gen_range(1..=4)) } else { 0.0 }).collect()
    }

    #[test]
    fn patterns_follow_the_syntetos_boylan_cut_offs() {
        assert_eq!(pattern(&seasonal(200, 1)), Pattern::Smooth);
        assert_eq!(pattern(&intermittent(200, 1)), Pattern::Intermittent);
        let lumpy: Vec<f64> = (0..100).map(|d| if d % 5 == 0 { if d % 10 == 0 { 1.0 } else { 30.0 } } else { 0.0 }).collect();
        assert_eq!(pattern(&lumpy), Pattern::Lumpy);
        assert_eq!(pattern(&[0.0; 30]), Pattern::Lumpy);
    }

    #[test]
    fn on_seasonal_demand_the_chosen_method_beats_seasonal_naive_on_mase() {
        let mut wins = 0;
        for seed in 0..20 {
            let series = seasonal(730 + HOLDOUT, seed);
            let (history, future) = series.split_at(730);
            let (chosen, path) = choose(history, HOLDOUT);
            let ours = mase(history, future, &path);
            let snaive = mase(history, future, &forecast(Method::SeasonalNaive, history, HOLDOUT));
            assert!(chosen.pattern == Pattern::Smooth, "{chosen:?}");
            wins += usize::from(ours < snaive);
        }
        assert!(wins >= 18, "the chosen method beat seasonal naive on {wins} of 20 series");
    }

    #[test]
    fn on_intermittent_demand_the_croston_family_wins() {
        let (mut croston_family, mut errors) = (0, [0.0f64; 3]);
        for seed in 0..20 {
            let series = intermittent(730 + HOLDOUT, seed);
            let (history, future) = series.split_at(730);
            let (chosen, path) = choose(history, HOLDOUT);
            croston_family += usize::from(matches!(chosen.method, Method::Croston | Method::Sba | Method::Tsb));
            // Out of sample, on the 28 days after the history: the chosen method against the
            // two general ones it competed with.
            errors[0] += rmsse(history, future, &path);
            errors[1] += rmsse(history, future, &forecast(Method::Ses, history, HOLDOUT));
            errors[2] += rmsse(history, future, &forecast(Method::SeasonalNaive, history, HOLDOUT));
        }
        println!("Croston family chosen for {croston_family} of 20; RMSSE summed: chosen {:.3}, SES {:.3}, seasonal naive {:.3}", errors[0], errors[1], errors[2]);
        assert!(croston_family >= 12, "Croston, SBA or TSB chosen for only {croston_family} of 20 intermittent series");
        // The selection beats seasonal naive out of sample. (Plain SES does better still on
        // these declining series: it follows the decline, Croston's interval barely does —
        // in the closing note, for the roadmap.)
        assert!(errors[0] < errors[2] * 0.95, "RMSSE summed over 20 series: chosen {:.3}, seasonal naive {:.3}", errors[0], errors[2]);
    }

    #[test]
    fn tsb_decays_when_demand_stops_and_croston_does_not() {
        let mut series = intermittent(365, 3);
        series.extend(std::iter::repeat_n(0.0, 120));
        let (croston_rate, tsb_rate) = (croston(&series, 1.0), tsb(&series));
        assert!(tsb_rate < croston_rate / 5.0, "TSB {tsb_rate} against Croston {croston_rate}");
        assert!(croston(&series, 0.0) < croston_rate, "SBA corrects Croston downwards");
    }

    #[test]
    fn a_new_item_that_starts_selling_keeps_its_error_for_safety_stock() {
        let mut history = vec![0.0; 700];
        history.extend((0..30).map(|d| f64::from(5 + d % 3)));
        let (f, _) = choose(&history, 28);
        assert!(f.sigma > 0.0 && f.daily > 0.0, "{f:?}");
    }

    #[test]
    fn empty_and_short_histories_forecast_without_panicking() {
        assert_eq!(forecast(Method::HoltWinters, &[], 3), vec![0.0; 3]);
        let (f, path) = choose(&[1.0, 0.0, 2.0], 5);
        assert_eq!((f.method, path.len()), (Method::SeasonalNaive, 5));
        assert!(mase(&[1.0], &[1.0], &[1.0]) == 0.0);
    }
}
