DROP INDEX results_by_end_time;
DROP INDEX results_by_start_time;
DROP INDEX results_by_parent_end_time;
DROP INDEX results_by_parent_start_time;
DROP INDEX results_by_parent_status;
DROP INDEX records_by_parent_type;
DROP INDEX records_by_parent_update_time;
