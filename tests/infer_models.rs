//! Inference correctness with the real models on real images, against the official
//! `onnxruntime` Python package running the same pre/post-processing
//! (`scripts/ref/detect_ref.py`), plus the refusal paths of model loading.
//!
//! Assets follow the setup contract: `STREETWATCH_ASSETS` (default `<crate>/.deps`),
//! `STREETWATCH_PYTHON` (default `<crate>/.deps/venv/bin/python`), `STREETWATCH_ORT_LIB`
//! (default: found in `<crate>/.deps/onnxruntime/`).
//!
//! Video frame indices are 0-based indices of decoded frames (every frame the decoder
//! outputs is counted), as produced by `ingest::decode_file`.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use streetwatch::config::InferenceConfig;
use streetwatch::infer::eval::{Evaluator, read_yolo_labels};
use streetwatch::infer::{BBox, Detection, Detector, ModelError};
use streetwatch::ingest::decode_file::frame_at;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn assets() -> PathBuf {
    std::env::var_os("STREETWATCH_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join(".deps"))
}

fn python() -> PathBuf {
    std::env::var_os("STREETWATCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join(".deps/venv/bin/python"))
}

fn media(name: &str) -> String {
    let p = assets().join("media").join(name);
    assert!(
        p.is_file(),
        "test asset {} missing: run scripts/setup.sh",
        p.display()
    );
    p.display().to_string()
}

fn cfg() -> InferenceConfig {
    InferenceConfig {
        models_dir: crate_dir().join("models"),
        weights_dir: assets().join("models"),
        ..InferenceConfig::default()
    }
}

fn detector(id: &str) -> Detector {
    Detector::load(&cfg(), id).unwrap_or_else(|e| panic!("loading {id}: {e}"))
}

/// Best detection of `class` overlapping `want`.
fn find<'a>(dets: &'a [Detection], class: &str, want: BBox) -> Option<&'a Detection> {
    dets.iter()
        .filter(|d| d.class_name == class)
        .max_by(|a, b| a.bbox.iou(&want).total_cmp(&b.bbox.iou(&want)))
}

#[test]
fn yolox_finds_the_person_in_frame_100_and_the_bottle_in_frame_600() {
    let mut det = detector("yolox-nano");
    let frame = frame_at(&media("one-by-one-person-detection.mp4"), 100).unwrap();
    assert_eq!((frame.width, frame.height), (768, 432));
    let dets = det.detect(&frame).unwrap();
    let want = BBox::new(380.0, 15.0, 515.0, 407.0);
    let p = find(&dets, "person", want).expect("no person detected");
    assert!(p.score > 0.8 && p.bbox.iou(&want) > 0.85, "{p:?}");
    assert_eq!(p.category.as_str(), "person");

    let frame = frame_at(&media("bottle-detection.mp4"), 600).unwrap();
    let dets = det.detect(&frame).unwrap();
    let want = BBox::new(508.0, 106.0, 570.0, 317.0);
    let b = find(&dets, "bottle", want).expect("no bottle detected");
    assert!(b.score > 0.85 && b.bbox.iou(&want) > 0.85, "{b:?}");
    assert_eq!(b.category.as_str(), "litter.bottle");
}

/// One image for the reference script.
struct RefImage {
    key: String,
    path: PathBuf,
    width: u32,
    height: u32,
}

fn write_list(dir: &Path, images: &[RefImage]) -> PathBuf {
    let list: Vec<Value> = images
        .iter()
        .map(|i| {
            serde_json::json!({"key": i.key, "path": i.path, "width": i.width, "height": i.height})
        })
        .collect();
    let p = dir.join("list.json");
    std::fs::write(&p, serde_json::to_string(&list).unwrap()).unwrap();
    p
}

