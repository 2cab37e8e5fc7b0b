//! The single-page app, embedded in the binary (no CDN: boxes often have no internet,
//! and a page that loads code from elsewhere could be changed by someone else).
//!
//! Files are looked up by exact name in a fixed table, never on disk, so no request
//! path can reach any other file (`..`, encoded slashes and absolute paths just miss).

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("assets/app.js"),
    },
    Asset {
        name: "app.css",
        mime: "text/css; charset=utf-8",
        body: include_str!("assets/app.css"),
    },
    Asset {
        name: "discover.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("assets/discover.js"),
    },
    Asset {
        name: "i18n.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("assets/i18n.js"),
    },
    Asset {
        name: "scene.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("assets/scene.js"),
    },
    Asset {
        name: "zones.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("assets/zones.js"),
    },
    Asset {
        name: "live.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("assets/live.js"),
    },
    Asset {
        name: "events.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("assets/events.js"),
    },
    Asset {
        name: "logs.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("assets/logs.js"),
    },
    Asset {
        name: "device.js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("assets/device.js"),
    },
    Asset {
        name: "icon.svg",
        mime: "image/svg+xml",
        body: include_str!("assets/icon.svg"),
    },
];

const INDEX: &str = include_str!("assets/index.html");

/// `GET /`.
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /favicon.ico`: browsers ask for it whatever the page links; the same icon.
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        include_str!("assets/icon.svg"),
    )
        .into_response()
}

/// `GET /assets/{file}`.
pub async fn file(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.mime),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            a.body,
        )
            .into_response(),
        None => {
            super::api::ApiError::NotFound(format!("no asset named \"{name}\"")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Keys of one language block (`zh: { … }`) of i18n.js.
    fn keys(lang: &str) -> BTreeSet<String> {
        let src = include_str!("assets/i18n.js");
        let start = src.find(&format!("  {lang}: {{")).expect("language block");
        let block = &src[start..];
        let block = &block[..block.find("\n  }").unwrap()];
        let parts: Vec<&str> = block.split('"').collect();
        // Odd pieces are string literals; a literal followed by ':' is a key.
        (1..parts.len().saturating_sub(1))
            .step_by(2)
            .filter(|&i| parts[i + 1].trim_start().starts_with(':'))
            .map(|i| parts[i].to_string())
            .collect()
    }

    /// Scripts of the page (every embedded `.js` but the texts themselves).
    fn scripts() -> impl Iterator<Item = &'static str> {
        ASSETS
            .iter()
            .filter(|a| a.name.ends_with(".js") && a.name != "i18n.js")
            .map(|a| a.body)
    }

    /// Keys the page uses: `t("…")` in the scripts and `data-i18n="…"` in index.html.
    fn used() -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let sources = scripts()
            .map(|s| (s, "t(\""))
            .chain([(INDEX, "data-i18n=\"")]);
        for (src, marker) in sources {
            for (at, _) in src.match_indices(marker) {
                // `t(` as a call, not the end of `split(` or `setAttribute(`.
                let before = src[..at].chars().next_back().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' || before == '.' {
                    continue;
                }
                let rest = &src[at + marker.len()..];
                let key = &rest[..rest.find('"').unwrap()];
                // `t("state." + c.state)`: a prefix, checked through its values below.
                if !key.ends_with('.') && !key.ends_with('_') {
                    out.insert(key.to_string());
                }
            }
        }
        out
    }

    #[test]
    fn chinese_and_english_have_the_same_texts_and_cover_every_key_the_page_uses() {
        let zh = keys("zh");
        let en = keys("en");
        assert!(zh.len() > 50, "{zh:?}");
        assert_eq!(zh, en);
        let missing: Vec<_> = used().difference(&zh).cloned().collect();
        assert!(missing.is_empty(), "keys without a text: {missing:?}");
        for state in [
            "streaming",
            "connecting",
            "backoff",
            "failed",
            "ended",
            "stopped",
            "disabled",
        ] {
            assert!(zh.contains(&format!("state.{state}")), "{state}");
        }
        // Every camera failure reason the box reports (ingest::Reason::code).
        for reason in [
            "unauthorized",
            "forbidden",
            "not_found",
            "connection_refused",
            "timeout",
            "host_not_found",
            "unsupported_codec",
            "stalled",
            "end_of_stream",
            "model_unavailable",
            "error",
        ] {
            assert!(zh.contains(&format!("reason.{reason}")), "{reason}");
        }
        // Every problem code, uplink error code and API error code the box answers with.
        for code in crate::web::api::codes::PROBLEM_CODES {
            assert!(zh.contains(&format!("problem.{code}")), "problem.{code}");
        }
        for code in crate::web::api::codes::UPLINK_ERROR_CODES {
            assert!(
                zh.contains(&format!("uplinkerr.{code}")),
                "uplinkerr.{code}"
            );
        }
        for code in [
            "bad_credentials",
            "bad_setup_code",
            "setup_done",
            "setup_required",
            "rate_limited",
            "auth_busy",
            "invalid",
            "not_found",
            "busy",
            "no_picture",
            "internal",
            "csrf",
            "origin",
        ] {
            assert!(zh.contains(&format!("err.{code}")), "err.{code}");
        }
        // Categories the shipped models map to, named on Live and in events.
        for cat in [
            "person",
            "vehicle.car",
            "vehicle.bus",
            "vehicle.truck",
            "vehicle.motorcycle",
            "vehicle.bicycle",
            "litter.bottle",
            "litter.cup",
            "litter.glass",
            "litter.bag",
            "litter.bulky",
            "road_damage.pothole",
            "road_damage.crack.longitudinal",
            "road_damage.crack.transverse",
            "road_damage.crack.alligator",
            "road_damage.crack.block",
            "road_damage.repair",
            "road_damage.other",
            "object",
        ] {
            assert!(zh.contains(&format!("class.{cat}")), "class.{cat}");
        }
        // ONVIF discovery failures the page words itself (discover.js).
        for reason in [
            "not_authorized",
            "timeout",
            "connection_refused",
            "not_onvif",
        ] {
            assert!(zh.contains(&format!("disc.reason.{reason}")), "{reason}");
        }
        // Built from API values (`t("kind." + e.kind)`): every value needs a text.
        for key in [
            "kind.illegal_parking",
            "kind.exposed_garbage",
            "kind.littering_act",
            "kind.road_damage",
            "phase.started",
            "phase.updated",
            "phase.ended",
            "delivery.pending",
            "delivery.delivered",
            "delivery.evidence_dropped",
            "loss.disk_full",
            "loss.cap",
            "loss.write_failed",
            "dash.uplink_connected",
            "dash.uplink_disconnected",
            "dash.uplink_unavailable",
            "unit.n_seconds",
            "unit.n_minutes",
            "unit.n_hours",
            "unit.n_days",
            "cams.transport_tcp",
            "cams.transport_udp",
            "cams.transport_auto",
            "media.snapshot",
            "media.crop",
            "media.clip",
            "dev.tab.device",
            "dev.tab.uplink",
            "dev.tab.password",
            "dev.tab.config",
            "dev.tab.audit",
            "dropreason.disk_full",
            "dropreason.cap",
            "dropreason.write_failed",
            "zones.rule.no_parking",
            "zones.rule.litter_watch",
            "zones.rule.road_watch",
            "zones.rule.privacy",
            "logs.level.error",
            "logs.level.warn",
            "logs.level.info",
            "logs.level.debug",
            "logs.level.trace",
            "devx.model_id",
            "devx.model_version",
            "devx.model_sha",
            "devx.model_ep",
            "uplink.tls.ca",
            "uplink.tls.client_cert",
            "uplink.tls.client_key",
            "uplink.reason.invalid",
            "uplink.reason.connection_refused",
            "uplink.reason.unreachable",
            "uplink.reason.tls",
            "uplink.reason.bad_credentials",
            "uplink.reason.not_authorized",
            "uplink.reason.timeout",
            "uplink.reason.protocol",
            "uplink.reason.http_auth",
            "uplink.reason.http_server",
            "uplink.sinks.both",
            "uplink.sinks.mqtt",
            "uplink.sinks.http",
            "uplink.sinks.none",
            "uplink.http_auth.none",
            "uplink.http_auth.hmac",
            "uplink.http_auth.bearer",
            "uplink.http_auth.mtls",
            "uplink.http_order.upload_first",
            "uplink.http_order.event_first",
        ] {
            assert!(zh.contains(key), "{key}");
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".svg")) {
            // An SVG names its XML namespace with an http URL; it loads nothing.
            assert!(
                !a.body.contains("href") && !a.body.contains("<script"),
                "{}",
                a.name
            );
        }
        let code = ASSETS.iter().filter(|a| !a.name.ends_with(".svg"));
        for src in code.map(|a| a.body).chain([INDEX]) {
            assert!(!src.contains("http://") && !src.contains("https://"));
            assert!(!src.contains("innerHTML"));
        }
        for a in ASSETS {
            assert!(INDEX.contains(&format!("/assets/{}", a.name)), "{}", a.name);
        }
    }
}
