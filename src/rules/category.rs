//! The platform code table and the generated event descriptions.
//!
//! Cities migrate from GB/T 30428.2-2013 to GB/T 47678.5-2026 slowly, and the 2026
//! table shipped here comes from an unverified transcription, so the table is
//! configuration: a deployment overrides any row without a rebuild.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rules::event::{CategoryCode, CodeKind, EventKind};

/// The code-table key of the built-in illegal-parking kind for motor vehicles.
pub const MOTOR_VEHICLE_PARKING: &str = "motor_vehicle_parking";
/// … and for non-motor vehicles (bicycles, motorcycles, e-bikes).
pub const NON_MOTOR_PARKING: &str = "non_motor_parking";

/// The shipped tables: (id, TOML text). `table = "<id>"` picks one as the base.
const SHIPPED: &[(&str, &str)] = &[
    (
        "gbt-47678.5-2026",
        include_str!("../../config/codes/gbt-47678.5-2026.toml"),
    ),
    (
        "gbt-30428.2-2013",
        include_str!("../../config/codes/gbt-30428.2-2013.toml"),
    ),
];

/// The base table when `table` is not set.
pub const DEFAULT_TABLE: &str = "gbt-47678.5-2026";
/// Rows a deployment's table file may have.
const MAX_ROWS: usize = 4096;
/// Largest table file read.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Why a code table was refused; messages name the row or file and the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CategoryError {
    #[error(
        "row for `{event}`: code \"{code}\" is invalid; use 1-32 digits, letters or '-', e.g. \"09009\" or \"05-04\""
    )]
    BadCode { event: String, code: String },
    #[error("row for `{event}`: the name is empty or longer than 64 characters")]
    BadName { event: String },
    #[error(
        "row `{event}`: not an event kind; use lower-case letters, digits and '_' (e.g. street_vending)"
    )]
    BadEvent { event: String },
    #[error("division code \"{0}\" must be exactly 6 digits")]
    BadDivision(String),
    #[error("unknown shipped table \"{0}\"; use one of gbt-47678.5-2026, gbt-30428.2-2013 or none")]
    UnknownTable(String),
    #[error("code table file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

/// One row of a code table: an event kind (or a parking code key) and its platform
/// code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryEntry {
    /// The event kind the row is for: a generic rule's `kind` (e.g. `street_vending`),
    /// `exposed_garbage`, `littering_act`, `road_damage`, or for illegal parking
    /// `motor_vehicle_parking` / `non_motor_parking`. (`slot` is the older name.)
    #[serde(alias = "slot")]
    pub event: String,
    /// The platform's code: digits, letters or '-' (e.g. "09009", "0504", "882").
    pub code: String,
    #[serde(default = "matter")]
    pub kind: CodeKind,
    pub name: String,
}

fn matter() -> CodeKind {
    CodeKind::Matter
}

/// The code table (`[events.categories]`): a shipped base table (`table`, default
/// GB/T 47678.5-2026), a deployment's own table file (`file`, TOML or CSV) and rows
/// given inline (`entries`), later ones replacing earlier rows of the same `event`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryTable {
    /// The shipped base table: "gbt-47678.5-2026" (default), "gbt-30428.2-2013", or
    /// "none" (every row from `file` and `entries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Taxonomy name carried in every event; default: the file's, else the base
    /// table's (e.g. "GB/T 47678.5-2026").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxonomy: Option<String>,
    /// A deployment's own table: TOML (`taxonomy`, `full_code`, `[[entries]]` as
    /// here) or CSV with the header `event,code,name[,kind]`. Config file only: the
    /// page cannot set a path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Whether events carry `full_code` (division + code, digits only) when
    /// `device.division_code` is set; default: the base table's (true for the GB/T
    /// tables), else the file's, else true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_code: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<CategoryEntry>,
}

/// A table file's contents (the shipped ones and a deployment's TOML).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    #[serde(default)]
    taxonomy: Option<String>,
    #[serde(default)]
    full_code: Option<bool>,
    #[serde(default)]
    entries: Vec<CategoryEntry>,
}

/// A resolved code table, ready for lookups.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeTable {
    pub taxonomy: String,
    pub full_code: bool,
    /// Rows in precedence order (a later row for the same event wins).
    pub rows: Vec<CategoryEntry>,
}

