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

const CITIES: &[(&str, &str, &str, f64, f64)] = &[
    ("shanghai", "上海", "shanghai", 31.2304, 121.4737),
    ("beijing", "北京", "beijing", 39.9042, 116.4074),
    ("guangzhou", "广州", "guangdong", 23.1291, 113.2644),
    ("shenzhen", "深圳", "guangdong", 22.5431, 114.0579),
    ("hangzhou", "杭州", "zhejiang", 30.2741, 120.1551),
    ("suzhou", "苏州", "jiangsu", 31.2990, 120.5853),
    ("nanjing", "南京", "jiangsu", 32.0603, 118.7969),
    ("tianjin", "天津", "tianjin", 39.3434, 117.3616),
    ("chengdu", "成都", "sichuan", 30.5728, 104.0668),
    ("chongqing", "重庆", "chongqing", 29.5630, 106.5516),
    ("wuhan", "武汉", "hubei", 30.5928, 114.3055),
    ("xian", "西安", "shaanxi", 34.3416, 108.9398),
    ("shenyang", "沈阳", "liaoning", 41.8057, 123.4315),
    ("harbin", "哈尔滨", "heilongjiang", 45.8038, 126.5350),
    ("qingdao", "青岛", "shandong", 36.0671, 120.3826),
    ("xiamen", "厦门", "fujian", 24.4798, 118.0894),
    ("kunming", "昆明", "yunnan", 25.0389, 102.7183),
    ("changsha", "长沙", "hunan", 28.2282, 112.9388),
    ("zhengzhou", "郑州", "henan", 34.7466, 113.6254),
    ("hefei", "合肥", "anhui", 31.8206, 117.2272),
    ("lhasa", "拉萨", "xizang", 29.6520, 91.1721),
    ("shigatse", "日喀则", "xizang", 29.2670, 88.8811),
    ("urumqi", "乌鲁木齐", "xinjiang", 43.8256, 87.6168),
];

/// Each city's telephone area code: the destination code carriers print large on a label and
/// sort by (SF's routing labels begin with it).
const AREA_CODES: &[(&str, &str)] = &[
    ("shanghai", "021"),
    ("beijing", "010"),
    ("guangzhou", "020"),
    ("shenzhen", "755"),
    ("hangzhou", "571"),
    ("suzhou", "512"),
    ("nanjing", "025"),
    ("tianjin", "022"),
    ("chengdu", "028"),
    ("chongqing", "023"),
    ("wuhan", "027"),
    ("xian", "029"),
    ("shenyang", "024"),
    ("harbin", "451"),
    ("qingdao", "532"),
    ("xiamen", "592"),
    ("kunming", "871"),
    ("changsha", "731"),
    ("zhengzhou", "371"),
    ("hefei", "551"),
    ("lhasa", "891"),
    ("shigatse", "892"),
    ("urumqi", "991"),
];

/// The destination code of a ship-to city ("Hangzhou" → "571").
pub fn area_code(city: &str) -> Option<&'static str> {
    let (en, _) = city_province(city)?;
    AREA_CODES.iter().find(|(name, _)| *name == en).map(|(_, code)| *code)
}

/// The 31 provincial divisions of the mainland (provinces, autonomous regions, municipalities)
/// by pinyin code and name: the destinations of a rate card.
pub const PROVINCES: [(&str, &str); 31] = [
    ("beijing", "北京"),
    ("tianjin", "天津"),
    ("hebei", "河北"),
    ("shanxi", "山西"),
    ("neimenggu", "内蒙古"),
    ("liaoning", "辽宁"),
    ("jilin", "吉林"),
    ("heilongjiang", "黑龙江"),
    ("shanghai", "上海"),
    ("jiangsu", "江苏"),
    ("zhejiang", "浙江"),
    ("anhui", "安徽"),
    ("fujian", "福建"),
    ("jiangxi", "江西"),
    ("shandong", "山东"),
    ("henan", "河南"),
    ("hubei", "湖北"),
    ("hunan", "湖南"),
    ("guangdong", "广东"),
    ("guangxi", "广西"),
    ("hainan", "海南"),
    ("chongqing", "重庆"),
    ("sichuan", "四川"),
    ("guizhou", "贵州"),
    ("yunnan", "云南"),
    ("xizang", "西藏"),
    ("shaanxi", "陕西"),
    ("gansu", "甘肃"),
    ("qinghai", "青海"),
    ("ningxia", "宁夏"),
    ("xinjiang", "新疆"),
];

