//! "Test connection" for the broker settings on the technician page: one real MQTT
//! connect (TCP, TLS when configured, CONNECT/CONNACK) with the given settings and a
//! bounded wait, reporting exactly what failed.
//!
//! It connects under `<client id>-test` with a clean session, so testing from the page
//! never takes over the running uplink's persistent session on the broker.

use super::config::UplinkConfig;
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, Incoming, MqttOptions};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Why a test connection failed: a fixed code the page translates, and a message
/// with the details (never the password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ConnectFailure {
    /// `invalid`, `connection_refused`, `unreachable`, `tls`, `bad_credentials`,
    /// `not_authorized`, `timeout` or `protocol`.
    pub reason: &'static str,
    pub message: String,
}

fn fail(reason: &'static str, message: impl Into<String>) -> ConnectFailure {
    ConnectFailure {
        reason,
        message: message.into(),
    }
}

/// MQTT options for a one-off connect with `cfg`.
fn options(cfg: &UplinkConfig, device_id: &str) -> Result<MqttOptions, ConnectFailure> {
    let addr = cfg
        .broker_addr()
        .map_err(|e| fail("invalid", e))?
        .ok_or_else(|| {
            fail(
                "invalid",
                "no broker set: enter mqtt://host[:port] or mqtts://…",
            )
        })?;
    let id = format!("{}-test", cfg.client_id.as_deref().unwrap_or(device_id));
    let mut o = MqttOptions::new(id, addr.host.clone(), addr.port);
    o.set_clean_session(true);
    o.set_keep_alive(Duration::from_secs(5));
    if let Some(user) = &cfg.username {
        o.set_credentials(user.clone(), cfg.password.clone().unwrap_or_default());
    }
    if addr.tls {
        let tls = cfg.tls.as_ref().ok_or_else(|| {
            fail(
                "tls",
                "mqtts:// needs the CA certificate that signed the broker's certificate: upload it first",
            )
        })?;
        let client = super::tls::client_config(tls).map_err(|e| fail("tls", e.to_string()))?;
        o.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(client)),
        ));
    }
    Ok(o)
}

fn describe(e: ConnectionError, host: &str, with_credentials: bool) -> ConnectFailure {
    match e {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => fail(
            "bad_credentials",
            "the broker refused the connection: bad username or password",
        ),
        // Mosquitto and others answer a wrong password with "not authorised" (MQTT
        // 3.1.1 code 5) rather than code 4: with credentials sent, that is what it means.
        ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized)
            if with_credentials =>
        {
            fail(
                "bad_credentials",
                "the broker refused the connection (not authorised): bad username or password",
            )
        }
        ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => fail(
            "not_authorized",
            "the broker refused the connection (not authorised): it needs a username and password or a client certificate",
        ),
        ConnectionError::ConnectionRefused(code) => fail(
            "protocol",
            format!("the broker refused the connection ({code:?})"),
        ),
        ConnectionError::Tls(t) => fail(
            "tls",
            format!(
                "TLS handshake with {host} failed: {t} (check the CA certificate, client certificate and key)"
            ),
        ),
        ConnectionError::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => fail(
                "connection_refused",
                format!("connection refused: nothing listens at {host} on that port"),
            ),
            std::io::ErrorKind::TimedOut => {
                fail("timeout", format!("timeout: {host} does not answer"))
            }
            _ => fail("unreachable", format!("cannot reach {host}: {io}")),
        },
        ConnectionError::NetworkTimeout => {
            fail("timeout", format!("timeout: {host} does not answer"))
        }
        other => fail("protocol", format!("broker connection: {other}")),
    }
}

/// Connect to the broker of `cfg` and wait at most `timeout` for its CONNACK.
pub async fn test_connection(
    cfg: &UplinkConfig,
    device_id: &str,
    timeout: Duration,
) -> Result<(), ConnectFailure> {
    let opts = options(cfg, device_id)?;
    let with_credentials = cfg.username.is_some();
    let host = format!("{}:{}", opts.broker_address().0, opts.broker_address().1);
    let (client, mut events) = AsyncClient::new(opts, 1);
    let outcome = tokio::time::timeout(timeout, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(describe(e, &host, with_credentials)),
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        Err(fail(
            "timeout",
            format!(
                "timeout: no MQTT answer from {host} within {} s",
                timeout.as_secs_f64()
            ),
        ))
    });
    if outcome.is_ok() {
        // Polite, but not worth waiting for: the broker drops the clean session anyway.
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_millis(200), events.poll()).await;
    }
    outcome
}

/// What the platform answered a test request: its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HttpAnswer {
    pub status: u16,
}

/// "Test connection" for the HTTP push sink: one `HEAD` to `cfg.url` (nothing is
/// posted, so the platform records no test event) through the sink's own client (its
/// TLS files, no redirects) with the configured auth headers, waiting at most
/// `timeout`. Any answer but 401/403 and 5xx shows the platform reachable; the
/// failures are `connection_refused`, `unreachable`, `tls`, `timeout`, `http_auth`
/// (401/403: the secret, token or client certificate is refused) or `http_server`.
pub async fn test_http(
    cfg: &super::config::HttpConfig,
    timeout: Duration,
) -> Result<HttpAnswer, ConnectFailure> {
    let mut short = cfg.clone();
    short.connect_timeout_s = short.connect_timeout_s.min(timeout.as_secs().max(1));
    short.timeout_s = timeout.as_secs().max(1);
    let client = super::http::client(&short).map_err(|e| fail("tls", e))?;
    let host = cfg
        .endpoint()
        .map(|(_, h, p)| format!("{h}:{p}"))
        .ok_or_else(|| fail("invalid", "the push URL has no host"))?;
    let mut req = client.head(cfg.url.trim());
    if let Some(secret) = &cfg.hmac_secret {
        let t = chrono::Utc::now().timestamp();
        req = req.header(super::http::H_TIMESTAMP, t.to_string()).header(
            super::http::H_SIGNATURE,
            super::http::signature_header(secret, t, b""),
        );
    }
    if let Some(token) = &cfg.bearer_token {
        req = req.bearer_auth(token);
    }
    let status = match tokio::time::timeout(timeout, req.send()).await {
        Err(_) => return Err(fail("timeout", format!("timeout: {host} does not answer"))),
        Ok(Err(e)) => return Err(describe_http(&e, &host)),
        Ok(Ok(resp)) => resp.status().as_u16(),
    };
    match status {
        401 | 403 => Err(fail(
            "http_auth",
            format!(
                "{host} answered {status}: it refuses the signature, token or client certificate"
            ),
        )),
        500..=599 => Err(fail(
            "http_server",
            format!("{host} answered {status}: the platform has a fault"),
        )),
        _ => Ok(HttpAnswer { status }),
    }
}

/// The reason of a failed HTTP request, from the whole chain of causes.
fn describe_http(e: &reqwest::Error, host: &str) -> ConnectFailure {
    let mut chain = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        chain.push_str(": ");
        chain.push_str(&c.to_string());
        cause = c.source();
    }
    let low = chain.to_ascii_lowercase();
    if e.is_timeout() || low.contains("timed out") {
        fail("timeout", format!("timeout: {host} does not answer"))
    } else if low.contains("refused") {
        fail(
            "connection_refused",
            format!("connection refused: nothing listens at {host}"),
        )
    } else if low.contains("certificate") || low.contains("tls") || low.contains("handshake") {
        fail(
            "tls",
            format!(
                "TLS with {host} failed: {chain} (check the CA certificate, client certificate and key)"
            ),
        )
    } else {
        fail("unreachable", format!("cannot reach {host}: {chain}"))
    }
}
