//! Where a parcel goes and how far a warehouse is from it.
//!
//! Routing needs a point for every ship-to address. Until a geocoder is wired in, a built-in
//! table covers the major mainland cities; a client may also send coordinates directly.
//! Distances are great-circle kilometres: good enough to pick the nearest warehouse.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GeoPoint {
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
}

impl GeoPoint {
    pub fn is_valid(&self) -> bool {
        (-90.0..=90.0).contains(&self.lat) && (-180.0..=180.0).contains(&self.lon)
    }

    /// Haversine distance in kilometres.
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        const EARTH_RADIUS_KM: f64 = 6371.0;
        let (la1, la2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = la2 - la1;
        let dlon = (other.lon - self.lon).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
    }
}

const CITIES: &[(&str, &str, f64, f64)] = &[
    ("shanghai", "上海", 31.2304, 121.4737),
    ("beijing", "北京", 39.9042, 116.4074),
    ("guangzhou", "广州", 23.1291, 113.2644),
    ("shenzhen", "深圳", 22.5431, 114.0579),
    ("hangzhou", "杭州", 30.2741, 120.1551),
    ("suzhou", "苏州", 31.2990, 120.5853),
    ("nanjing", "南京", 32.0603, 118.7969),
    ("tianjin", "天津", 39.3434, 117.3616),
    ("chengdu", "成都", 30.5728, 104.0668),
    ("chongqing", "重庆", 29.5630, 106.5516),
    ("wuhan", "武汉", 30.5928, 114.3055),
    ("xian", "西安", 34.3416, 108.9398),
    ("shenyang", "沈阳", 41.8057, 123.4315),
    ("harbin", "哈尔滨", 45.8038, 126.5350),
    ("qingdao", "青岛", 36.0671, 120.3826),
    ("xiamen", "厦门", 24.4798, 118.0894),
    ("kunming", "昆明", 25.0389, 102.7183),
    ("changsha", "长沙", 28.2282, 112.9388),
    ("zhengzhou", "郑州", 34.7466, 113.6254),
    ("hefei", "合肥", 31.8206, 117.2272),
];

/// The names `city_point` knows, English and Chinese, as written in its table.
pub fn city_names() -> impl Iterator<Item = &'static str> {
    CITIES.iter().flat_map(|(en, zh, _, _)| [*en, *zh])
}

/// Looks a city up by its English or Chinese name, ignoring case and spaces.
pub fn city_point(city: &str) -> Option<GeoPoint> {
    let key: String = city.chars().filter(|c| !c.is_whitespace() && *c != '\'').collect::<String>().to_lowercase();
    CITIES
        .iter()
        .find(|(en, zh, _, _)| *en == key || *zh == key)
        .map(|&(_, _, lat, lon)| GeoPoint { lat, lon })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_is_nearer_to_suzhou_than_beijing_is() {
        let sh = city_point("Shanghai").expect("known");
        let bj = city_point("北京").expect("known");
        let sz = city_point("suzhou").expect("known");
        assert!(sz.distance_km(&sh) < sz.distance_km(&bj));
        assert!((sh.distance_km(&bj) - 1067.0).abs() < 20.0);
    }

    #[test]
    fn unknown_city_has_no_point() {
        assert!(city_point("Atlantis").is_none());
    }
}