fn valid_code(c: &str) -> bool {
    !c.is_empty() && c.len() <= 32 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn check_rows(rows: &[CategoryEntry]) -> Result<(), CategoryError> {
    for e in rows {
        if EventKind::named(&e.event).is_err() {
            return Err(CategoryError::BadEvent {
                event: e.event.clone(),
            });
        }
        if !valid_code(&e.code) {
            return Err(CategoryError::BadCode {
                event: e.event.clone(),
                code: e.code.clone(),
            });
        }
        let n = e.name.trim().chars().count();
        if n == 0 || n > 64 {
            return Err(CategoryError::BadName {
                event: e.event.clone(),
            });
        }
    }
    Ok(())
}

/// The rows of a CSV table: header `event,code,name[,kind]`, `#` comments, fields
/// optionally in double quotes.
fn parse_csv(text: &str) -> Result<Vec<CategoryEntry>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let (_, header) = lines.next().ok_or("the file is empty")?;
    let cols: Vec<String> = split_csv(header)?
        .into_iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let idx = |name: &str| cols.iter().position(|c| c == name);
    let (Some(ev), Some(code), Some(name)) =
        (idx("event").or(idx("slot")), idx("code"), idx("name"))
    else {
        return Err(format!(
            "the header is \"{header}\"; it must name the columns event,code,name (and optionally kind)"
        ));
    };
    let kind = idx("kind");
    let mut rows = Vec::new();
    for (n, line) in lines {
        let f = split_csv(line).map_err(|e| format!("line {n}: {e}"))?;
        let get = |i: usize| f.get(i).map(|s| s.trim().to_string()).unwrap_or_default();
        let k = match kind.map(get).as_deref() {
            None | Some("") | Some("matter") | Some("事项") => CodeKind::Matter,
            Some("asset") | Some("部件") => CodeKind::Asset,
            Some(other) => {
                return Err(format!(
                    "line {n}: kind \"{other}\" is neither matter (事项) nor asset (部件)"
                ));
            }
        };
        rows.push(CategoryEntry {
            event: get(ev),
            code: get(code),
            kind: k,
            name: get(name),
        });
    }
    Ok(rows)
}

fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    out.push(cur);
    Ok(out)
}

fn read_table_file(path: &Path) -> Result<TableFile, CategoryError> {
    let err = |reason: String| CategoryError::File {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(err(format!("{} bytes; at most 1 MiB", meta.len())));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let f = if csv {
        TableFile {
            taxonomy: None,
            full_code: None,
            entries: parse_csv(&text).map_err(err)?,
        }
    } else {
        toml::from_str::<TableFile>(&text).map_err(|e| err(e.to_string()))?
    };
    if f.entries.len() > MAX_ROWS {
        return Err(err(format!("{} rows; at most {MAX_ROWS}", f.entries.len())));
    }
    check_rows(&f.entries).map_err(|e| err(e.to_string()))?;
    Ok(f)
}

fn shipped(id: &str) -> Option<TableFile> {
    SHIPPED
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, text)| toml::from_str(text).expect("shipped code tables parse"))
}

impl CategoryTable {
    /// Reads the file (if any) and checks every row.
    pub fn validate(&self) -> Result<(), CategoryError> {
        self.resolve().map(|_| ())
    }

    /// The effective table: base, then the file, then `entries`.
    pub fn resolve(&self) -> Result<CodeTable, CategoryError> {
        let id = self.table.as_deref().unwrap_or(DEFAULT_TABLE);
        let base = if id == "none" {
            None
        } else {
            Some(shipped(id).ok_or_else(|| CategoryError::UnknownTable(id.to_string()))?)
        };
        let file = self.file.as_deref().map(read_table_file).transpose()?;
        check_rows(&self.entries)?;
        let taxonomy = self
            .taxonomy
            .clone()
            .or_else(|| file.as_ref().and_then(|f| f.taxonomy.clone()))
            .or_else(|| base.as_ref().and_then(|b| b.taxonomy.clone()))
            .unwrap_or_else(|| "custom".into());
        let full_code = self
            .full_code
            .or_else(|| file.as_ref().and_then(|f| f.full_code))
            .or_else(|| base.as_ref().and_then(|b| b.full_code))
            .unwrap_or(true);
        let mut rows = Vec::new();
        for t in [base, file].into_iter().flatten() {
            rows.extend(t.entries);
        }
        rows.extend(self.entries.iter().cloned());
        Ok(CodeTable {
            taxonomy,
            full_code,
            rows,
        })
    }
}

impl CodeTable {
    /// The row for `event`, if the table has one.
    pub fn row(&self, event: &str) -> Option<&CategoryEntry> {
        self.rows.iter().rev().find(|e| e.event == event)
    }

