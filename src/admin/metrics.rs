//! `GET /metrics`: the Prometheus text exposition of [`crate::metrics`].

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};

use super::AdminState;
use crate::metrics::exposition::{render, Scrape, CONTENT_TYPE};

/// Adds the metrics route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

async fn metrics(state: web::Data<AdminState>) -> HttpResponse {
    let mut status = state.board.snapshot();
    let store = state.store.clone();
    status.store = store.health();
    let cluster = state.cluster.as_ref().map(|board| board.snapshot());
    let text = render(
        &Scrape {
            status: &status,
            pending: &|id| store.backlog(id).ok().map(|(count, _)| count as usize),
            now: state.operations.clock().now(),
            cluster: cluster.as_ref(),
        },
        state.board.meters(),
    );
    HttpResponse::Ok()
        .insert_header(ContentType(
            CONTENT_TYPE.parse().expect("a valid media type"),
        ))
        .body(text)
}
