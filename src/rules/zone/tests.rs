use super::*;
use crate::rules::schedule::Day;

fn poly(points: &[[f32; 2]]) -> Polygon {
    Polygon(points.to_vec())
}

fn square() -> Polygon {
    poly(&[[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]])
}

/// A "U": the notch 0.4..0.6 x 0.2..0.6 is outside.
fn u_shape() -> Polygon {
    poly(&[
        [0.2, 0.2],
        [0.4, 0.2],
        [0.4, 0.6],
        [0.6, 0.6],
        [0.6, 0.2],
        [0.8, 0.2],
        [0.8, 0.8],
        [0.2, 0.8],
    ])
}

fn zone_toml(extra: &str) -> String {
    format!("id = \"z1\"\npolygon = [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]\n{extra}")
}

fn parse_zone(extra: &str) -> Result<Zone, toml::de::Error> {
    toml::from_str(&zone_toml(extra))
}

#[test]
fn square_contains_its_interior_but_not_the_outside() {
    let s = square();
    assert!(s.contains(0.5, 0.5));
    assert!(!s.contains(0.1, 0.5));
    assert!(!s.contains(0.5, 0.9));
    assert!(!s.contains(f32::NAN, 0.5));
}

#[test]
fn concave_polygon_excludes_its_notch() {
    let u = u_shape();
    assert!(u.contains(0.3, 0.3), "left arm");
    assert!(u.contains(0.7, 0.3), "right arm");
    assert!(u.contains(0.5, 0.7), "base");
    assert!(!u.contains(0.5, 0.3), "notch");
    assert!(!u.contains(0.5, 0.5), "notch");
    // The line y = 0.2 passes through four vertices; the half-open rule must not
    // double-count them.
    assert!(!u.contains(0.1, 0.2 + 1e-4));
    assert!(u.contains(0.25, 0.2 + 1e-4));
    assert!(!u.contains(0.5, 0.2 + 1e-4));
}

#[test]
fn points_on_edges_and_vertices_are_inside_whatever_the_vertex_order() {
    let fwd = u_shape();
    let mut rev = fwd.clone();
    rev.0.reverse();
    for (x, y) in [
        (0.2, 0.5),
        (0.8, 0.5),
        (0.5, 0.2 + 0.4),
        (0.5, 0.8),
        (0.2, 0.2),
        (0.6, 0.6),
        (0.4, 0.4),
        (0.3, 0.2),
    ] {
        assert!(fwd.contains(x, y), "({x}, {y}) forward");
        assert!(rev.contains(x, y), "({x}, {y}) reversed");
    }
}

#[test]
fn fewer_than_three_points_contain_nothing_and_fail_validation() {
    let p = poly(&[[0.1, 0.1], [0.9, 0.9]]);
    assert!(!p.contains(0.5, 0.5));
    assert_eq!(p.validate(), Err(ZoneError::TooFewPoints { count: 2 }));
}

