//! The name a step's log is uploaded under:
//! `<parent>/results/<result>/logs/<taskrun-record>/<container>`.

use crate::run::{is_segment, Names};

/// The log name of the step running in `container` of the TaskRun stored at `names`; `None`
/// when the container name, lower-cased, is not a name segment (`[a-z0-9_-]{1,63}`).
pub fn log_name(names: &Names, container: &str) -> Option<String> {
    let container = container.to_ascii_lowercase();
    if !is_segment(&container) {
        return None;
    }
    let record = names.record.rsplit('/').next()?;
    Some(format!("{}/logs/{record}/{container}", names.result))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            result: "ci/results/pr-uid".into(),
            record: "ci/results/pr-uid/records/tr-uid".into(),
        }
    }

    #[test]
    fn a_step_log_is_named_after_the_task_run_record_and_its_container() {
        assert_eq!(
            log_name(&names(), "step-build").as_deref(),
            Some("ci/results/pr-uid/logs/tr-uid/step-build")
        );
        assert_eq!(
            log_name(&names(), "Step-Build").as_deref(),
            Some("ci/results/pr-uid/logs/tr-uid/step-build")
        );
    }

    #[test]
    fn containers_that_are_no_name_segment_have_no_log_name() {
        for container in ["", "step.build", "step/build", "stép", &"s".repeat(64)] {
            assert_eq!(log_name(&names(), container), None, "{container:?}");
        }
        assert!(log_name(&names(), &"s".repeat(63)).is_some());
    }
}
