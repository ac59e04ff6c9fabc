//! A fake Kubernetes API server for end-to-end tests of controllers: generic resources
//! (`/apis/{group}/{version}/…`, objects as JSON) with list, watch, get, create, replace,
//! patch, server-side apply, delete, finalizers and garbage collection, in the wire format
//! kube-rs consumes.

mod delete;
mod handle;
mod http;
mod managed;
mod meta;
mod requests;
mod selector;
mod shared;
mod status;
mod store;
mod watch;
mod writes;

pub use handle::{FakeKube, CREATE_MANAGER, UPDATE_MANAGER};
pub use http::WriteRequest;
