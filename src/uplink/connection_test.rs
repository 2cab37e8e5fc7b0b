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
