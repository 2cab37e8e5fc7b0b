use std::path::Path;
use std::process::ExitCode;
use streetwatch::config;

pub fn run(file: &Path) -> anyhow::Result<ExitCode> {
    match config::load(file) {
        Ok(c) => {
            println!(
                "{}: OK ({} camera(s), device {})",
                file.display(),
                c.cameras.len(),
                c.device.id
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}
