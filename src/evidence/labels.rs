//! What evidence pictures may draw and how they name it: only the subject and the
//! objects of categories that a rule of the subject's zone uses, labelled in Chinese.
//! A COCO class name (or an unrelated false box, like an "airplane" over the parking
//! lines) never reaches a picture the city receives.

use crate::infer::{BBox, Category};
use crate::rules::event::EventKind;
use crate::rules::zone::{Zone, ZoneRule};

/// Chinese name of an event kind, as burned into pictures.
pub fn kind_zh(kind: EventKind) -> &'static str {
    match kind {
        EventKind::IllegalParking => "违停",
        EventKind::ExposedGarbage => "暴露垃圾",
        EventKind::LitteringAct => "乱扔垃圾",
        EventKind::RoadDamage => "道路破损",
        EventKind::CameraTampering => "视频设备异常",
        // A kind named in configuration: its platform name is in the code table, not
        // here; the picture says what kind of case it is in general.
        EventKind::Custom(_) => "城市管理事件",
    }
}

/// Chinese name of a streetwatch category (most specific known prefix), or `None`
/// for categories no rule acts on (never drawn).
pub fn category_zh(category: &str) -> Option<&'static str> {
    const NAMES: &[(&str, &str)] = &[
        ("vehicle.car", "小汽车"),
        ("vehicle.truck", "货车"),
        ("vehicle.bus", "客车"),
        ("vehicle.motorcycle", "摩托车"),
        ("vehicle.bicycle", "自行车"),
        ("vehicle", "车辆"),
        ("person", "行人"),
        ("litter.bottle", "瓶子"),
        ("litter.cup", "杯子"),
        ("litter.glass", "玻璃杯"),
        ("litter.bag", "袋子"),
        ("litter.bulky", "大件垃圾"),
        ("litter", "垃圾"),
        ("road_damage.pothole", "坑槽"),
        ("road_damage.crack.longitudinal", "纵向裂缝"),
        ("road_damage.crack.transverse", "横向裂缝"),
        ("road_damage.crack.alligator", "龟裂"),
        ("road_damage.crack", "裂缝"),
        ("road_damage.repair", "修补"),
        ("road_damage", "道路破损"),
    ];
    let c = Category::new(category);
    NAMES
        .iter()
        .find(|(prefix, _)| c.is_under(prefix))
        .map(|(_, zh)| *zh)
}

/// The label on the subject's box, e.g. "违停 小汽车 0.91".
pub fn subject_label(kind: EventKind, category: Option<&str>, score: Option<f32>) -> String {
    let mut s = kind_zh(kind).to_string();
    if let Some(name) = category.and_then(category_zh) {
        s.push(' ');
        s.push_str(name);
    }
    if let Some(score) = score {
        s.push_str(&format!(" {score:.2}"));
    }
    s
}

/// Category prefixes a rule acts on (a generic rule's patterns without their `.*`).
fn rule_categories(rule: &ZoneRule) -> Vec<&str> {
    match rule {
        ZoneRule::NoParking { .. } => vec!["vehicle"],
        ZoneRule::LitterWatch { .. } => vec!["litter", "person"],
        ZoneRule::RoadWatch { .. } => vec!["road_damage"],
        ZoneRule::Privacy => Vec::new(),
        ZoneRule::Dwell { categories, .. }
        | ZoneRule::Count { categories, .. }
        | ZoneRule::Presence { categories, .. } => categories
            .iter()
            .map(|p| p.trim_end_matches('*').trim_end_matches('.'))
            .collect(),
    }
}

/// The zones the subject stands in (its anchor, as the rules judge it); every zone
/// when it stands in none (e.g. a vehicle that just drove out).
pub fn zones_of<'a>(
    zones: &'a [Zone],
    subject: &BBox,
    subject_category: Option<&str>,
    frame_w: u32,
    frame_h: u32,
) -> Vec<&'a Zone> {
    let cat = Category::new(subject_category.unwrap_or("vehicle"));
    let inside: Vec<&Zone> = zones
        .iter()
        .filter(|z| !z.is_privacy() && z.contains_box(&cat, subject, frame_w, frame_h))
        .collect();
    if inside.is_empty() {
        zones.iter().filter(|z| !z.is_privacy()).collect()
    } else {
        inside
    }
}

/// Whether a context detection of `category` may be drawn: a rule of one of `zones`
/// acts on its category.
pub fn drawable(category: &str, zones: &[&Zone]) -> bool {
    let c = Category::new(category);
    category_zh(category).is_some()
        && zones.iter().any(|z| {
            z.rules
                .iter()
                .any(|r| rule_categories(r).iter().any(|p| c.is_under(p)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(rules: Vec<ZoneRule>) -> Zone {
        Zone {
            id: "z".into(),
            name: String::new(),
            polygon: crate::rules::zone::Polygon(vec![
                [0.0, 0.0],
                [1.0, 0.0],
                [1.0, 1.0],
                [0.0, 1.0],
            ]),
            location: String::new(),
            coordinates: None,
            grid_code: None,
            asset_id: None,
            filter: Default::default(),
            preset: None,
            rules,
        }
    }

    #[test]
    fn labels_are_chinese_and_unknown_classes_have_none() {
        assert_eq!(
            subject_label(EventKind::IllegalParking, Some("vehicle.car"), Some(0.912)),
            "违停 小汽车 0.91"
        );
        assert_eq!(category_zh("vehicle.e_bike"), Some("车辆"));
        assert_eq!(category_zh("object.airplane"), None);
        assert_eq!(category_zh("road_damage.crack.block"), Some("裂缝"));
    }

    #[test]
    fn only_categories_of_the_zones_rules_are_drawable() {
        let parking: ZoneRule = toml::from_str("type = \"no_parking\"").unwrap();
        let litter: ZoneRule = toml::from_str("type = \"litter_watch\"").unwrap();
        let p = zone(vec![parking]);
        let l = zone(vec![litter]);
        assert!(drawable("vehicle.truck", &[&p]));
        assert!(!drawable("person", &[&p]));
        assert!(!drawable("object.airplane", &[&p, &l]));
        assert!(drawable("person", &[&l]));
        assert!(drawable("litter.bottle", &[&l]));
        assert!(!drawable("vehicle.car", &[&l]));
    }
}
