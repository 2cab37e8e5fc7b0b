//! The platform code table and the generated event descriptions.
//!
//! Cities migrate from GB/T 30428.2-2013 to GB/T 47678.5-2026 slowly, and the 2026
//! table shipped here comes from an unverified transcription, so the table is
//! configuration: a deployment overrides any row without a rebuild.

use serde::{Deserialize, Serialize};

use crate::rules::event::{CategoryCode, CodeKind};

/// What a streetwatch event is, at the granularity the code table distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeSlot {
    /// 机动车乱停放.
    MotorVehicleParking,
    /// 非机动车乱停放 (bicycles, motorcycles, e-bikes).
    NonMotorParking,
    /// 暴露垃圾.
    ExposedGarbage,
    /// 乱扔垃圾: no own code in the 2026 table, reported as 暴露垃圾.
    LitteringAct,
    /// 道路破损.
    RoadDamage,
    /// The camera moved, blocked, defocused or without a signal. GB/T 47678.5-2026 has
    /// no code for it: the shipped row is a placeholder (99001) each deployment sets
    /// to the code its platform uses for device faults.
    CameraTampering,
}

/// Why a code table was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CategoryError {
    #[error("category `{slot:?}`: code \"{code}\" must be exactly 5 digits")]
    BadCode { slot: CodeSlot, code: String },
    #[error("division code \"{0}\" must be exactly 6 digits")]
    BadDivision(String),
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryEntry {
    pub slot: CodeSlot,
    /// 5 digits: big class + small class.
    pub code: String,
    #[serde(default = "matter")]
    pub kind: CodeKind,
    pub name: String,
}

fn matter() -> CodeKind {
    CodeKind::Matter
}

/// The code table (`[events.categories]`). Omitted: GB/T 47678.5-2026 as listed in
/// docs/platform-events.md. Rows given in configuration replace the default row of the
/// same `slot`; slots not given keep their default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryTable {
    /// Taxonomy name carried in every event (default "GB/T 47678.5-2026").
    #[serde(default = "default_taxonomy")]
    pub taxonomy: String,
    #[serde(default)]
    pub entries: Vec<CategoryEntry>,
}

fn default_taxonomy() -> String {
    "GB/T 47678.5-2026".into()
}

impl Default for CategoryTable {
    fn default() -> Self {
        Self {
            taxonomy: default_taxonomy(),
            entries: Vec::new(),
        }
    }
}

/// The shipped GB/T 47678.5-2026 rows (事项).
fn default_entry(slot: CodeSlot) -> (&'static str, &'static str) {
    match slot {
        CodeSlot::MotorVehicleParking => ("09009", "机动车乱停放"),
        CodeSlot::NonMotorParking => ("09010", "非机动车乱停放"),
        CodeSlot::ExposedGarbage | CodeSlot::LitteringAct => ("06010", "暴露垃圾"),
        CodeSlot::RoadDamage => ("06013", "道路破损"),
        CodeSlot::CameraTampering => ("99001", "视频设备异常"),
    }
}

impl CategoryTable {
    pub fn validate(&self) -> Result<(), CategoryError> {
        for e in &self.entries {
            if !(e.code.len() == 5 && e.code.bytes().all(|b| b.is_ascii_digit())) {
                return Err(CategoryError::BadCode {
                    slot: e.slot,
                    code: e.code.clone(),
                });
            }
        }
        Ok(())
    }

    /// The code for `slot`, with the 11-character full code when the 6-digit
    /// administrative `division` is configured.
    pub fn code(&self, slot: CodeSlot, division: Option<&str>) -> CategoryCode {
        let (code, kind, name) = match self.entries.iter().rev().find(|e| e.slot == slot) {
            Some(e) => (e.code.clone(), e.kind, e.name.clone()),
            None => {
                let (c, n) = default_entry(slot);
                (c.to_string(), CodeKind::Matter, n.to_string())
            }
        };
        let full_code = division
            .filter(|d| d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit()))
            .map(|d| format!("{d}{code}"));
        CategoryCode {
            code,
            full_code,
            kind,
            name,
            taxonomy: self.taxonomy.clone(),
        }
    }
}

/// Chinese and English names of an object class, for descriptions. Unknown classes
/// fall back to a generic word so a new model never produces an empty description.
pub fn object_names(class_name: &str, category: &str) -> (&'static str, &'static str) {
    match class_name {
        "car" => ("小汽车", "Car"),
        "truck" => ("货车", "Truck"),
        "bus" => ("客车", "Bus"),
        "motorcycle" | "motorbike" => ("摩托车", "Motorcycle"),
        "bicycle" => ("自行车", "Bicycle"),
        "bottle" => ("瓶子", "Bottle"),
        "cup" => ("杯子", "Cup"),
        "handbag" | "bag" | "backpack" | "suitcase" => ("袋子", "Bag"),
        "pothole" => ("坑槽", "Pothole"),
        "alligator_crack" => ("龟裂", "Alligator crack"),
        "block_crack" => ("块状裂缝", "Block crack"),
        "longitudinal_crack" => ("纵向裂缝", "Longitudinal crack"),
        "transverse_crack" => ("横向裂缝", "Transverse crack"),
        "repair" => ("修补", "Patch repair"),
        _ if category.starts_with("vehicle") => ("车辆", "Vehicle"),
        _ if category.starts_with("litter") => ("垃圾", "Litter"),
        _ if category.starts_with("road_damage") => ("路面破损", "Road damage"),
        _ => ("物体", "Object"),
    }
}

