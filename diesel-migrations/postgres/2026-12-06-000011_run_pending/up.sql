-- The Records whose run_* columns are not extracted yet (run_state NULL: written before
-- 000010_run_columns, or by a replica of an older version during a rolling upgrade).
-- The backfill that runs at every start scans them in id order
-- (storage/src/store/run_columns.rs, pending_ids); without this index that scan read every
-- row of records at every start, long after the last one was filled. Extracted rows
-- always have a run_state, so once the backfill is done this index is empty and costs
-- writes nothing.
CREATE INDEX records_run_pending ON records (id) WHERE run_state IS NULL;