    /// Every event the table knows, each once, with its effective row, sorted.
    pub fn effective(&self) -> Vec<&CategoryEntry> {
        let mut keys: Vec<&str> = self.rows.iter().map(|r| r.event.as_str()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter().filter_map(|k| self.row(k)).collect()
    }

    /// The code for `event`, with the full code (division + digits of the code) when
    /// the table says so and the 6-digit administrative `division` is configured.
    /// `None` when the table has no row for it (check-config refuses such a config).
    pub fn code(&self, event: &str, division: Option<&str>) -> Option<CategoryCode> {
        let e = self.row(event)?;
        let digits: String = e.code.chars().filter(|c| *c != '-').collect();
        let full_code = division
            .filter(|d| self.full_code && d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit()))
            .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
            .map(|d| format!("{d}{digits}"));
        Some(CategoryCode {
            code: e.code.clone(),
            full_code,
            kind: e.kind,
            name: e.name.clone(),
            taxonomy: self.taxonomy.clone(),
        })
    }

    /// The code of an event of `kind` about `category`/`class_name`: illegal parking
    /// is looked up as motor or non-motor vehicle parking, every other kind by its id.
    /// A kind the table lacks gets its id as code name and an empty code (only
    /// reachable when a part adds a kind without a row; check-config refuses it).
    pub fn code_for(
        &self,
        kind: EventKind,
        non_motor: bool,
        division: Option<&str>,
    ) -> CategoryCode {
        let key = code_key(kind, non_motor);
        self.code(key, division).unwrap_or_else(|| CategoryCode {
            code: "0".into(),
            full_code: None,
            kind: CodeKind::Matter,
            name: key.to_string(),
            taxonomy: self.taxonomy.clone(),
        })
    }
}

