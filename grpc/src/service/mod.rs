//! The RPCs: [`ResultsApi`] holds the logic both front-ends share; the tonic services
//! are thin adapters over it.

mod api;
mod fences;
mod logs;
mod results;
mod watch;

pub use api::{ResultsApi, WatchStream};
pub use logs::{LogsService, LOG_CONTENT_TYPE};
pub use results::ResultsService;
pub use watch::WatchService;
