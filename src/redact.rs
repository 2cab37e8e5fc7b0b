//! Credential redaction for anything that may reach a log line or an API answer.
//!
//! RTSP URLs may carry `user:password@`; technicians paste such URLs everywhere,
//! so every place that prints a URL goes through [`redact_url`].

/// Replace the userinfo part of a URL (`rtsp://user:pass@host/`) with `***@`.
///
/// Works on strings that are not valid URLs too (it only looks for `scheme://…@`),
/// because the text we must never leak is most likely inside a malformed URL.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => format!(
            "{}://***@{}{}",
            &url[..scheme_end],
            &authority[at + 1..],
            &rest[authority_end..]
        ),
        None => url.to_string(),
    }
}

/// Replace every occurrence of `secret` in `text` (e.g. a GStreamer error message
/// that echoes the location) with `***`.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = redact_inline_urls(text);
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s, "***");
    }
    out
}

fn redact_inline_urls(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|w| {
            if w.contains("://") {
                redact_url(w)
            } else {
                w.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_removed_from_rtsp_urls() {
        assert_eq!(
            redact_url("rtsp://admin:s3cret@10.0.0.5:554/Streaming/101"),
            "rtsp://***@10.0.0.5:554/Streaming/101"
        );
        assert_eq!(redact_url("rtsp://10.0.0.5/x"), "rtsp://10.0.0.5/x");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn scrub_hides_secrets_and_inline_urls() {
        let s = scrub("could not open rtsp://u:pw@h/p (password pw)", &["pw"]);
        assert!(!s.contains("pw"), "{s}");
        assert!(s.contains("rtsp://***@h/p"));
    }
}
