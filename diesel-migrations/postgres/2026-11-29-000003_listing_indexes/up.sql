-- Indexes that let common listings walk an index in the requested order, so a page reads
-- about a page of rows however large the table grows (storage/src/store/plan_shapes.rs
-- checks the plans):
-- * Records of one namespace by update_time, and of one namespace with one data_type
--   (e.g. its PipelineRuns), ordered by create_time;
-- * Results of one namespace with one summary status (e.g. its failures);
-- * Results ordered by summary.start_time / summary.end_time, in one namespace or all.
--   The listing sorts these absent-first by the expressions below (see
--   `expressions` in storage/src/store/list.rs); an index must repeat them exactly.
CREATE INDEX records_by_parent_update_time ON records (parent, update_time, id COLLATE "C");
CREATE INDEX records_by_parent_type ON records (parent, data_type, create_time, id COLLATE "C");
CREATE INDEX results_by_parent_status ON results (parent, summary_status, create_time, id COLLATE "C");
CREATE INDEX results_by_parent_start_time ON results (parent,
    (CASE WHEN summary_start_time IS NULL THEN 0 ELSE 1 END), (COALESCE(summary_start_time, 0)),
    id COLLATE "C");
CREATE INDEX results_by_parent_end_time ON results (parent,
    (CASE WHEN summary_end_time IS NULL THEN 0 ELSE 1 END), (COALESCE(summary_end_time, 0)),
    id COLLATE "C");
CREATE INDEX results_by_start_time ON results (
    (CASE WHEN summary_start_time IS NULL THEN 0 ELSE 1 END), (COALESCE(summary_start_time, 0)),
    id COLLATE "C");
CREATE INDEX results_by_end_time ON results (
    (CASE WHEN summary_end_time IS NULL THEN 0 ELSE 1 END), (COALESCE(summary_end_time, 0)),
    id COLLATE "C");