/// Start the Python reference for model `id` over `list`.
fn spawn_reference(id: &str, list: &Path, labels: Option<&Path>) -> std::process::Child {
    let m = streetwatch::infer::Manifest::load(&crate_dir().join("models"), id).unwrap();
    let mut cmd = Command::new(python());
    cmd.arg(crate_dir().join("scripts/ref/detect_ref.py"))
        .arg(crate_dir().join("models").join(id))
        .arg(assets().join("models").join(id).join(&m.file))
        .arg(list);
    if let Some(l) = labels {
        cmd.arg("--labels").arg(l);
    }
    cmd.stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (run scripts/setup.sh)",
                python().display()
            )
        })
}

fn reference_output(child: std::process::Child) -> Vec<Value> {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "reference script failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every reference box must have a Rust box of the same class with IoU >= 0.95 and a
/// score within 0.01, and vice versa. A box whose score is within 0.01 of its
/// threshold may legitimately exist on one side only.
fn compare(key: &str, rust: &[Detection], reference: &Value, det: &Detector) -> usize {
    let refs: Vec<(u32, f32, BBox)> = reference["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let b: Vec<f32> = d["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            (
                d["class_id"].as_u64().unwrap() as u32,
                d["score"].as_f64().unwrap() as f32,
                BBox::new(b[0], b[1], b[2], b[3]),
            )
        })
        .collect();
    let m = det.manifest();
    let borderline = |class: u32, score: f32| {
        let t = m.threshold_for(&m.category_of(class as usize).unwrap());
        (score - t).abs() <= 0.01
    };
    for (c, s, b) in &refs {
        let hit = rust
            .iter()
            .any(|d| d.class_id == *c && d.bbox.iou(b) >= 0.95 && (d.score - s).abs() <= 0.01);
        assert!(
            hit || borderline(*c, *s),
            "{key}: reference box class {c} score {s} {b:?} has no Rust match; Rust: {rust:#?}"
        );
    }
    for d in rust {
        let hit = refs.iter().any(|(c, s, b)| {
            d.class_id == *c && d.bbox.iou(b) >= 0.95 && (d.score - s).abs() <= 0.01
        });
        assert!(
            hit || borderline(d.class_id, d.score),
            "{key}: Rust box {d:?} has no reference match; reference: {refs:?}"
        );
    }
    refs.len()
}

#[test]
fn yolox_matches_the_python_onnxruntime_reference_on_video_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let picks = [
        ("one-by-one-person-detection.mp4", 100),
        ("one-by-one-person-detection.mp4", 700),
        ("bottle-detection.mp4", 600),
        ("one-by-one-person-detection.mp4", 1300),
        ("car-detection.mp4", 120),
    ];
    let mut frames = Vec::new();
    let mut images = Vec::new();
    for (file, idx) in picks {
        let f = frame_at(&media(file), idx).unwrap();
        let key = format!("{file}#{idx}");
        let path = tmp.path().join(format!("{}.rgb", images.len()));
        std::fs::write(&path, &f.data).unwrap();
        images.push(RefImage {
            key,
            path,
            width: f.width,
            height: f.height,
        });
        frames.push(f);
    }
    let child = spawn_reference("yolox-nano", &write_list(tmp.path(), &images), None);
    let mut det = detector("yolox-nano");
    let rust: Vec<Vec<Detection>> = frames.iter().map(|f| det.detect(f).unwrap()).collect();
    let reference = reference_output(child);
    assert_eq!(reference.len(), images.len());
    let mut total = 0;
    for ((img, r), p) in images.iter().zip(&rust).zip(&reference) {
        total += compare(&img.key, r, p, &det);
    }
    // At least the person and the bottle of the frames above.
    assert!(
        total >= 3,
        "reference found only {total} boxes: the comparison proves little"
    );
}

fn rdd_dir() -> Option<PathBuf> {
    let d = assets().join("datasets/rdd2022-sample");
    if d.join("images").is_dir() {
        Some(d)
    } else {
        support::skip(&format!(
            "{} is missing (the data set has no download; see scripts/README.md)",
            d.display()
        ));
        None
    }
}