#[test]
fn valid_polygons_pass_validation() {
    square().validate().unwrap();
    u_shape().validate().unwrap();
    poly(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
        .validate()
        .unwrap();
}

#[test]
fn out_of_range_and_non_finite_points_are_refused() {
    let e = poly(&[[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]])
        .validate()
        .unwrap_err();
    assert!(matches!(e, ZoneError::PointOutOfRange { index: 1, .. }));
    assert!(e.to_string().contains("0 to 1"), "{e}");
    let e = poly(&[[0.1, 0.1], [0.9, f32::NAN], [0.5, 0.5]])
        .validate()
        .unwrap_err();
    assert!(matches!(e, ZoneError::PointOutOfRange { index: 1, .. }));
}

#[test]
fn self_intersecting_polygons_are_refused() {
    let bowtie = poly(&[[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]);
    let e = bowtie.validate().unwrap_err();
    assert!(matches!(e, ZoneError::SelfIntersecting { .. }), "{e}");
    assert!(e.to_string().contains("cross"), "{e}");
    // A vertex touching a non-adjacent edge.
    let touching = poly(&[
        [0.1, 0.1],
        [0.9, 0.1],
        [0.5, 0.5],
        [0.9, 0.9],
        [0.1, 0.9],
        [0.5, 0.1],
    ]);
    assert!(matches!(
        touching.validate(),
        Err(ZoneError::SelfIntersecting { .. })
    ));
    // A spike folding back along its own edge.
    let spike = poly(&[[0.1, 0.1], [0.5, 0.1], [0.3, 0.1], [0.3, 0.5]]);
    assert!(matches!(
        spike.validate(),
        Err(ZoneError::SelfIntersecting { .. })
    ));
}

#[test]
fn degenerate_polygons_are_refused() {
    let tiny = poly(&[[0.0, 0.0], [0.001, 0.0], [0.0, 0.001]]);
    assert_eq!(tiny.validate(), Err(ZoneError::ZeroArea));
    let collinear = poly(&[[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]);
    assert!(collinear.validate().is_err());
    let repeated = poly(&[[0.1, 0.1], [0.9, 0.1], [0.9, 0.1], [0.5, 0.9]]);
    assert_eq!(
        repeated.validate(),
        Err(ZoneError::RepeatedPoint { index: 2 })
    );
    let too_many = Polygon(
        (0..=MAX_POLYGON_POINTS)
            .map(|i| {
                let a = i as f32 / (MAX_POLYGON_POINTS + 1) as f32 * std::f32::consts::TAU;
                [0.5 + 0.4 * a.cos(), 0.5 + 0.4 * a.sin()]
            })
            .collect(),
    );
    assert!(matches!(
        too_many.validate(),
        Err(ZoneError::TooManyPoints { .. })
    ));
}

#[test]
fn area_is_the_shoelace_area_in_image_fractions() {
    assert!((square().area() - 0.36).abs() < 1e-6);
    assert!((u_shape().area() - (0.36 - 0.08)).abs() < 1e-6);
}

#[test]
fn vehicles_and_persons_anchor_at_bottom_centre_litter_and_damage_at_centre() {
    let b = BBox::new(100.0, 100.0, 300.0, 200.0);
    let (w, h) = (1000, 500);
    assert_eq!(anchor(&Category::new("vehicle.car"), &b, w, h), (0.2, 0.4));
    assert_eq!(anchor(&Category::new("person"), &b, w, h), (0.2, 0.4));
    assert_eq!(
        anchor(&Category::new("litter.bottle"), &b, w, h),
        (0.2, 0.3)
    );
    assert_eq!(
        anchor(&Category::new("road_damage.pothole"), &b, w, h),
        (0.2, 0.3)
    );
}

#[test]
fn anchor_is_clamped_to_the_image_and_survives_a_zero_sized_frame() {
    let overhang = BBox::new(900.0, 400.0, 1100.0, 600.0);
    assert_eq!(
        anchor(&Category::new("vehicle.truck"), &overhang, 1000, 500),
        (1.0, 1.0)
    );
    let (x, y) = anchor(&Category::new("litter"), &overhang, 0, 0);
    assert!((0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y));
}

#[test]
fn zone_contains_box_uses_the_category_anchor() {
    let z = parse_zone("").unwrap();
    // A truck whose box top is in the zone but whose wheels are below it.
    let b = BBox::new(400.0, 300.0, 600.0, 450.0);
    assert!(!z.contains_box(&Category::new("vehicle.truck"), &b, 1000, 500));
    // The same box as litter: centre (0.5, 0.75) is inside.
    assert!(z.contains_box(&Category::new("litter.bag"), &b, 1000, 500));
}

#[test]
fn rules_take_their_documented_defaults() {
    let z = parse_zone(
        r#"
[[rules]]
type = "no_parking"
[[rules]]
type = "litter_watch"
[[rules]]
type = "road_watch"
[[rules]]
type = "privacy"
"#,
    )
    .unwrap();
    z.validate().unwrap();
    assert_eq!(
        z.rules[0],
        ZoneRule::NoParking {
            merge_window_s: 0.0,
            dwell_s: 180.0,
            update_every_s: 300.0,
            leave_after_s: 60.0,
            evidence_interval_s: None,
            schedule: Schedule::always()
        }
    );
    assert_eq!(
        z.rules[1],
        ZoneRule::LitterWatch {
            merge_window_s: 0.0,
            persist_s: 60.0,
            gone_after_s: 120.0,
            schedule: Schedule::always()
        }
    );
    assert_eq!(
        z.rules[2],
        ZoneRule::RoadWatch {
            min_observations: 3,
            min_span_s: 120.0,
            regrow_fraction: 0.3,
            schedule: Schedule::always()
        }
    );
    assert_eq!(z.rules[3], ZoneRule::Privacy);
    assert!(z.is_privacy());
}

#[test]
fn rule_with_a_schedule_parses_and_exposes_it() {
    let z = parse_zone(
        r#"
[[rules]]
type = "no_parking"
dwell_s = 300
schedule = [{ days = ["mon", "fri"], start = "07:00", end = "19:00" }]
"#,
    )
    .unwrap();
    z.validate().unwrap();
    let s = z.rules[0].schedule().unwrap();
    assert_eq!(s.windows[0].days, vec![Day::Mon, Day::Fri]);
    assert!(!z.is_privacy());
    assert_eq!(ZoneRule::Privacy.schedule(), None);
}

#[test]
fn unknown_rule_types_and_fields_are_rejected() {
    let e = parse_zone("[[rules]]\ntype = \"no_parking\"\ndwell = 5\n").unwrap_err();
    assert!(e.to_string().contains("dwell"), "{e}");
    let e = parse_zone("[[rules]]\ntype = \"speeding\"\n").unwrap_err();
    assert!(e.to_string().contains("speeding"), "{e}");
    assert!(parse_zone("colour = \"red\"").is_err());
}

#[test]
fn rule_parameters_are_validated() {
    let bad = ZoneRule::NoParking {
        merge_window_s: 0.0,
        dwell_s: 0.0,
        update_every_s: 300.0,
        leave_after_s: 60.0,
        evidence_interval_s: None,
        schedule: Schedule::always(),
    };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("no_parking") && e.contains("dwell_s"), "{e}");
    let bad = ZoneRule::RoadWatch {
        min_observations: 0,
        min_span_s: 120.0,
        regrow_fraction: 0.3,
        schedule: Schedule::always(),
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("min_observations")
    );
    let z = parse_zone(
        "[[rules]]\ntype = \"litter_watch\"\nschedule = [{ days = [], start = \"07:00\", end = \"08:00\" }]\n",
    )
    .unwrap();
    let e = z.validate().unwrap_err().to_string();
    assert!(
        e.contains("z1") && e.contains("litter_watch") && e.contains("no days"),
        "{e}"
    );
}

#[test]
fn place_fields_are_validated_and_errors_name_the_zone() {
    let ok = parse_zone(
        r#"
location = "东莞市南城区鸿福路与新基路交叉口东北角"
grid_code = "441900001002003"
asset_id = "44190000100200300"
coordinates = { lon = 113.75, lat = 23.02, crs = "wgs84" }
"#,
    )
    .unwrap();
    ok.validate().unwrap();
    assert_eq!(ok.coordinates.unwrap().crs, Crs::Wgs84);

    let check = |extra: &str, needle: &str| {
        let e = parse_zone(extra)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("zone \"z1\"") && e.contains(needle),
            "{extra}: {e}"
        );
    };
    check("grid_code = \"44190000100200\"", "15 digits");
    check("grid_code = \"44190000100200x\"", "15 digits");
    check("asset_id = \"4419000010020030\"", "17 digits");
    check("coordinates = { lon = 200.0, lat = 23.0 }", "longitude");
    let bad_id = Zone {
        id: "bad id".into(),
        ..ok.clone()
    };
    let e = bad_id.validate().unwrap_err().to_string();
    assert!(
        e.contains("zone \"bad id\"") && e.contains("letters"),
        "{e}"
    );
    // 256 Chinese characters are fine (768 bytes); 257 are not.
    let text = "路".repeat(MAX_LOCATION_CHARS);
    parse_zone(&format!("location = \"{text}\""))
        .unwrap()
        .validate()
        .unwrap();
    check(&format!("location = \"{text}路\""), "256");
}

#[test]
fn coordinates_default_to_cgcs2000() {
    let z = parse_zone("coordinates = { lon = 113.75, lat = 23.02 }").unwrap();
    assert_eq!(z.coordinates.unwrap().crs, Crs::Cgcs2000);
}

#[test]
fn zone_lists_need_unique_ids_and_respect_the_cap() {
    let z = parse_zone("").unwrap();
    validate_zones(std::slice::from_ref(&z)).unwrap();
    let e = validate_zones(&[z.clone(), z.clone()]).unwrap_err();
    assert_eq!(e, ZoneError::DuplicateId { id: "z1".into() });
    let many: Vec<Zone> = (0..=MAX_ZONES)
        .map(|i| Zone {
            id: format!("z{i}"),
            ..z.clone()
        })
        .collect();
    assert!(matches!(
        validate_zones(&many),
        Err(ZoneError::TooManyZones { .. })
    ));
}

#[test]
fn zone_round_trips_through_toml() {
    let z = parse_zone(
        "location = \"鸿福路\"\ngrid_code = \"441900001002003\"\n[[rules]]\ntype = \"no_parking\"\ndwell_s = 240.0\n",
    )
    .unwrap();
    let text = toml::to_string(&z).unwrap();
    assert_eq!(toml::from_str::<Zone>(&text).unwrap(), z);
}

#[test]
fn zone_problems_name_the_zone_index_and_the_field() {
    let good = parse_zone("").unwrap();
    assert!(zone_problems(std::slice::from_ref(&good)).is_empty());
    let mut flat = Zone {
        id: "z2".into(),
        ..good.clone()
    };
    flat.polygon = Polygon(vec![[0.1, 0.1], [0.2, 0.2]]);
    let mut slow = Zone {
        id: "z3".into(),
        ..good.clone()
    };
    slow.rules = vec![
        ZoneRule::Privacy,
        ZoneRule::NoParking {
            merge_window_s: 0.0,
            dwell_s: -1.0,
            update_every_s: 300.0,
            leave_after_s: 60.0,
            evidence_interval_s: None,
            schedule: Default::default(),
        },
    ];
    let twin = good.clone();
    let paths: Vec<String> = zone_problems(&[good, flat, slow, twin])
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        paths,
        ["[1].polygon", "[2].rules[1].dwell_s", "[3].id"],
        "each problem points at its zone and field"
    );
}
