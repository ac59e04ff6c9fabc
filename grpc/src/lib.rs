//! Wire contract of Tekton Results `v1alpha2` and, with the `server` feature, the gRPC and
//! REST front-ends of `results-api`.
pub mod pb;