fn rdd_images(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn load_rgb(p: &Path) -> (Vec<u8>, u32, u32) {
    let img = image::open(p).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    (img.into_raw(), w, h)
}

#[test]
fn rdd_matches_the_python_onnxruntime_reference_box_by_box() {
    let Some(dir) = rdd_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // The same decoded pixels go to both sides (raw RGB), so only the pipelines differ.
    let mut images = Vec::new();
    let mut pixels = Vec::new();
    for p in rdd_images(&dir)
        .iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("China_Drone") || n.starts_with("Japan")
        })
        .take(12)
    {
        let (rgb, w, h) = load_rgb(p);
        let path = tmp.path().join(format!("{}.rgb", images.len()));
        std::fs::write(&path, &rgb).unwrap();
        images.push(RefImage {
            key: p.file_name().unwrap().to_string_lossy().into(),
            path,
            width: w,
            height: h,
        });
        pixels.push((rgb, w, h));
    }
    let child = spawn_reference("rdd-yolo11n", &write_list(tmp.path(), &images), None);
    let mut det = detector("rdd-yolo11n");
    let rust: Vec<Vec<Detection>> = pixels
        .iter()
        .map(|(d, w, h)| det.detect_rgb(d, *w, *h).unwrap())
        .collect();
    let reference = reference_output(child);
    let mut total = 0;
    for ((img, r), p) in images.iter().zip(&rust).zip(&reference) {
        total += compare(&img.key, r, p, &det);
    }
    assert!(
        total >= 3,
        "reference found only {total} boxes: the comparison proves little"
    );
}

#[test]
fn rdd_precision_recall_matches_the_python_reference_within_0_02() {
    let Some(dir) = rdd_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let paths = rdd_images(&dir);
    // Here Python decodes the JPEGs itself (Pillow), the Rust side with `image`.
    let images: Vec<RefImage> = paths
        .iter()
        .map(|p| RefImage {
            key: p.file_name().unwrap().to_string_lossy().into(),
            path: p.clone(),
            width: 0,
            height: 0,
        })
        .collect();
    let child = spawn_reference(
        "rdd-yolo11n",
        &write_list(tmp.path(), &images),
        Some(&dir.join("labels")),
    );
    let mut det = detector("rdd-yolo11n");
    let nc = det.manifest().classes.names.len();
    let mut eval = Evaluator::new(nc, 0.5);
    for p in &paths {
        let (rgb, w, h) = load_rgb(p);
        let dets = det.detect_rgb(&rgb, w, h).unwrap();
        let stem = p.file_stem().unwrap().to_string_lossy();
        let gts = read_yolo_labels(&dir.join("labels").join(format!("{stem}.txt")), w, h).unwrap();
        eval.add_image(&dets, &gts);
    }
    println!(
        "Rust pipeline, rdd2022-sample, IoU >= 0.5:\n{}",
        eval.report(&det.manifest().classes.names)
    );
    let reference = reference_output(child);
    let summary = &reference.last().unwrap()["summary"];
    let (pp, pr) = (
        summary["precision"].as_f64().unwrap(),
        summary["recall"].as_f64().unwrap(),
    );
    println!("Python reference: precision {pp:.3} recall {pr:.3}");
    let o = eval.overall();
    assert!(o.tp > 0, "no true positive at all: the pipeline is broken");
    assert!(
        (o.precision() - pp).abs() <= 0.02,
        "precision {} vs reference {pp}",
        o.precision()
    );
    assert!(
        (o.recall() - pr).abs() <= 0.02,
        "recall {} vs reference {pr}",
        o.recall()
    );
}

// --- refusals ------------------------------------------------------------------------

/// A private models dir holding a copy of `id`'s manifest, edited by `edit`, and a
/// weights dir holding `weights` under the manifest's file name.
fn fake_model(
    id: &str,
    edit: impl Fn(String) -> String,
    weights: &[u8],
) -> (tempfile::TempDir, InferenceConfig) {
    let tmp = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(crate_dir().join("models").join(id).join("model.toml")).unwrap();
    let text = edit(text);
    let m = streetwatch::infer::Manifest::parse(&text).unwrap();
    std::fs::create_dir_all(tmp.path().join("models").join(id)).unwrap();
    std::fs::create_dir_all(tmp.path().join("weights").join(id)).unwrap();
    std::fs::write(tmp.path().join("models").join(id).join("model.toml"), text).unwrap();
    std::fs::write(tmp.path().join("weights").join(id).join(&m.file), weights).unwrap();
    let cfg = InferenceConfig {
        models_dir: tmp.path().join("models"),
        weights_dir: tmp.path().join("weights"),
        ..InferenceConfig::default()
    };
    (tmp, cfg)
}

