use std::process::ExitCode;
use streetwatch::config::Transport;
use streetwatch::ingest::pipeline::Source;
use streetwatch::ingest::probe::probe;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// rtsp://host[:port]/path (credentials via --user/--password or in the URL) or a file.
    url: String,
    /// Seconds of streaming to measure.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    #[arg(long)]
    user: Option<String>,
    #[arg(long, env = "STREETWATCH_CAMERA_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// tcp, udp or auto.
    #[arg(long, default_value = "tcp")]
    transport: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    streetwatch::gst_init();
    let source = if a.url.contains("://") && !a.url.starts_with("file://") {
        let mut url = url::Url::parse(&a.url).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a URL ({e})",
                streetwatch::redact::redact_url(&a.url)
            )
        })?;
        if let Err((msg, hint)) = streetwatch::config::check_camera_url(&format!(
            "{}://{}",
            url.scheme(),
            &a.url[a.url.find("://").unwrap() + 3..]
                .rsplit('@')
                .next()
                .unwrap_or("")
        )) {
            eprintln!(
                "error: {}: {msg}; {hint}",
                streetwatch::redact::redact_url(&a.url)
            );
            return Ok(ExitCode::from(2));
        }
        // Credentials in the URL are accepted here for convenience, then moved out.
        let user = a
            .user
            .or_else(|| (!url.username().is_empty()).then(|| url.username().to_string()));
        let password = a.password.or_else(|| url.password().map(str::to_string));
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Source::Rtsp {
            url: url.to_string(),
            username: user,
            password,
            transport: match a.transport.as_str() {
                "udp" => Transport::Udp,
                "auto" => Transport::Auto,
                _ => Transport::Tcp,
            },
            latency_ms: 200,
        }
    } else {
        let path = a.url.strip_prefix("file://").unwrap_or(&a.url);
        Source::File { path: path.into() }
    };
    let shown = source.display();
    match probe(source, a.seconds) {
        Ok(r) => {
            if a.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!("{shown}\n{r}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"error": reason.code(), "message": reason.to_string()})
                );
            }
            eprintln!("error: {shown}: {reason}");
            Ok(ExitCode::from(1))
        }
    }
}
