//! The REST/JSON gateway (actix-web) over the same [`ResultsApi`] as gRPC, at the
//! upstream paths under `/apis/results.tekton.dev/v1alpha2`.

mod budget;
mod handlers;
mod json;
mod watch;

use actix_web::web;

use crate::service::ResultsApi;
pub use budget::{hold_answers, BodyLimits};
pub use json::change_object_json;

/// Path prefix of every REST route.
pub const PREFIX: &str = "/apis/results.tekton.dev/v1alpha2";

/// Registers the routes; `limits` bound request bodies.
pub fn configure(api: ResultsApi, limits: BodyLimits) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(api))
            .app_data(web::Data::new(limits))
            .route("/healthz", web::get().to(handlers::healthz))
            .service(
                web::scope(PREFIX)
                    .route("/parents", web::get().to(handlers::list_parents))
                    .route(
                        "/parents/{parent}/results",
                        web::post().to(handlers::create_result),
                    )
                    .route(
                        "/parents/{parent}/results",
                        web::get().to(handlers::list_results),
                    )
                    .route(
                        "/parents/{parent}/results/{result}",
                        web::get().to(handlers::get_result),
                    )
                    .route(
                        "/parents/{parent}/results/{result}",
                        web::patch().to(handlers::update_result),
                    )
                    .route(
                        "/parents/{parent}/results/{result}",
                        web::delete().to(handlers::delete_result),
                    )
                    .route(
                        "/parents/{parent}/results/{result}/records",
                        web::post().to(handlers::create_record),
                    )
                    .route(
                        "/parents/{parent}/results/{result}/records",
                        web::get().to(handlers::list_records),
                    )
                    .route(
                        "/parents/{parent}/results/{result}/records/summary",
                        web::get().to(handlers::record_list_summary),
                    )
                    .route(
                        "/parents/{parent}/results/{result}/records/{record}",
                        web::get().to(handlers::get_record),
                    )
                    .route(
                        "/parents/{parent}/results/{result}/records/{record}",
                        web::patch().to(handlers::update_record),
                    )
                    .route(
                        "/parents/{parent}/results/{result}/records/{record}",
                        web::delete().to(handlers::delete_record),
                    )
                    .route(
                        "/parents/{parent}/results/{result}/logs",
                        web::get().to(handlers::list_logs),
                    )
                    .route(
                        "/parents/{parent}/results/{result}/logs/{record}",
                        web::get().to(handlers::get_log),
                    )
                    .route(
                        "/parents/{parent}/results/{result}/logs/{record}/{part}",
                        web::get().to(handlers::get_log),
                    )
                    .route(
                        "/parents/{parent}/results/{result}/logs/{record}",
                        web::delete().to(handlers::delete_log),
                    )
                    .route(
                        "/parents/{parent}/results/{result}/logs/{record}/{part}",
                        web::delete().to(handlers::delete_log),
                    )
                    .configure(|scope| {
                        // A known path with a method it does not take: UNIMPLEMENTED (501),
                        // as upstream's gateway answers, not "no route" (404).
                        for path in ROUTED_PATHS {
                            scope.route(path, web::route().to(handlers::method_not_allowed));
                        }
                    })
                    .default_service(web::to(handlers::not_found)),
            );
    }
}

/// Every path with a route above (`…/records/summary` is also `…/records/{record}`).
const ROUTED_PATHS: [&str; 8] = [
    "/parents",
    "/parents/{parent}/results",
    "/parents/{parent}/results/{result}",
    "/parents/{parent}/results/{result}/records",
    "/parents/{parent}/results/{result}/records/{record}",
    "/parents/{parent}/results/{result}/logs",
    "/parents/{parent}/results/{result}/logs/{record}",
    "/parents/{parent}/results/{result}/logs/{record}/{part}",
];
