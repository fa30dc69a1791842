//! `GET /healthz` (the process answers) and `GET /readyz` (the store answers, every
//! connection actor runs and, on a clustered instance, its leases were renewed within a
//! lease), for load balancers and process supervisors.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{AdminState, ApiError};
use crate::cluster::readiness::unready;
use crate::status::ConnectionState;

/// Adds the health routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let reasons = unready_reasons(&state).await?;
    Ok(if reasons.is_empty() {
        HttpResponse::Ok().json(json!({ "ready": true }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "ready": false, "reasons": reasons }))
    })
}

/// Why this instance is not ready, one sentence each; empty when it is. `/readyz` answers
/// them and `/metrics` counts them (`courier_ready`), so both always agree.
pub(super) async fn unready_reasons(state: &AdminState) -> Result<Vec<String>, ApiError> {
    let mut reasons = Vec::new();
    if let Err(err) = state.store.check().await {
        // Its text starts with "store:".
        reasons.push(err.to_string());
    }
    let alive = state.control.liveness().await?;
    let snapshot = state.board.snapshot();
    for (id, running) in &alive {
        let state = snapshot.connections.get(id).map(|c| &c.state);
        if !running {
            reasons.push(format!("connection {id}: its actor is not running"));
        } else if let Some(ConnectionState::Restarting | ConnectionState::Stopped) = state {
            reasons.push(format!("connection {id}: {}", state_word(state)));
        }
    }
    if let Some(cluster) = &state.cluster {
        let now = state.operations.clock().now();
        // No lease known means the actor tree is gone, which `liveness` answered already.
        if let Some(lease) = state.operations.lease().await {
            reasons.extend(unready(&cluster.snapshot(), lease, now));
        }
    }
    Ok(reasons)
}

fn state_word(state: Option<&ConnectionState>) -> &'static str {
    match state {
        Some(ConnectionState::Restarting) => "restarting after a failure",
        Some(ConnectionState::Stopped) => "stopped",
        _ => "not running",
    }
}

#[cfg(test)]
mod tests;
