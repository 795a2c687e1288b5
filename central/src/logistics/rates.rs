//! Rate cards, pure: what one carrier's service charges for one parcel on one lane.
//!
//! A lane is (carrier, service, origin warehouse, destination province) with a first-weight
//! price, a price per additional step (0.5 or 1 kg), promised transit days and validity dates.
//! The weight charged is the greater of the actual and the volumetric weight (cm³ ÷ the
//! carrier's divisor, in kg — which is mm³ ÷ divisor in grams). Insurance is a share of the
//! declared value with a minimum; remote areas add a flat surcharge. Everything is integer
//! minor units and grams: a quote equals a hand calculation to the fen.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Heaviest parcel any quote accepts (1 t): keeps every product below in range.
pub const MAX_PARCEL_WEIGHT_G: u64 = 1_000_000;
/// Largest parcel volume any quote accepts (1,000 m³ in mm³).
pub const MAX_PARCEL_VOLUME_MM3: u64 = 1_000_000_000_000_000;
/// Dearest first-weight or step price on a lane (10,000 yuan).
pub const MAX_LANE_PRICE: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Standard,
    Express,
    NextDay,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Standard, Service::Express, Service::NextDay];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Standard => "standard",
            Service::Express => "express",
            Service::NextDay => "next_day",
        }
    }

    pub fn parse(raw: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// A carrier's insurance: a share of the declared value, never below a minimum, up to a cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Insurance {
    /// Basis points of the declared value (50 = 0.5 %).
    #[schema(minimum = 0, maximum = 10000)]
    pub rate_bp: u32,
    /// Minor units.
    #[schema(minimum = 0, maximum = 1000000)]
    pub min_fee: i64,
    /// The most a parcel may declare with this carrier, minor units.
    #[schema(minimum = 0, maximum = 10000000000_i64)]
    pub max_declared: i64,
}

/// A carrier as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Carrier {
    pub code: String,
    pub name: String,
    /// cm³ per kg for the volumetric weight (6000 and 8000 are usual).
    pub volumetric_divisor: u32,
    /// None: the carrier does not insure parcels.
    pub insurance: Option<Insurance>,
    /// Delivers against the recipient's signature.
    pub signature: bool,
    /// Takes fragile goods.
    pub fragile: bool,
    pub max_weight_g: u64,
    pub max_side_mm: u64,
    /// Why HQ suspended it; a suspended carrier is never chosen.
    pub suspended: Option<String>,
}

/// One rate-card row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lane {
    pub carrier: String,
    pub service: Service,
    /// Origin warehouse code.
    pub origin: String,
    /// Destination province (`tote_shared::geo::PROVINCES` code).
    pub province: String,
    pub first_weight_g: u64,
    /// Minor units for the first weight.
    pub first_price: i64,
    /// Each additional step of this many grams (or part of it) costs `step_price`.
    pub step_g: u64,
    pub step_price: i64,
    pub transit_days: u32,
    /// Days since 1970-01-01, both included; `valid_to` None: open-ended.
    pub valid_from: i64,
    pub valid_to: Option<i64>,
}

impl Lane {
    pub fn valid_on(&self, day: i64) -> bool {
        self.valid_from <= day && self.valid_to.is_none_or(|to| day <= to)
    }
}

/// A remote area of one carrier: a city, or a whole province when `city` is `*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemoteArea {
    pub carrier: String,
    pub province: String,
    pub city: String,
    /// Minor units per parcel.
    pub surcharge: i64,
}

/// What is shipped, as the rate card needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Parcel {
    pub weight_g: u64,
    /// Volume of the packed parcel (L × W × H) in mm³.
    pub volume_mm3: u64,
    pub longest_side_mm: u64,
    /// Goods value, minor units.
    pub declared_value: i64,
    pub fragile: bool,
}

/// A price, broken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Price {
    /// The greater of actual and volumetric weight.
    pub chargeable_g: u64,
    pub freight: i64,
    pub insurance: i64,
    pub remote: i64,
    pub total: i64,
}

/// Volumetric weight in grams: mm³ ÷ divisor (cm³ per kg), rounded up.
pub fn volumetric_g(volume_mm3: u64, divisor: u32) -> u64 {
    volume_mm3.div_ceil(u64::from(divisor.max(1)))
}

