DROP INDEX results_by_summary_start_time;
DROP INDEX results_by_summary_status;
DROP INDEX results_annotations_gin;
DROP INDEX records_data_gin;