fn load_err(cfg: &InferenceConfig, id: &str) -> ModelError {
    // STREETWATCH_ASSETS would redirect the weights dir; these tests use their own.
    let file = streetwatch::infer::ModelFile::open(&cfg.models_dir, &cfg.weights_dir, id);
    match file {
        Err(e) => e,
        Ok(f) => {
            let rt = streetwatch::infer::model::runtime_from_config(cfg).unwrap();
            match Detector::new(&f, rt, cfg) {
                Err(e) => e,
                Ok(_) => panic!("model {id} was accepted"),
            }
        }
    }
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn real_weights(id: &str, file: &str) -> Vec<u8> {
    std::fs::read(assets().join("models").join(id).join(file)).unwrap()
}

#[test]
fn missing_weight_file_is_refused_naming_model_and_path() {
    let cfg = InferenceConfig {
        models_dir: crate_dir().join("models"),
        weights_dir: PathBuf::from("/nonexistent/weights"),
        ..InferenceConfig::default()
    };
    let msg = load_err(&cfg, "yolox-nano").to_string();
    assert!(
        msg.contains("\"yolox-nano\"")
            && msg.contains("/nonexistent/weights/yolox-nano/yolox_nano.onnx")
            && msg.contains("missing"),
        "{msg}"
    );
}

#[test]
fn sha256_mismatch_is_refused_naming_both_hashes() {
    let (_t, cfg) = fake_model("yolox-nano", |t| t, b"not the model");
    let msg = load_err(&cfg, "yolox-nano").to_string();
    assert!(
        msg.contains("\"yolox-nano\"")
            && msg.contains("sha256")
            && msg.contains(&sha(b"not the model")),
        "{msg}"
    );
}

#[test]
fn corrupt_model_file_is_refused_by_onnx_runtime_with_the_model_name() {
    let garbage = b"\x08\x07garbage that is no protobuf model".repeat(10);
    let digest = sha(&garbage);
    let (_t, cfg) = fake_model(
        "yolox-nano",
        |t| {
            t.replace(
                "e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd",
                &digest,
            )
        },
        &garbage,
    );
    let e = load_err(&cfg, "yolox-nano");
    assert!(matches!(e, ModelError::Session { .. }), "{e}");
    assert!(e.to_string().contains("ONNX Runtime cannot load"), "{e}");
}

#[test]
fn wrong_input_shape_in_manifest_is_refused_with_both_shapes() {
    let w = real_weights("yolox-nano", "yolox_nano.onnx");
    let (_t, cfg) = fake_model(
        "yolox-nano",
        |t| t.replace("shape = [1, 3, 416, 416]", "shape = [1, 3, 640, 640]"),
        &w,
    );
    let e = load_err(&cfg, "yolox-nano");
    let msg = e.to_string();
    assert!(matches!(e, ModelError::TensorMismatch { .. }), "{msg}");
    assert!(
        msg.contains("[1, 3, 416, 416]") && msg.contains("[1, 3, 640, 640]"),
        "{msg}"
    );
}

#[test]
fn wrong_output_name_in_manifest_is_refused() {
    let w = real_weights("yolox-nano", "yolox_nano.onnx");
    let (_t, cfg) = fake_model(
        "yolox-nano",
        |t| t.replace("names = [\"output\"]", "names = [\"dets\"]"),
        &w,
    );
    let msg = load_err(&cfg, "yolox-nano").to_string();
    assert!(msg.contains("no output named \"dets\""), "{msg}");
}

#[test]
fn unknown_execution_provider_is_refused() {
    let cfg = InferenceConfig {
        execution_providers: vec!["warpdrive".into(), "cpu".into()],
        ..cfg()
    };
    let msg = Detector::load(&cfg, "yolox-nano")
        .err()
        .expect("accepted")
        .to_string();
    assert!(
        msg.contains("unknown execution provider \"warpdrive\""),
        "{msg}"
    );
}

#[test]
fn unavailable_execution_providers_are_skipped_and_cpu_serves() {
    let cfg = InferenceConfig {
        execution_providers: vec![
            "cann".into(),
            "qnn".into(),
            "cuda".into(),
            "openvino".into(),
            "cpu".into(),
        ],
        ..cfg()
    };
    let det = Detector::load(&cfg, "yolox-nano").unwrap();
    assert_eq!(det.providers, vec!["cpu".to_string()]);
}

/// The wheel's library is CPU-only, so no accelerator can register here; what this
/// checks is that every registration route really calls into ONNX Runtime (options
/// struct, by-name, exported symbol) and comes back with a reason naming what is
/// missing instead of crashing, which is what a box with the wrong runtime build sees.
#[test]
fn each_provider_registration_route_reports_why_a_cpu_only_library_refuses_it() {
    use streetwatch::infer::providers::{self, Exported, OptionsStruct, Registration};
    let rt = streetwatch::infer::model::runtime_from_config(&cfg()).unwrap();
    let mut opts = providers::ProviderOptions::new();
    opts.insert("device_id".into(), "0".into());
    let routes = [
        Registration::OptionsStruct(OptionsStruct::Cuda),
        Registration::OptionsStruct(OptionsStruct::TensorRt),
        Registration::OptionsStruct(OptionsStruct::Cann),
        Registration::ByName("OpenVINO"),
        Registration::Exported(Exported::Rknpu),
        Registration::Exported(Exported::Acl),
    ];
    for route in routes {
        let mut builder = ort::session::Session::builder(&rt.env).unwrap();
        let o = match route {
            Registration::Exported(_) => providers::ProviderOptions::new(),
            _ => opts.clone(),
        };
        let err = providers::register(&mut builder, route, &o, &rt.library)
            .expect_err("a CPU-only library accepted an accelerator");
        assert!(!err.trim().is_empty(), "{route:?}: empty reason");
        let names = match route {
            Registration::OptionsStruct(OptionsStruct::Cuda) => "CUDA",
            Registration::OptionsStruct(OptionsStruct::TensorRt) => "TensorRT",
            Registration::OptionsStruct(OptionsStruct::Cann) => "CANN",
            Registration::ByName(n) => n,
            _ => "built without this provider",
        };
        assert!(err.contains(names), "{route:?}: {err}");
        eprintln!("{route:?}: {err}");
    }
}

#[test]
fn provider_options_for_an_unavailable_provider_do_not_stop_cpu_from_serving() {
    let text = r#"
execution_providers = ["cuda", "tensorrt", "cpu"]
[provider_options.cuda]
device_id = 0
cudnn_conv_algo_search = "HEURISTIC"
[provider_options.tensorrt]
trt_fp16_enable = true
"#;
    let parsed: InferenceConfig = toml::from_str(text).unwrap();
    let strings = parsed.provider_option_strings();
    assert_eq!(strings["cuda"]["device_id"], "0");
    assert_eq!(strings["tensorrt"]["trt_fp16_enable"], "1");
    let cfg = InferenceConfig {
        execution_providers: parsed.execution_providers,
        provider_options: parsed.provider_options,
        ..cfg()
    };
    let det = Detector::load(&cfg, "yolox-nano").unwrap();
    assert_eq!(det.providers, vec!["cpu".to_string()]);
}

#[test]
fn missing_library_is_a_clear_error_not_a_panic() {
    let err = streetwatch::infer::runtime::init(Path::new("/nonexistent/libonnxruntime.so"))
        .err()
        .expect("loaded");
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/libonnxruntime.so") && msg.contains("no such file"),
        "{msg}"
    );
}

