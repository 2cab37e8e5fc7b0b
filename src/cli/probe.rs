use std::process::ExitCode;
use streetwatch::config::Transport;
use streetwatch::ingest::pipeline::Source;
use streetwatch::ingest::probe::{probe, probe_streams};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// rtsp://host[:port]/path (credentials via --user/--password or in the URL) or a file.
    url: String,
    /// The camera's substream, decoded for analysis (config `analysis_url`): both
    /// streams are probed at once and checked to pair (same picture, substream no
    /// larger than the main stream). Same credentials as `url`.
    #[arg(long)]
    analysis_url: Option<String>,
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
    let transport = match a.transport.as_str() {
        "udp" => Transport::Udp,
        "auto" => Transport::Auto,
        _ => Transport::Tcp,
    };
    let source = match source_of(&a.url, a.user.clone(), a.password.clone(), transport) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if let Some(sub) = &a.analysis_url {
        if let Err((msg, hint)) = streetwatch::config::check_analysis_url(&a.url, sub) {
            eprintln!(
                "error: analysis stream {}: {msg}; {hint}",
                streetwatch::redact::redact_url(sub)
            );
            return Ok(ExitCode::from(2));
        }
        let analysis = match source_of(sub, a.user, a.password, transport) {
            Ok(s) => s,
            Err(code) => return Ok(code),
        };
        return probe_both(source, analysis, a.seconds, a.json);
    }
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

/// The source a URL names (credentials in the URL are moved out); on a bad URL, says
/// why on stderr and returns the exit code.
fn source_of(
    url_text: &str,
    user: Option<String>,
    password: Option<String>,
    transport: Transport,
) -> Result<Source, ExitCode> {
    let source = if url_text.contains("://") && !url_text.starts_with("file://") {
        let mut url = url::Url::parse(url_text).map_err(|e| {
            eprintln!(
                "error: {}: not a URL ({e})",
                streetwatch::redact::redact_url(url_text)
            );
            ExitCode::from(2)
        })?;
        if let Err((msg, hint)) = streetwatch::config::check_camera_url(&format!(
            "{}://{}",
            url.scheme(),
            url_text[url_text.find("://").unwrap() + 3..]
                .rsplit('@')
                .next()
                .unwrap_or("")
        )) {
            eprintln!(
                "error: {}: {msg}; {hint}",
                streetwatch::redact::redact_url(url_text)
            );
            return Err(ExitCode::from(2));
        }
        // Credentials in the URL are accepted here for convenience, then moved out.
        let user =
            user.or_else(|| (!url.username().is_empty()).then(|| url.username().to_string()));
        let password = password.or_else(|| url.password().map(str::to_string));
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Source::Rtsp {
            url: url.to_string(),
            username: user,
            password,
            transport,
            latency_ms: 200,
        }
    } else {
        let path = url_text.strip_prefix("file://").unwrap_or(url_text);
        Source::File { path: path.into() }
    };
    Ok(source)
}

/// Probe a camera's main and analysis streams together and judge their pairing.
/// Exit 0 when both stream and pair, 1 when a stream fails, 3 when they do not pair.
fn probe_both(
    main: Source,
    analysis: Source,
    seconds: f64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let shown = (main.display(), analysis.display());
    let r = probe_streams(main, analysis, seconds);
    if json {
        let side = |x: &Result<
            streetwatch::ingest::probe::ProbeReport,
            streetwatch::ingest::Reason,
        >| match x {
            Ok(r) => serde_json::to_value(r).unwrap_or_default(),
            Err(e) => serde_json::json!({"error": e.code(), "message": e.to_string()}),
        };
        let pairing = match &r.pairing {
            Some(Ok(())) => serde_json::json!({"ok": true}),
            Some(Err(e)) => {
                serde_json::json!({"ok": false, "code": e.code(), "message": e.to_string()})
            }
            None => serde_json::Value::Null,
        };
        println!(
            "{}",
            serde_json::json!({"main": side(&r.main), "analysis": side(&r.analysis), "pairing": pairing})
        );
    }
    for (role, url, res) in [
        ("main stream", &shown.0, &r.main),
        ("analysis stream", &shown.1, &r.analysis),
    ] {
        match res {
            Ok(rep) if !json => println!("{role}: {url}\n{rep}"),
            Ok(_) => {}
            Err(reason) => eprintln!("error: {role} {url}: {reason}"),
        }
    }
    Ok(match &r.pairing {
        Some(Ok(())) => {
            if !json {
                println!(
                    "pairing:     ok (boxes found on the analysis stream map onto the main stream)"
                );
            }
            ExitCode::SUCCESS
        }
        Some(Err(e)) => {
            eprintln!("error: the two streams do not pair: {e}");
            ExitCode::from(3)
        }
        None => ExitCode::from(1),
    })
}
