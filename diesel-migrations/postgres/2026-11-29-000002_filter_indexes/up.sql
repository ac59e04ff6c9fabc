-- Indexes for common filters: GIN for containment pre-filters on record data and result
-- annotations (equality filters add `data @> {…}`), and summary fields of Results.
CREATE INDEX records_data_gin ON records USING GIN (data jsonb_path_ops);
CREATE INDEX results_annotations_gin ON results USING GIN (annotations jsonb_path_ops);
CREATE INDEX results_by_summary_status ON results (summary_status, create_time, id COLLATE "C");
CREATE INDEX results_by_summary_start_time ON results (summary_start_time);
