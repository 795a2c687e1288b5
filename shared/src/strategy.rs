//! Strategy rules: how each kind of order line is picked. A line is sorted into a profile
//! (goods-to-person SKU, bulky order, single-unit order, multi-line order) and each profile goes
//! to the method the warehouse configured for it. Pure: the edge asks, then allocates accordingly.

use serde::{Deserialize, Serialize};

/// What an order line is, for choosing how it is picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The SKU has free stock on pods: robots can bring it to a station.
    GoodsToPerson,
    /// The order is one unit of one SKU.
    SingleUnit,
    /// Every other order: several lines, or several units.
    MultiLine,
    /// An order with an item too heavy or too long for a tote, a cart or a pod.
    Bulky,
}

impl Profile {
    pub const ALL: [Profile; 4] = [Profile::GoodsToPerson, Profile::SingleUnit, Profile::MultiLine, Profile::Bulky];

    /// The profile of an order's shelf lines, from its lines' quantities and whether any of its
    /// items is bulky.
    pub fn of_order(quantities: &[i64], bulky: bool) -> Profile {
        match (bulky, quantities) {
            (true, _) => Profile::Bulky,
            (false, [1]) => Profile::SingleUnit,
            (false, _) => Profile::MultiLine,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::GoodsToPerson => "goods_to_person",
            Profile::SingleUnit => "single_unit",
            Profile::MultiLine => "multi_line",
            Profile::Bulky => "bulky",
        }
    }
}

/// When an item is bulky: heavier or longer than this (by the catalog's shipping size). An
/// item the catalog has not measured is not bulky.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkyLimits {
    pub weight_g: u32,
    pub longest_mm: u32,
}

impl Default for BulkyLimits {
    /// What a picker can still put in a tote on a cart: 15 kg, 80 cm.
    fn default() -> BulkyLimits {
        BulkyLimits { weight_g: 15_000, longest_mm: 800 }
    }
}

impl BulkyLimits {
    pub fn is_bulky(&self, weight_g: Option<u32>, longest_mm: Option<u32>) -> bool {
        weight_g.is_some_and(|w| w > self.weight_g) || longest_mm.is_some_and(|l| l > self.longest_mm)
    }

    pub fn validate(&self) -> Result<(), RuleError> {
        if (1..=1_000_000).contains(&self.weight_g) && (1..=10_000).contains(&self.longest_mm) {
            Ok(())
        } else {
            Err(RuleError::BulkyLimits)
        }
    }
}

/// How a line is picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A robot brings the pod to a station; the station's worker picks (goods-to-person).
    Station,
    /// A picker with a handheld walks to the shelves for this one order.
    Discrete,
    /// Single-unit orders picked together into one tote, sorted to their cartons at packing.
    Batch,
    /// Orders picked together onto a cart of totes, one tote per order, in one walk.
    Cluster,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Station => "station",
            Method::Discrete => "discrete",
            Method::Batch => "batch",
            Method::Cluster => "cluster",
        }
    }

    pub fn parse(text: &str) -> Option<Method> {
        [Method::Station, Method::Discrete, Method::Batch, Method::Cluster].into_iter().find(|m| m.as_str() == text)
    }

    /// The method of one task: on a pod it is the station's (a pod is only ever picked at a
    /// station), on a shelf its order's shelf method.
    pub fn of_task(on_pod: bool, shelf: Method) -> Method {
        if on_pod {
            Method::Station
        } else {
            shelf
        }
    }

    /// Picked onto a cart in a wave's walk (batch or cluster), not one order at a time.
    pub fn on_cart(self) -> bool {
        matches!(self, Method::Batch | Method::Cluster)
    }
}

/// One rule: lines of this profile are picked by this method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub profile: Profile,
    pub method: Method,
}

/// A warehouse's rules, one per profile at most (a profile without a rule is picked
/// discretely), and when an item counts as bulky. Written in configuration as the list of rules;
/// the limits come from their own setting (`with_bulky`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Rule>", into = "Vec<Rule>")]
pub struct Rules {
    rules: Vec<Rule>,
    bulky: BulkyLimits,
}

impl From<Vec<Rule>> for Rules {
    fn from(rules: Vec<Rule>) -> Rules {
        Rules { rules, bulky: BulkyLimits::default() }
    }
}