// --- `streetwatch detect` -----------------------------------------------------------

#[test]
fn detect_cli_prints_one_json_line_per_kept_frame_and_writes_an_mp4() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("annotated.mp4");
    let run = Command::new(env!("CARGO_BIN_EXE_streetwatch"))
        .current_dir(crate_dir())
        .args([
            "detect",
            &media("one-by-one-person-detection.mp4"),
            "--json",
            "--every",
            "100",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 1394 decoded frames, indices 0, 100, ..., 1300.
    assert_eq!(lines.len(), 14);
    let f100 = lines.iter().find(|l| l["frame"] == 100).unwrap();
    let person = &f100["detections"][0];
    assert_eq!(person["category"], "person");
    assert!(
        (person["bbox"]["x1"].as_f64().unwrap() - 380.0).abs() < 20.0,
        "{person}"
    );
    assert!(std::fs::metadata(&out).unwrap().len() > 10_000);
}

#[test]
fn detect_cli_reports_an_unloadable_library_without_panicking() {
    let run = Command::new(env!("CARGO_BIN_EXE_streetwatch"))
        .current_dir(crate_dir())
        .env("STREETWATCH_ORT_LIB", crate_dir().join("Cargo.toml"))
        .args(["detect", "whatever.jpg"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot load ONNX Runtime library") && err.contains("Cargo.toml"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

// --- shared service -------------------------------------------------------------------

#[test]
fn shared_service_serves_two_cameras_from_two_sessions_with_stats() {
    use streetwatch::infer::worker::{InferenceService, SubmitMode};
    let cfg = InferenceConfig {
        workers: 2,
        ..cfg()
    };
    let svc = InferenceService::for_model(&cfg, "yolox-nano").unwrap();
    let frame = frame_at(&media("one-by-one-person-detection.mp4"), 100).unwrap();
    let (a, ra) = svc.add_camera("cam-a", SubmitMode::Lossless, 8);
    let (b, rb) = svc.add_camera("cam-b", SubmitMode::Lossless, 8);
    for _ in 0..3 {
        a.submit(frame.clone()).unwrap();
        b.submit(frame.clone()).unwrap();
    }
    for rx in [ra, rb] {
        for _ in 0..3 {
            let r = rx.recv().unwrap();
            let dets = r.detections.unwrap();
            assert!(dets.iter().any(|d| d.class_name == "person"), "{dets:?}");
        }
    }
    let st = svc.stats();
    assert_eq!(st.workers, 2);
    assert!(
        st.cameras.iter().all(|c| c.analysed == 3 && c.dropped == 0),
        "{st:?}"
    );
    assert!(st.latency_p50_ms > 0.0 && st.latency_p95_ms >= st.latency_p50_ms);
}

// --- decode_file ----------------------------------------------------------------------

#[test]
fn keyframes_only_decoding_delivers_a_small_subset_of_the_377_frames() {
    use streetwatch::ingest::decode_file::FileDecoder;
    let video = media("car-detection.mp4");
    let all = FileDecoder::open(&video, 1).unwrap().count();
    assert_eq!(all, 377);
    let every_10: Vec<u64> = FileDecoder::open(&video, 10)
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(every_10.len(), 38);
    assert_eq!(&every_10[..3], &[0, 10, 20]);
    let key: Vec<_> = FileDecoder::open_keyframes_only(&video)
        .unwrap()
        .map(|r| r.unwrap().1)
        .collect();
    assert!(
        !key.is_empty() && key.len() < all / 4,
        "{} keyframes",
        key.len()
    );
    assert!(
        key.iter()
            .all(|f| f.width == 768 && f.data.len() == 768 * 432 * 3)
    );
}

#[test]
fn a_refused_model_leaves_the_others_running_and_its_cameras_report_model_unavailable() {
    use streetwatch::infer::registry::ModelRegistry;
    let reg = ModelRegistry::load(&cfg(), ["yolox-nano", "no-such-model", "yolox-nano"]);
    assert!(reg.service("yolox-nano").is_some());
    assert_eq!(reg.camera_status("yolox-nano"), None);
    let status = reg.camera_status("no-such-model").unwrap();
    assert!(
        status.starts_with("model unavailable: model \"no-such-model\""),
        "{status}"
    );
}
