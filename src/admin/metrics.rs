//! `GET /metrics`: the Prometheus text exposition of [`crate::metrics`].

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};

use super::health::unready_reasons;
use super::AdminState;
use crate::metrics::exposition::{render, Scrape, CONTENT_TYPE};

/// Adds the metrics route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

async fn metrics(state: web::Data<AdminState>) -> HttpResponse {
    // An actor tree that cannot answer is not ready either.
    let ready = unready_reasons(&state)
        .await
        .is_ok_and(|reasons| reasons.is_empty());
    let mut status = state.board.snapshot();
    // Fills in the destinations' backlogs and the store's health, as `/status` shows them.
    let backlogs = state.control.fill_backlogs(&mut status, &state.store);
    let cluster = state.cluster.as_ref().map(|board| board.snapshot());
    let text = render(
        &Scrape {
            status: &status,
            pending: &|id| backlogs.get(id).map(|count| *count as usize),
            now: state.operations.clock().now(),
            cluster: cluster.as_ref(),
            ready,
        },
        state.board.meters(),
    );
    HttpResponse::Ok()
        .insert_header(ContentType(
            CONTENT_TYPE.parse().expect("a valid media type"),
        ))
        .body(text)
}
