//! First-run setup, login, logout and the session probe.

use super::{ApiError, Peer, Shared, blocking, clear_cookie, parse_json, session_cookie};
use crate::web::auth::{self, ADMIN, HashSlot, InFlightGuard, Session, SetupRefused};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupBody {
    code: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    #[serde(default)]
    username: Option<String>,
    password: String,
}

fn rate_check(st: &Shared, client: SocketAddr) -> Result<(), ApiError> {
    st.limiter
        .check(client.ip())
        .map_err(|wait| ApiError::RateLimited(wait.as_secs().max(1)))
}

/// Admission for a request that hashes a password, in this order: one such request
/// per client address at a time, that address's backoff, then a free hashing slot.
/// Each refusal is immediate (429), so a flood costs neither memory nor waiting
/// threads. The guard must live until the attempt's outcome is recorded.
fn admit(st: &Shared, client: SocketAddr) -> Result<(InFlightGuard, HashSlot), ApiError> {
    let guard = st
        .auth_inflight
        .enter(client.ip())
        .ok_or(ApiError::AuthBusy)?;
    rate_check(st, client)?;
    let slot = st.hashing.try_slot().ok_or_else(|| {
        tracing::debug!(client = %client.ip(), "web: password hashing busy; answered 429");
        ApiError::AuthBusy
    })?;
    Ok((guard, slot))
}

/// Start a session and answer with its cookie and CSRF token.
fn logged_in(st: &Shared, user: &str) -> Response {
    let (token, s) = st.sessions.create(user);
    let mut resp = axum::Json(session_json(&s)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&token, st.sessions.lifetime(), st.tls),
    );
    resp
}

fn session_json(s: &Session) -> serde_json::Value {
    json!({"user": s.user, "csrf_token": s.csrf, "expires_at": s.expires_unix})
}

/// `POST /api/setup`: the setup code and the first admin password.
pub async fn setup(
    State(st): State<Shared>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: SetupBody = parse_json(&body)?;
    if !st.creds.setup_required() {
        return Err(ApiError::SetupDone);
    }
    if let Err((m, h)) = auth::check_password(&b.password) {
        return Err(ApiError::field("password", m, h));
    }
    let (_guard, mut slot) = admit(&st, client)?;
    let st2 = st.clone();
    let result = blocking(move || Ok(st2.creds.setup(&b.code, &b.password, &mut slot))).await?;
    match result {
        Ok(()) => {
            st.limiter.success(client.ip());
            st.record(ADMIN, client, "setup", vec![])?;
            tracing::info!(client = %client.ip(), "web: admin password set; setup code invalidated");
            Ok(logged_in(&st, ADMIN))
        }
        Err(SetupRefused::WrongCode) => {
            st.limiter.failure(client.ip());
            tracing::warn!(client = %client.ip(), "web: wrong setup code");
            Err(ApiError::BadSetupCode)
        }
        Err(SetupRefused::AlreadyDone) => Err(ApiError::SetupDone),
        Err(SetupRefused::Io(e)) => Err(ApiError::Internal(e)),
    }
}

/// `POST /api/login`.
pub async fn login(
    State(st): State<Shared>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: LoginBody = parse_json(&body)?;
    if st.creds.setup_required() {
        return Err(ApiError::SetupRequired);
    }
    let (_guard, mut slot) = admit(&st, client)?;
    let user_ok = b.username.as_deref().is_none_or(|u| u == ADMIN);
    let st2 = st.clone();
    // A wrong user name costs the same hash as a wrong password (no user oracle).
    let verified = blocking(move || Ok(st2.creds.verify(&b.password, &mut slot))).await?;
    let ok = user_ok && verified;
    if !ok {
        st.limiter.failure(client.ip());
        tracing::warn!(client = %client.ip(), "web: failed login");
        return Err(ApiError::BadCredentials);
    }
    st.limiter.success(client.ip());
    tracing::info!(client = %client.ip(), "web: login");
    Ok(logged_in(&st, ADMIN))
}

/// `POST /api/logout`.
pub async fn logout(State(st): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(t) = super::session_token(&headers) {
        st.sessions.remove(&t);
    }
    let mut resp = axum::Json(json!({"ok": true})).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(st.tls));
    resp
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// `POST /api/password`: change the admin password; other sessions end.
pub async fn change_password(
    State(st): State<Shared>,
    Extension(session): Extension<Session>,
    ConnectInfo(Peer(client)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let b: PasswordBody = parse_json(&body)?;
    if let Err((m, h)) = auth::check_password(&b.new_password) {
        return Err(ApiError::field("new_password", m, h));
    }
    let (_guard, slot) = admit(&st, client)?;
    let st2 = st.clone();
    let current = b.current_password;
    // The slot travels into the blocking thread and back: the new hash reuses it.
    let (ok, mut slot) = blocking(move || {
        let mut slot = slot;
        Ok((st2.creds.verify(&current, &mut slot), slot))
    })
    .await?;
    if !ok {
        // A stolen session must not be enough to guess the password at full speed.
        st.limiter.failure(client.ip());
        return Err(ApiError::field(
            "current_password",
            "the current password is wrong",
            "enter the password you logged in with",
        ));
    }
    st.limiter.success(client.ip());
    let st2 = st.clone();
    blocking(move || {
        st2.creds
            .change(&b.new_password, &mut slot)
            .map_err(|e| ApiError::Internal(format!("cannot store the password: {e}")))
    })
    .await?;
    if let Some(t) = super::session_token(&headers) {
        st.sessions.remove_others(&t);
    }
    st.record(&session.user, client, "password.change", vec![])?;
    tracing::info!(client = %client.ip(), "web: admin password changed; other sessions ended");
    Ok(axum::Json(json!({"ok": true})))
}

/// `GET /api/session`: who is logged in, the CSRF token (after a page reload) and
/// the box's clock (`time`: now, time zone and offset), which every page shows its
/// times on.
pub async fn session(
    State(st): State<Shared>,
    Extension(s): Extension<Session>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let tz = blocking(move || Ok(super::settings::box_tz(&st.backend.config()))).await?;
    let mut v = session_json(&s);
    v["time"] = super::settings::clock(tz);
    Ok(axum::Json(v))
}