/// The greater of actual and volumetric weight, held just above the heaviest parcel any
/// carrier takes (so it is ruled out by weight, and the price arithmetic stays in range).
pub fn chargeable_g(parcel: &Parcel, divisor: u32) -> u64 {
    parcel.weight_g.max(volumetric_g(parcel.volume_mm3, divisor)).min(MAX_PARCEL_WEIGHT_G + 1)
}

/// First weight, then every started step.
pub fn freight(lane: &Lane, chargeable_g: u64) -> i64 {
    let extra = chargeable_g.saturating_sub(lane.first_weight_g);
    let steps = extra.div_ceil(lane.step_g.max(1));
    // Saturating, whatever the caller passes: a price never wraps into a bargain.
    lane.first_price.saturating_add(i64::try_from(steps).unwrap_or(i64::MAX).saturating_mul(lane.step_price))
}

/// The fee to insure `declared` minor units: its share, rounded up to the fen, or the minimum.
pub fn insurance_fee(insurance: &Insurance, declared: i64) -> i64 {
    let share = (i128::from(declared) * i128::from(insurance.rate_bp) + 9_999) / 10_000;
    i64::try_from(share).unwrap_or(i64::MAX).max(insurance.min_fee)
}

/// A rate card indexed for quoting: lanes by (origin, province), remote areas by
/// (carrier, province), carriers by code.
#[derive(Debug, Clone, Default)]
pub struct RateCard {
    pub carriers: Vec<Carrier>,
    lanes: HashMap<(String, String), Vec<Lane>>,
    remote: HashMap<(String, String), Vec<(String, i64)>>,
}

impl RateCard {
    pub fn new(carriers: Vec<Carrier>, lanes: Vec<Lane>, remote: Vec<RemoteArea>) -> RateCard {
        let mut card = RateCard { carriers, ..RateCard::default() };
        for lane in lanes {
            card.lanes.entry((lane.origin.clone(), lane.province.clone())).or_default().push(lane);
        }
        for area in remote {
            card.remote.entry((area.carrier, area.province)).or_default().push((area.city, area.surcharge));
        }
        card
    }

    /// The lane of this carrier and service valid on `day` (the latest-starting one when
    /// validity windows overlap); None when it serves no such lane that day.
    pub fn lane(&self, carrier: &str, service: Service, origin: &str, province: &str, day: i64) -> Option<&Lane> {
        self.lanes
            .get(&(origin.to_owned(), province.to_owned()))?
            .iter()
            .filter(|l| l.carrier == carrier && l.service == service && l.valid_on(day))
            .max_by_key(|l| l.valid_from)
    }

    /// Lanes from `origin` to `province` (any carrier, any day).
    pub fn lanes_to(&self, origin: &str, province: &str) -> &[Lane] {
        self.lanes.get(&(origin.to_owned(), province.to_owned())).map_or(&[], Vec::as_slice)
    }

    /// The surcharge of this carrier for this city: the city's own row if it has one (an
    /// exemption may be 0), else its province's `*` row, else none.
    pub fn remote_surcharge(&self, carrier: &str, province: &str, city: &str) -> i64 {
        let Some(areas) = self.remote.get(&(carrier.to_owned(), province.to_owned())) else { return 0 };
        let fee = |name: &str| areas.iter().find(|(c, _)| c == name).map(|(_, fee)| *fee);
        fee(city).or_else(|| fee("*")).unwrap_or(0)
    }
}

