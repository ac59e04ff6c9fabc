-- Indexes that let common listings walk an index in the requested order, so a page reads
-- about a page of rows however large the table grows (storage/src/store/plan_shapes.rs
-- checks the plans):
-- * Records of one namespace by update_time, and of one namespace with one data_type
--   (e.g. its PipelineRuns), ordered by create_time;
-- * Results of one namespace with one summary status (e.g. its failures);
-- * Results ordered by summary.start_time / summary.end_time, in one namespace or all.
--   These sort absent-first by two keys, presence then value. MariaDB indexes no
--   expressions, so generated columns hold the keys and the listing orders by them on
--   this backend (see `expressions` in storage/src/store/list.rs). They are VIRTUAL:
--   computed, never written, and not in schema.rs.
ALTER TABLE records
    ADD INDEX records_by_parent_update_time (parent, update_time, id),
    ADD INDEX records_by_parent_type (parent, data_type(191), create_time, id);
ALTER TABLE results
    ADD COLUMN summary_start_set TINYINT
        AS (CASE WHEN summary_start_time IS NULL THEN 0 ELSE 1 END) VIRTUAL,
    ADD COLUMN summary_start_key BIGINT AS (COALESCE(summary_start_time, 0)) VIRTUAL,
    ADD COLUMN summary_end_set TINYINT
        AS (CASE WHEN summary_end_time IS NULL THEN 0 ELSE 1 END) VIRTUAL,
    ADD COLUMN summary_end_key BIGINT AS (COALESCE(summary_end_time, 0)) VIRTUAL,
    ADD INDEX results_by_parent_status (parent, summary_status, create_time, id),
    ADD INDEX results_by_parent_start_time (parent, summary_start_set, summary_start_key, id),
    ADD INDEX results_by_parent_end_time (parent, summary_end_set, summary_end_key, id),
    ADD INDEX results_by_start_time (summary_start_set, summary_start_key, id),
    ADD INDEX results_by_end_time (summary_end_set, summary_end_key, id);
