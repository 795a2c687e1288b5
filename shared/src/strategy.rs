//! Strategy rules: how each kind of order line is picked. A line is sorted into a profile
//! (goods-to-person SKU, single-unit order, multi-line order) and each profile goes to the
//! method the warehouse configured for it. Pure: the edge asks, then allocates accordingly.

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
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::GoodsToPerson, Profile::SingleUnit, Profile::MultiLine];

    /// The profile of an order's shelf lines, from its lines' quantities.
    pub fn of_order(quantities: &[i64]) -> Profile {
        match quantities {
            [1] => Profile::SingleUnit,
            _ => Profile::MultiLine,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::GoodsToPerson => "goods_to_person",
            Profile::SingleUnit => "single_unit",
            Profile::MultiLine => "multi_line",
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

/// A warehouse's rules, one per profile at most; a profile without a rule is picked discretely.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Rules(Vec<Rule>);

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
}

impl Default for Rules {
    /// Goods-to-person SKUs to the stations; everything else one order at a time.
    fn default() -> Rules {
        Rules(vec![
            Rule { profile: Profile::GoodsToPerson, method: Method::Station },
            Rule { profile: Profile::SingleUnit, method: Method::Discrete },
            Rule { profile: Profile::MultiLine, method: Method::Discrete },
        ])
    }
}

impl Rules {
    pub fn new(rules: Vec<Rule>) -> Result<Rules, RuleError> {
        let rules = Rules(rules);
        rules.validate()?;
        Ok(rules)
    }

    pub fn validate(&self) -> Result<(), RuleError> {
        for (i, rule) in self.0.iter().enumerate() {
            if self.0[..i].iter().any(|r| r.profile == rule.profile) {
                return Err(RuleError::Twice(rule.profile.as_str()));
            }
            match (rule.profile, rule.method) {
                (Profile::SingleUnit | Profile::MultiLine, Method::Station) => return Err(RuleError::StationForShelves(rule.profile.as_str())),
                (Profile::GoodsToPerson, Method::Batch | Method::Cluster) => return Err(RuleError::PodsOnCart(rule.method.as_str())),
                (Profile::MultiLine, Method::Batch) => return Err(RuleError::BatchOfMany(rule.profile.as_str())),
                _ => {}
            }
        }
        Ok(())
    }

    /// The method for lines of this profile.
    pub fn method(&self, profile: Profile) -> Method {
        self.0.iter().find(|r| r.profile == profile).map_or(Method::Discrete, |r| r.method)
    }

    /// Whether a SKU with stock on pods is picked there first (at a station) rather than from
    /// the shelves.
    pub fn pods_first(&self) -> bool {
        self.method(Profile::GoodsToPerson) == Method::Station
    }

    /// The method of one task: on a pod it is the station's (a pod is only ever picked at a
    /// station), on a shelf it is the order's.
    pub fn task_method(&self, on_pod: bool, order: Profile) -> Method {
        if on_pod {
            Method::Station
        } else {
            self.method(order)
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_of_one_unit_is_single_unit_and_anything_more_is_multi_line() {
        assert_eq!(Profile::of_order(&[1]), Profile::SingleUnit);
        assert_eq!(Profile::of_order(&[2]), Profile::MultiLine);
        assert_eq!(Profile::of_order(&[1, 1]), Profile::MultiLine);
        assert_eq!(Profile::of_order(&[]), Profile::MultiLine);
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
    }

    #[test]
    fn a_profile_without_a_rule_is_discrete_and_pods_come_first_only_when_a_rule_says_so() {
        let shelves_only = Rules::new(vec![Rule { profile: Profile::GoodsToPerson, method: Method::Discrete }]).expect("rules");
        assert!(!shelves_only.pods_first());
        assert_eq!(shelves_only.method(Profile::MultiLine), Method::Discrete);
        assert!(Rules::default().pods_first());
        assert_eq!(Rules::default().task_method(true, Profile::SingleUnit), Method::Station);
        assert_eq!(Rules::default().task_method(false, Profile::SingleUnit), Method::Discrete);
    }

    #[test]
    fn rules_read_from_configuration_text() {
        let rules: Rules = serde_json::from_str(r#"[{"profile": "goods_to_person", "method": "station"}, {"profile": "multi_line", "method": "discrete"}]"#).expect("rules");
        assert!(rules.pods_first());
        assert!(serde_json::from_str::<Rules>(r#"[{"profile": "bulky", "method": "station"}]"#).is_err());
    }
}
