DROP INDEX results_by_summary_start_time ON results;
DROP INDEX results_by_summary_status ON results;
