//! `GET /status`: the status board as JSON, with each connection's and each destination's
//! backlog (containers stored and not yet delivered) read from the store, and each
//! destination's state (healthy, failing, paused) with its reason and since when. On a
//! clustered instance a `cluster` object is added ([`super::cluster`]); the connections are
//! then this instance's own work, and the other instances' work is on their own `/status`.

use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::AdminState;

/// Adds the status route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/status", web::get().to(status));
}

async fn status(state: web::Data<AdminState>) -> HttpResponse {
    HttpResponse::Ok().json(status_json(&state))
}

/// The board's snapshot with `backlog` added to every connection and filled in for every
/// destination (with the age of its oldest pending container), and `cluster` when clustered.
pub fn status_json(state: &AdminState) -> Value {
    let mut snapshot = state.board.snapshot();
    let backlogs = state.control.fill_backlogs(&mut snapshot, &state.store);
    let mut json = serde_json::to_value(&snapshot).expect("the status board serializes");
    if let Some(connections) = json["connections"].as_object_mut() {
        for (id, connection) in connections.iter_mut() {
            connection["backlog"] = backlogs.get(id).copied().into();
        }
    }
    if let Some(cluster) = &state.cluster {
        let now = state.operations.clock().now();
        json["cluster"] = super::cluster::cluster_json(&cluster.snapshot(), now);
    }
    json
}