/// Duration as "6 分 12 秒" / "6 min 12 s" (hours when ≥ 1 h).
pub fn duration_text(secs: f64) -> (String, String) {
    let s = secs.max(0.0).round() as u64;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        (
            format!("{h} 小时 {m} 分 {s} 秒"),
            format!("{h} h {m} min {s} s"),
        )
    } else if m > 0 {
        (format!("{m} 分 {s} 秒"), format!("{m} min {s} s"))
    } else {
        (format!("{s} 秒"), format!("{s} s"))
    }
}

/// Bilingual description of an illegal-parking phase, e.g.
/// "小汽车在禁停区「东门」停放 6 分 12 秒" / "Car parked in no-parking zone "东门" for 6 min 12 s".
pub fn parking_description(
    class_name: &str,
    category: &str,
    zone: &str,
    secs: f64,
) -> (String, String) {
    let (zh_obj, en_obj) = object_names(class_name, category);
    let (zh_d, en_d) = duration_text(secs);
    (
        format!("{zh_obj}在禁停区「{zone}」停放 {zh_d}"),
        format!("{en_obj} parked in no-parking zone \"{zone}\" for {en_d}"),
    )
}

/// Description of exposed garbage lying for `secs`.
pub fn garbage_description(
    class_name: &str,
    category: &str,
    zone: &str,
    secs: f64,
) -> (String, String) {
    let (zh_obj, en_obj) = object_names(class_name, category);
    let (zh_d, en_d) = duration_text(secs);
    (
        format!("「{zone}」发现暴露垃圾（{zh_obj}），已存在 {zh_d}"),
        format!("Exposed garbage ({en_obj}) in zone \"{zone}\", present for {en_d}"),
    )
}

/// Description of a littering act by a tracked person.
pub fn littering_description(class_name: &str, category: &str, zone: &str) -> (String, String) {
    let (zh_obj, en_obj) = object_names(class_name, category);
    (
        format!("「{zone}」有行人乱扔垃圾（{zh_obj}），垃圾仍留在原地"),
        format!("A person dropped litter ({en_obj}) in zone \"{zone}\"; it is still there"),
    )
}

/// Description of road damage with its severity.
pub fn road_description(
    class_name: &str,
    category: &str,
    zone: &str,
    severity: &str,
) -> (String, String) {
    let (zh_obj, en_obj) = object_names(class_name, category);
    let zh_sev = match severity {
        "high" => "严重",
        "medium" => "中等",
        _ => "轻微",
    };
    (
        format!("「{zone}」道路破损（{zh_obj}，{zh_sev}）"),
        format!("Road damage ({en_obj}, {severity} severity) in zone \"{zone}\""),
    )
}

/// Description of a tampering condition (`moved`, `blocked`, `defocused`,
/// `signal_lost`) with how long it has lasted.
pub fn tamper_description(tamper: &str, secs: f64) -> (String, String) {
    let (zh, en) = match tamper {
        "moved" => (
            "摄像机画面被移动（偏离基准画面）",
            "Camera moved away from its reference view",
        ),
        "blocked" => ("摄像机画面被遮挡", "Camera view blocked"),
        "defocused" => ("摄像机画面模糊（失焦）", "Camera view out of focus"),
        "signal_lost" => ("摄像机视频信号丢失", "Camera video signal lost"),
        _ => ("摄像机异常", "Camera tampering"),
    };
    let (zh_d, en_d) = duration_text(secs);
    (format!("{zh}，已持续 {zh_d}"), format!("{en}, for {en_d}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_is_gbt_47678_2026_with_full_code_when_division_is_set() {
        let t = CategoryTable::default();
        let c = t.code(CodeSlot::MotorVehicleParking, Some("440802"));
        assert_eq!(c.code, "09009");
        assert_eq!(c.full_code.as_deref(), Some("44080209009"));
        assert_eq!(c.kind, CodeKind::Matter);
        assert_eq!(c.taxonomy, "GB/T 47678.5-2026");
        assert_eq!(t.code(CodeSlot::NonMotorParking, None).code, "09010");
        assert_eq!(t.code(CodeSlot::LitteringAct, None).code, "06010");
        assert_eq!(t.code(CodeSlot::RoadDamage, None).code, "06013");
        assert_eq!(t.code(CodeSlot::RoadDamage, None).full_code, None);
    }

    #[test]
    fn configured_rows_override_the_default_row_of_their_slot_only() {
        let t: CategoryTable = toml::from_str(
            "taxonomy = \"GB/T 30428.2-2013\"\n[[entries]]\nslot = \"motor_vehicle_parking\"\ncode = \"04009\"\nname = \"机动车乱停放\"\n",
        )
        .unwrap();
        t.validate().unwrap();
        assert_eq!(t.code(CodeSlot::MotorVehicleParking, None).code, "04009");
        assert_eq!(t.code(CodeSlot::ExposedGarbage, None).code, "06010");
        let bad: CategoryTable =
            toml::from_str("[[entries]]\nslot = \"road_damage\"\ncode = \"0613\"\nname = \"x\"\n")
                .unwrap();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn parking_description_reads_like_the_platform_example() {
        let (zh, en) = parking_description("car", "vehicle.car", "东门", 372.0);
        assert_eq!(zh, "小汽车在禁停区「东门」停放 6 分 12 秒");
        assert_eq!(en, "Car parked in no-parking zone \"东门\" for 6 min 12 s");
        assert_eq!(duration_text(3725.0).1, "1 h 2 min 5 s");
    }
}