/// The price of `parcel` on `lane` with `carrier`, insured or not.
pub fn price(carrier: &Carrier, lane: &Lane, parcel: &Parcel, insured: bool, remote: i64) -> Price {
    let chargeable_g = chargeable_g(parcel, carrier.volumetric_divisor);
    let freight = freight(lane, chargeable_g);
    let insurance = match (&carrier.insurance, insured) {
        (Some(cover), true) => insurance_fee(cover, parcel.declared_value),
        _ => 0,
    };
    Price { chargeable_g, freight, insurance, remote, total: freight + insurance + remote }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(first_weight_g: u64, first_price: i64, step_g: u64, step_price: i64) -> Lane {
        Lane {
            carrier: "SF".into(),
            service: Service::Standard,
            origin: "SH-01".into(),
            province: "zhejiang".into(),
            first_weight_g,
            first_price,
            step_g,
            step_price,
            transit_days: 2,
            valid_from: 0,
            valid_to: None,
        }
    }

    #[test]
    fn a_started_step_is_charged_whole_and_the_first_weight_covers_what_it_says() {
        let l = lane(1_000, 1_200, 500, 300);
        assert_eq!(freight(&l, 1), 1_200);
        assert_eq!(freight(&l, 1_000), 1_200, "exactly the first weight");
        assert_eq!(freight(&l, 1_001), 1_500, "one gram over starts a step");
        assert_eq!(freight(&l, 1_500), 1_500);
        assert_eq!(freight(&l, 2_600), 1_200 + 4 * 300, "1,600 g over = 4 steps of 500 g");
    }

    #[test]
    fn volumetric_weight_is_cubic_centimetres_over_the_divisor_rounded_up_to_the_gram() {
        // 40 × 30 × 20 cm = 24,000 cm³ → 4 kg at 6000, 3 kg at 8000.
        let volume = 400 * 300 * 200;
        assert_eq!(volumetric_g(volume, 6_000), 4_000);
        assert_eq!(volumetric_g(volume, 8_000), 3_000);
        assert_eq!(volumetric_g(volume + 1, 6_000), 4_001);
    }

    #[test]
    fn insurance_is_a_share_rounded_up_to_the_fen_never_below_the_minimum() {
        let cover = Insurance { rate_bp: 50, min_fee: 100, max_declared: 10_000_000 };
        assert_eq!(insurance_fee(&cover, 10_000), 100, "0.5 % of 100 yuan is 0.50, below the 1-yuan minimum");
        assert_eq!(insurance_fee(&cover, 300_000), 1_500);
        assert_eq!(insurance_fee(&cover, 300_001), 1_501, "a part of a fen rounds up");
    }

    #[test]
    fn a_city_row_overrides_its_province_row_even_to_exempt_it() {
        let area = |city: &str, surcharge| RemoteArea { carrier: "SF".into(), province: "xinjiang".into(), city: city.into(), surcharge };
        let card = RateCard::new(vec![], vec![], vec![area("*", 1_500), area("urumqi", 0), area("kashgar", 2_500)]);
        assert_eq!(card.remote_surcharge("SF", "xinjiang", "urumqi"), 0);
        assert_eq!(card.remote_surcharge("SF", "xinjiang", "kashgar"), 2_500);
        assert_eq!(card.remote_surcharge("SF", "xinjiang", "hotan"), 1_500);
        assert_eq!(card.remote_surcharge("JD", "xinjiang", "hotan"), 0);
    }

    #[test]
    fn a_huge_volume_is_charged_just_above_the_weight_limit_and_no_price_wraps() {
        let parcel = Parcel { weight_g: 1, volume_mm3: u64::MAX, longest_side_mm: 1, declared_value: 0, fragile: false };
        assert_eq!(chargeable_g(&parcel, 1), MAX_PARCEL_WEIGHT_G + 1);
        let steep = lane(1, MAX_LANE_PRICE, 1, MAX_LANE_PRICE);
        assert!(freight(&steep, u64::MAX) > 0, "saturates instead of wrapping");
    }

    #[test]
    fn a_lane_is_valid_between_its_dates_and_the_later_start_wins_an_overlap() {
        let mut old = lane(1_000, 1_000, 1_000, 100);
        old.valid_to = Some(20);
        let mut new = lane(1_000, 1_100, 1_000, 100);
        new.valid_from = 15;
        let card = RateCard::new(vec![], vec![old, new], vec![]);
        let on = |day| card.lane("SF", Service::Standard, "SH-01", "zhejiang", day).map(|l| l.first_price);
        assert_eq!(on(10), Some(1_000));
        assert_eq!(on(15), Some(1_100));
        assert_eq!(on(21), Some(1_100));
        assert_eq!(card.lane("SF", Service::Express, "SH-01", "zhejiang", 10), None);
    }
}
