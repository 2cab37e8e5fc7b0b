//! Issue 16: a new city-management category by configuration alone (generic rules,
//! the platform's own code table), through the real binary and the real detector.

mod support;

use std::process::Command;

use serde_json::Value;
use support::*;

fn check_config(path: &std::path::Path) -> (i32, String) {
    let out = Command::new(bin())
        .arg("check-config")
        .arg(path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// A config whose first zone has a `count` rule of kind `crowd` and a `dwell` rule of
/// kind `street_vending`; `categories` is the body of `[events.categories]`.
fn generic_config(dir: &std::path::Path, categories: &str) -> std::path::PathBuf {
    let text = format!(
        r#"[device]
id = "box-1"

[events.categories]
{categories}

[[cameras]]
id = "square"
url = "rtsp://10.0.0.5/stream1"

[[cameras.zones]]
id = "plaza"
polygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
[[cameras.zones.rules]]
type = "dwell"
kind = "street_vending"
categories = ["object.umbrella", "object.dining_table"]
[[cameras.zones.rules]]
type = "count"
kind = "crowd"
categories = ["person"]
min_count = 8
"#
    );
    let p = dir.join("streetwatch.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_config_refuses_a_rule_whose_kind_has_no_code_naming_the_key_path() {
    let dir = tempfile::tempdir().unwrap();
    // GB/T 30428.2 has street vending (0501) but no crowd code.
    let cfg = generic_config(dir.path(), "table = \"gbt-30428.2-2013\"");
    let (code, out) = check_config(&cfg);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("cameras[0].zones[0].rules[1].kind"),
        "names the key: {out}"
    );
    assert!(out.contains("\"crowd\""), "names the kind: {out}");
    assert!(
        !out.contains("rules[0]"),
        "street_vending has a code there: {out}"
    );
    // The default GB/T 47678.5-2026 table knows neither.
    let cfg = generic_config(dir.path(), "");
    let (code, out) = check_config(&cfg);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("cameras[0].zones[0].rules[0].kind"), "{out}");
    assert!(out.contains("cameras[0].zones[0].rules[1].kind"), "{out}");
    // A deployment's own CSV table (a Shenzhen-style renumbering) fixes both.
    let csv = dir.path().join("codes.csv");
    std::fs::write(
        &csv,
        "# district platform codes\nevent,code,name\nstreet_vending,602,占道经营\ncrowd,603,\"人群聚集\"\n",
    )
    .unwrap();
    let cfg = generic_config(dir.path(), &format!("file = \"{}\"", csv.display()));
    let (code, out) = check_config(&cfg);
    assert_eq!(code, 0, "{out}");
    // A broken table file is named with its problem.
    std::fs::write(&csv, "event,code\nstreet_vending,602\n").unwrap();
    let (code, out) = check_config(&cfg);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("events.categories"), "{out}");
    assert!(out.contains("codes.csv"), "{out}");
}

/// The top-left bay of the parking scenario (as tests/replay.rs).
const BAY: &str = "[[0.0, 0.15], [0.35, 0.15], [0.35, 0.6], [0.0, 0.6]]";

#[test]
fn a_held_object_in_a_generic_zone_gives_one_dwell_case_and_one_count_case_with_the_platform_codes()
{
    let dir = tempfile::tempdir().unwrap();
    let video = parking_scenario(dir.path(), 150.0);
    let csv = dir.path().join("codes.csv");
    // A deployment's own codes for kinds no shipped table has.
    std::fs::write(
        &csv,
        "event,code,name\nroadside_occupation,605,占道停放\nvehicle_count,606,车辆聚集\n",
    )
    .unwrap();
    let extra = format!("[events.categories]\nfile = \"{}\"\n", csv.display());
    let zones = format!(
        r#"[[cameras.zones]]
id = "bay-1"
name = "东侧出口"
polygon = {BAY}
[[cameras.zones.rules]]
type = "dwell"
kind = "roadside_occupation"
categories = ["vehicle.*"]
dwell_s = 60
[[cameras.zones.rules]]
type = "count"
kind = "vehicle_count"
categories = ["vehicle"]
min_count = 1
for_s = 30
"#
    );
    let cfg = replay_config(dir.path(), "generic", &extra, "fps = 2.0", &zones);
    let (code, out) = check_config(&cfg);
    assert_eq!(code, 0, "{out}");
    let events = replay_events(&cfg, &video, &dir.path().join("evidence"));
    let started = |kind: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["phase"] == "started" && e["kind"] == kind)
            .collect()
    };
    let dwell = started("roadside_occupation");
    assert_eq!(dwell.len(), 1, "one dwell case: {events:#?}");
    let e = dwell[0];
    assert_eq!(e["category"]["code"], "605");
    assert_eq!(e["category"]["name"], "占道停放");
    assert_eq!(e["category"]["full_code"], "440802605");
    assert_eq!(e["subject"]["category"], "vehicle.car");
    assert!(
        e["description"]["zh"]
            .as_str()
            .unwrap()
            .starts_with("「东侧出口」占道停放"),
        "{}",
        e["description"]["zh"]
    );
    let media = e["media"].as_array().unwrap();
    assert!(media.iter().any(|m| m["kind"] == "clip"), "{media:#?}");
    assert!(media.iter().any(|m| m["kind"] == "snapshot"), "{media:#?}");
    let count = started("vehicle_count");
    assert_eq!(count.len(), 1, "one count case: {events:#?}");
    assert_eq!(count[0]["category"]["code"], "606");
    assert!(count[0]["details"]["count"].as_u64().unwrap() >= 1);
    // No built-in rule ran: the zone has none.
    assert!(events.iter().all(|e| e["kind"] != "illegal_parking"));
}