impl From<Rules> for Vec<Rule> {
    fn from(rules: Rules) -> Vec<Rule> {
        rules.rules
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("profile {0} has two rules; give each profile one method")]
    Twice(&'static str),
    #[error("only goods-to-person lines can go to a station (profile {0} is picked from shelves)")]
    StationForShelves(&'static str),
    #[error("goods-to-person lines go to a station or are picked discretely, not {0}")]
    PodsOnCart(&'static str),
    #[error("only single-unit orders can share a batch tote (sorted at packing); send {0} to cluster")]
    BatchOfMany(&'static str),
    #[error("bulky orders are picked one at a time (discrete), not {0}: they fit no tote, cart or pod")]
    BulkyNotDiscrete(&'static str),
    #[error("bulky limits: weight_g 1 to 1,000,000 and longest_mm 1 to 10,000")]
    BulkyLimits,
}

impl Default for Rules {
    /// Goods-to-person SKUs to the stations; everything else one order at a time.
    fn default() -> Rules {
        Rules::from(vec![
            Rule { profile: Profile::GoodsToPerson, method: Method::Station },
            Rule { profile: Profile::SingleUnit, method: Method::Discrete },
            Rule { profile: Profile::MultiLine, method: Method::Discrete },
            Rule { profile: Profile::Bulky, method: Method::Discrete },
        ])
    }
}

impl Rules {
    pub fn new(rules: Vec<Rule>) -> Result<Rules, RuleError> {
        let rules = Rules::from(rules);
        rules.validate()?;
        Ok(rules)
    }

    /// The same rules with items beyond `limits` counting as bulky.
    pub fn with_bulky(mut self, limits: BulkyLimits) -> Rules {
        self.bulky = limits;
        self
    }

    pub fn bulky(&self) -> BulkyLimits {
        self.bulky
    }

    pub fn validate(&self) -> Result<(), RuleError> {
        self.bulky.validate()?;
        for (i, rule) in self.rules.iter().enumerate() {
            if self.rules[..i].iter().any(|r| r.profile == rule.profile) {
                return Err(RuleError::Twice(rule.profile.as_str()));
            }
            match (rule.profile, rule.method) {
                (Profile::SingleUnit | Profile::MultiLine, Method::Station) => return Err(RuleError::StationForShelves(rule.profile.as_str())),
                (Profile::GoodsToPerson, Method::Batch | Method::Cluster) => return Err(RuleError::PodsOnCart(rule.method.as_str())),
                (Profile::MultiLine, Method::Batch) => return Err(RuleError::BatchOfMany(rule.profile.as_str())),
                (Profile::Bulky, Method::Station | Method::Batch | Method::Cluster) => return Err(RuleError::BulkyNotDiscrete(rule.method.as_str())),
                _ => {}
            }
        }
        Ok(())
    }

    /// The method for lines of this profile.
    pub fn method(&self, profile: Profile) -> Method {
        self.rules.iter().find(|r| r.profile == profile).map_or(Method::Discrete, |r| r.method)
    }

    /// Whether a SKU with stock on pods is picked there first (at a station) rather than from
    /// the shelves.
    pub fn pods_first(&self) -> bool {
        self.method(Profile::GoodsToPerson) == Method::Station
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_of_one_unit_is_single_unit_and_anything_more_is_multi_line() {
        assert_eq!(Profile::of_order(&[1], false), Profile::SingleUnit);
        assert_eq!(Profile::of_order(&[2], false), Profile::MultiLine);
        assert_eq!(Profile::of_order(&[1, 1], false), Profile::MultiLine);
        assert_eq!(Profile::of_order(&[], false), Profile::MultiLine);
        assert_eq!(Profile::of_order(&[1], true), Profile::Bulky, "one bulky item makes the order bulky");
    }

    #[test]
    fn rules_name_each_profile_once_and_only_goods_to_person_goes_to_a_station() {
        let gtp = Rule { profile: Profile::GoodsToPerson, method: Method::Station };
        assert_eq!(Rules::new(vec![gtp, gtp]), Err(RuleError::Twice("goods_to_person")));
        let wrong = Rule { profile: Profile::SingleUnit, method: Method::Station };
        assert_eq!(Rules::new(vec![wrong]), Err(RuleError::StationForShelves("single_unit")));
        assert!(Rules::default().validate().is_ok());
        let pods_on_cart = Rule { profile: Profile::GoodsToPerson, method: Method::Cluster };
        assert_eq!(Rules::new(vec![pods_on_cart]), Err(RuleError::PodsOnCart("cluster")));
        let batch_of_many = Rule { profile: Profile::MultiLine, method: Method::Batch };
        assert_eq!(Rules::new(vec![batch_of_many]), Err(RuleError::BatchOfMany("multi_line")));
        let waves = [Rule { profile: Profile::SingleUnit, method: Method::Batch }, Rule { profile: Profile::MultiLine, method: Method::Cluster }];
        assert!(Rules::new(waves.to_vec()).is_ok());
        for m in [Method::Station, Method::Discrete, Method::Batch, Method::Cluster] {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
        let bulky_on_cart = Rule { profile: Profile::Bulky, method: Method::Cluster };
        assert_eq!(Rules::new(vec![bulky_on_cart]), Err(RuleError::BulkyNotDiscrete("cluster")));
        let limits = BulkyLimits { weight_g: 0, longest_mm: 800 };
        assert_eq!(Rules::default().with_bulky(limits).validate(), Err(RuleError::BulkyLimits));
    }

    #[test]
    fn an_item_is_bulky_beyond_either_limit_and_unmeasured_items_are_not() {
        let limits = BulkyLimits::default();
        assert!(limits.is_bulky(Some(15_001), Some(100)));
        assert!(limits.is_bulky(Some(500), Some(801)));
        assert!(!limits.is_bulky(Some(15_000), Some(800)));
        assert!(!limits.is_bulky(None, None));
        let rules = Rules::default().with_bulky(BulkyLimits { weight_g: 5_000, longest_mm: 600 });
        assert_eq!(rules.method(Profile::Bulky), Method::Discrete);
        let text = serde_json::to_string(&rules).expect("json");
        assert!(text.starts_with('[') && !text.contains("5000"), "configuration holds the rules alone: {text}");
    }

    #[test]
    fn a_profile_without_a_rule_is_discrete_and_pods_come_first_only_when_a_rule_says_so() {
        let shelves_only = Rules::new(vec![Rule { profile: Profile::GoodsToPerson, method: Method::Discrete }]).expect("rules");
        assert!(!shelves_only.pods_first());
        assert_eq!(shelves_only.method(Profile::MultiLine), Method::Discrete);
        assert!(Rules::default().pods_first());
        assert_eq!(Method::of_task(true, Method::Cluster), Method::Station);
        assert_eq!(Method::of_task(false, Method::Cluster), Method::Cluster);
    }

    #[test]
    fn rules_read_from_configuration_text() {
        let rules: Rules = serde_json::from_str(r#"[{"profile": "goods_to_person", "method": "station"}, {"profile": "multi_line", "method": "discrete"}]"#).expect("rules");
        assert!(rules.pods_first());
        assert!(serde_json::from_str::<Rules>(r#"[{"profile": "pallet", "method": "station"}]"#).is_err());
    }
}