/// The table row an event of `kind` is looked up by.
pub fn code_key(kind: EventKind, non_motor: bool) -> &'static str {
    match kind {
        EventKind::IllegalParking if non_motor => NON_MOTOR_PARKING,
        EventKind::IllegalParking => MOTOR_VEHICLE_PARKING,
        k => k.as_str(),
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
        "person" => ("行人", "Person"),
        "umbrella" => ("遮阳伞", "Umbrella"),
        "dining table" | "dining_table" => ("桌子", "Table"),
        "chair" => ("椅子", "Chair"),
        "bench" => ("长椅", "Bench"),
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

/// Description of a generic `dwell`/`presence` case: the code's name (e.g. 占道经营)
/// and the object, e.g. "「东门」占道经营（遮阳伞），已持续 3 分 0 秒".
pub fn dwell_description(
    code_name: &str,
    class_name: &str,
    category: &str,
    zone: &str,
    secs: f64,
) -> (String, String) {
    let (zh_obj, en_obj) = object_names(class_name, category);
    let en_obj = if en_obj == "Object" {
        class_name.to_string()
    } else {
        en_obj.to_string()
    };
    let (zh_d, en_d) = duration_text(secs);
    (
        format!("「{zone}」{code_name}（{zh_obj}），已持续 {zh_d}"),
        format!("{code_name} ({en_obj}) in zone \"{zone}\" for {en_d}"),
    )
}

/// Description of a generic `count` case, e.g. "「广场」人群聚集：8 个（行人），已持续 40 秒".
pub fn count_description(
    code_name: &str,
    class_name: &str,
    category: &str,
    zone: &str,
    count: u64,
    secs: f64,
) -> (String, String) {
    let (zh_obj, en_obj) = object_names(class_name, category);
    let (zh_d, en_d) = duration_text(secs);
    (
        format!("「{zone}」{code_name}：{count} 个（{zh_obj}），已持续 {zh_d}"),
        format!("{code_name}: {count} x {en_obj} in zone \"{zone}\" for {en_d}"),
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

    fn t(toml_text: &str) -> CodeTable {
        toml::from_str::<CategoryTable>(toml_text)
            .unwrap()
            .resolve()
            .unwrap()
    }

    #[test]
    fn default_table_is_gbt_47678_2026_with_full_code_when_division_is_set() {
        let t = CategoryTable::default().resolve().unwrap();
        let c = t.code(MOTOR_VEHICLE_PARKING, Some("440802")).unwrap();
        assert_eq!(c.code, "09009");
        assert_eq!(c.full_code.as_deref(), Some("44080209009"));
        assert_eq!(c.kind, CodeKind::Matter);
        assert_eq!(c.taxonomy, "GB/T 47678.5-2026");
        assert_eq!(t.code(NON_MOTOR_PARKING, None).unwrap().code, "09010");
        assert_eq!(t.code("littering_act", None).unwrap().code, "06010");
        assert_eq!(t.code("road_damage", None).unwrap().code, "06013");
        assert_eq!(t.code("road_damage", None).unwrap().full_code, None);
        let tamper = t.code("camera_tampering", None).unwrap();
        assert_eq!(
            (tamper.code.as_str(), tamper.name.as_str()),
            ("99001", "视频设备异常")
        );
        assert!(
            t.code("street_vending", None).is_none(),
            "no 2026 code known"
        );
    }

    #[test]
    fn configured_rows_override_the_default_row_of_their_event_only() {
        let t = t(
            "taxonomy = \"GB/T 30428.2-2013\"\n[[entries]]\nslot = \"motor_vehicle_parking\"\ncode = \"04009\"\nname = \"机动车乱停放\"\n",
        );
        assert_eq!(t.code(MOTOR_VEHICLE_PARKING, None).unwrap().code, "04009");
        assert_eq!(t.code("exposed_garbage", None).unwrap().code, "06010");
        let bad: CategoryTable = toml::from_str(
            "[[entries]]\nevent = \"road_damage\"\ncode = \"06 13\"\nname = \"x\"\n",
        )
        .unwrap();
        assert!(matches!(bad.validate(), Err(CategoryError::BadCode { .. })));
    }

    #[test]
    fn the_gbt_30428_table_has_its_big_and_small_class_codes() {
        let t = t("table = \"gbt-30428.2-2013\"");
        assert_eq!(t.taxonomy, "GB/T 30428.2-2013");
        for (k, code) in [
            ("exposed_garbage", "0102"),
            ("road_damage", "0110"),
            ("business_outside_shop", "0504"),
            (MOTOR_VEHICLE_PARKING, "0505"),
            ("piled_materials", "0507"),
        ] {
            assert_eq!(t.code(k, None).unwrap().code, code, "{k}");
        }
        assert_eq!(
            t.code("street_vending", Some("440802"))
                .unwrap()
                .full_code
                .as_deref(),
            Some("4408020501")
        );
    }

    #[test]
    fn a_deployment_table_in_csv_or_toml_renumbers_and_adds_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("codes.csv");
        std::fs::write(
            &csv,
            "# Shenzhen district\nevent,code,name,kind\nstreet_vending,602,无照经营游商,matter\n\"business_outside_shop\",603,\"店外经营\",事项\nmotor_vehicle_parking,605,机动车乱停放,\n",
        )
        .unwrap();
        let table = CategoryTable {
            table: Some("none".into()),
            taxonomy: Some("深圳某区".into()),
            file: Some(csv.clone()),
            full_code: Some(false),
            entries: vec![],
        };
        let t = table.resolve().unwrap();
        assert_eq!(
            t.code("street_vending", Some("440802")).unwrap().code,
            "602"
        );
        assert_eq!(
            t.code("street_vending", Some("440802")).unwrap().full_code,
            None
        );
        assert_eq!(
            t.code("business_outside_shop", None).unwrap().name,
            "店外经营"
        );
        assert!(t.code("road_damage", None).is_none(), "no base table");
        let toml_file = dir.path().join("codes.toml");
        std::fs::write(
            &toml_file,
            "taxonomy = \"Dahua DSS\"\nfull_code = false\n[[entries]]\nevent = \"overflowing_bin\"\ncode = \"895\"\nname = \"垃圾桶满溢\"\n",
        )
        .unwrap();
        let t = CategoryTable {
            file: Some(toml_file),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(t.taxonomy, "Dahua DSS");
        assert_eq!(
            t.code("overflowing_bin", Some("440802")).unwrap().code,
            "895"
        );
        assert_eq!(
            t.code("road_damage", None).unwrap().code,
            "06013",
            "base kept"
        );
        std::fs::write(&csv, "kind,code\nx,1\n").unwrap();
        let e = CategoryTable {
            file: Some(csv),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("event,code,name"), "{e}");
    }

    #[test]
    fn parking_description_reads_like_the_platform_example() {
        let (zh, en) = parking_description("car", "vehicle.car", "东门", 372.0);
        assert_eq!(zh, "小汽车在禁停区「东门」停放 6 分 12 秒");
        assert_eq!(en, "Car parked in no-parking zone \"东门\" for 6 min 12 s");
        assert_eq!(duration_text(3725.0).1, "1 h 2 min 5 s");
    }
}