/// The province code for a code or a Chinese name ("浙江" → "zhejiang").
pub fn province(raw: &str) -> Option<&'static str> {
    let key = raw.trim().to_lowercase();
    PROVINCES.iter().find(|(code, name)| *code == key || *name == key).map(|(code, _)| *code)
}

/// The names `city_point` knows, English and Chinese, as written in its table.
pub fn city_names() -> impl Iterator<Item = &'static str> {
    CITIES.iter().flat_map(|(en, zh, _, _, _)| [*en, *zh])
}

/// Looks a city up by its English or Chinese name, ignoring case and spaces.
pub fn city_point(city: &str) -> Option<GeoPoint> {
    city_row(city).map(|&(_, _, _, lat, lon)| GeoPoint { lat, lon })
}

/// The city's canonical (English) name and its province code.
pub fn city_province(city: &str) -> Option<(&'static str, &'static str)> {
    city_row(city).map(|&(en, _, province, _, _)| (en, province))
}

/// The known city nearest `point` (a warehouse's, say): its name and province code.
pub fn nearest_city(point: &GeoPoint) -> Option<(&'static str, &'static str)> {
    let distance = |&&(_, _, _, lat, lon): &&(&str, &str, &str, f64, f64)| point.distance_km(&GeoPoint { lat, lon });
    CITIES.iter().min_by(|a, b| distance(a).total_cmp(&distance(b))).map(|&(en, _, province, _, _)| (en, province))
}

fn city_row(city: &str) -> Option<&'static (&'static str, &'static str, &'static str, f64, f64)> {
    let key: String = city.chars().filter(|c| !c.is_whitespace() && *c != '\'').collect::<String>().to_lowercase();
    // "杭州市": the city suffix as addresses write it.
    let key = key.strip_suffix('市').unwrap_or(&key);
    CITIES.iter().find(|(en, zh, _, _, _)| *en == key || *zh == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_is_nearer_to_suzhou_than_beijing_is() {
        let sh = city_point("Shanghai").expect("known");
        assert_eq!(nearest_city(&GeoPoint { lat: 31.1, lon: 121.3 }), Some(("shanghai", "shanghai")), "a warehouse outside Shanghai");
        let bj = city_point("北京").expect("known");
        let sz = city_point("suzhou").expect("known");
        assert!(sz.distance_km(&sh) < sz.distance_km(&bj));
        assert!((sh.distance_km(&bj) - 1067.0).abs() < 20.0);
    }

    #[test]
    fn every_city_lies_in_a_known_province() {
        for (en, _, province, _, _) in CITIES {
            assert_eq!(super::province(province), Some(*province), "{en}");
        }
        assert_eq!(city_province("杭州"), Some(("hangzhou", "zhejiang")));
        assert_eq!(city_province("杭州市"), Some(("hangzhou", "zhejiang")), "the city suffix is not part of the name");
        for (en, _, _, _, _) in CITIES {
            assert!(area_code(en).is_some_and(|c| c.len() == 3), "{en} has a destination code");
        }
        assert_eq!(area_code("深圳"), Some("755"));
        assert_eq!(super::province("浙江"), Some("zhejiang"));
        assert_eq!(super::province("atlantis"), None);
    }

    #[test]
    fn unknown_city_has_no_point() {
        assert!(city_point("Atlantis").is_none());
    }
}
