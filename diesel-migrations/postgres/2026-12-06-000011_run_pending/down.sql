DROP INDEX records_run_pending;
