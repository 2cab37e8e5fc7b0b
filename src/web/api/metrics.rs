//! `GET /metrics`: the uplink's health figures as Prometheus text, on the page's port.
//!
//! A scraper cannot log in, so a peer on the box itself (a local Prometheus agent or
//! `curl` over ssh) reads it without a session; from the network it needs one like
//! every other route, because camera names and states are not for the whole LAN.

use super::{ApiError, Peer, Shared, blocking, session_token};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;

/// Whether `peer` may read the metrics.
pub fn may_read(peer: IpAddr, has_session: bool) -> bool {
    has_session || peer.is_loopback() || peer.to_canonical().is_loopback()
}

pub async fn metrics(
    State(st): State<Shared>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    req: Request,
) -> Result<Response, ApiError> {
    let has_session = session_token(req.headers()).is_some_and(|t| st.sessions.get(&t).is_some());
    if !may_read(client.ip(), has_session) {
        return Err(ApiError::Unauthenticated {
            setup_required: st.creds.setup_required(),
        });
    }
    let text = blocking(move || Ok(st.backend.metrics())).await?;
    match text {
        Some(t) => Ok((
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            t,
        )
            .into_response()),
        None => Err(ApiError::NotFound(
            "no metrics: the uplink is not running (see the log)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_needs_a_session_the_box_itself_does_not() {
        assert!(may_read("127.0.0.1".parse().unwrap(), false));
        assert!(may_read("::1".parse().unwrap(), false));
        assert!(may_read("::ffff:127.0.0.1".parse().unwrap(), false));
        assert!(!may_read("192.168.1.20".parse().unwrap(), false));
        assert!(!may_read("::ffff:192.168.1.20".parse().unwrap(), false));
        assert!(may_read("192.168.1.20".parse().unwrap(), true));
    }
}
