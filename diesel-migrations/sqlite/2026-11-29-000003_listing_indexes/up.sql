-- Indexes that let common listings walk an index in the requested order, so a page reads
-- about a page of rows however large the table grows (storage/src/store/plan_shapes.rs
-- checks the plans):
-- * Records of one namespace by update_time, and of one namespace with one data_type
--   (e.g. its PipelineRuns), ordered by create_time;
-- * Results of one namespace with one summary status (e.g. its failures);
-- * Results ordered by summary.start_time / summary.end_time, in one namespace or all.
--   These sort absent-first by two keys, presence then value. SQLite cannot seek a row
--   value of indexed expressions, so generated columns hold the keys and the listing
--   orders by them on this backend (see `expressions` in storage/src/store/list.rs).
--   They are VIRTUAL: computed, never written, and not in schema.rs.
CREATE INDEX records_by_parent_update_time ON records (parent, update_time, id);
CREATE INDEX records_by_parent_type ON records (parent, data_type, create_time, id);
CREATE INDEX results_by_parent_status ON results (parent, summary_status, create_time, id);
ALTER TABLE results ADD COLUMN summary_start_set INTEGER
    GENERATED ALWAYS AS (CASE WHEN summary_start_time IS NULL THEN 0 ELSE 1 END) VIRTUAL;
ALTER TABLE results ADD COLUMN summary_start_key BIGINT
    GENERATED ALWAYS AS (COALESCE(summary_start_time, 0)) VIRTUAL;
ALTER TABLE results ADD COLUMN summary_end_set INTEGER
    GENERATED ALWAYS AS (CASE WHEN summary_end_time IS NULL THEN 0 ELSE 1 END) VIRTUAL;
ALTER TABLE results ADD COLUMN summary_end_key BIGINT
    GENERATED ALWAYS AS (COALESCE(summary_end_time, 0)) VIRTUAL;
CREATE INDEX results_by_parent_start_time
    ON results (parent, summary_start_set, summary_start_key, id);
CREATE INDEX results_by_parent_end_time ON results (parent, summary_end_set, summary_end_key, id);
CREATE INDEX results_by_start_time ON results (summary_start_set, summary_start_key, id);
CREATE INDEX results_by_end_time ON results (summary_end_set, summary_end_key, id);
