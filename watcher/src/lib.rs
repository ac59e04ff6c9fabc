//! The results watcher: a Kubernetes controller that uploads TaskRuns and PipelineRuns to
//! `results-api` over gRPC. Not built yet: this crate fixes its place in the workspace
//! (it depends only on the wire contract of `results-grpc`, never on storage).

pub use results_grpc::pb;
