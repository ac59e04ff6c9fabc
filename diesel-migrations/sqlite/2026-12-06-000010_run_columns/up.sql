-- What GetRecordListSummary reads of each Record's document, extracted once when the
-- document is written (storage/src/store/run_columns.rs), so that summaries aggregate
-- integers in SQL instead of reading and parsing JSON per row (storage/src/store/summary.rs):
-- run_state: NULL when not extracted yet (rows written before this migration, until the
--   backfill reaches them), 1 when the columns below say all a summary needs, 0 when the
--   row must be folded in Rust from its document (a time before 1970 or beyond i64
--   nanoseconds, a leap second, a document of an odd shape);
-- run_reason: the class of status.conditions[0].reason (1 succeeded, 2 failed,
--   3 cancelled, 4 running, 5 other);
-- run_start, run_end: status.startTime and status.completionTime in Unix nanoseconds,
--   NULL when absent or not a time.
-- ADD COLUMN changes only the schema; existing rows read NULL without being rewritten.
ALTER TABLE records ADD COLUMN run_state SMALLINT;
ALTER TABLE records ADD COLUMN run_reason SMALLINT;
ALTER TABLE records ADD COLUMN run_start BIGINT;
ALTER TABLE records ADD COLUMN run_end BIGINT;
