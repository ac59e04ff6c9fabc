-- Indexes for common filters on Result summaries (JSON paths are bound parameters, which
-- SQLite expression indexes cannot match).
CREATE INDEX results_by_summary_status ON results (summary_status, create_time, id);
CREATE INDEX results_by_summary_start_time ON results (summary_start_time);
