use std::path::Path;
use std::process::ExitCode;
use streetwatch::config;
use streetwatch::ingest::CameraSpec;

pub fn run(file: &Path, probe: bool) -> anyhow::Result<ExitCode> {
    match config::load(file) {
        Ok(c) => {
            println!(
                "{}: OK ({} camera(s), device {})",
                file.display(),
                c.cameras.len(),
                c.device.id
            );
            for (i, cam) in c.cameras.iter().enumerate() {
                let rate = streetwatch::rules::rate::resolve(cam, &c.events.tracker);
                println!("cameras[{i}].analysis: {}", rate.describe());
            }
            // Warnings do not refuse the file: it runs as written.
            for w in streetwatch::rules::rate::warnings(&c) {
                eprintln!("warning: {w}");
            }
            if probe && !probe_pairings(&c) {
                return Ok(ExitCode::from(2));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Connect to both streams of every enabled camera with an `analysis_url` and judge
/// their pairing, naming the key path of each problem. True when all pair.
fn probe_pairings(c: &config::Config) -> bool {
    streetwatch::gst_init();
    let mut ok = true;
    for (i, cam) in c.cameras.iter().enumerate() {
        if !cam.enabled || cam.analysis_url.is_none() {
            continue;
        }
        let rate = streetwatch::rules::rate::resolve(cam, &c.events.tracker);
        let spec = CameraSpec::from_config(cam, rate.spec(cam.analysis.max_width));
        let Some(analysis) = spec.analysis_source else {
            continue;
        };
        let r = streetwatch::ingest::probe::probe_streams(spec.source, analysis, 3.0);
        let path = format!("cameras[{i}]");
        for (key, res) in [("url", &r.main), ("analysis_url", &r.analysis)] {
            match res {
                Ok(p) => println!("{path}.{key}: {}x{} {}", p.width, p.height, p.codec),
                Err(e) => {
                    ok = false;
                    eprintln!("error: {path}.{key}: {e}");
                }
            }
        }
        match &r.pairing {
            Some(Ok(())) => println!("{path}: the two streams pair"),
            Some(Err(e)) => {
                ok = false;
                eprintln!("error: {path}.analysis_url: {e}");
            }
            None => {}
        }
    }
    ok
}
