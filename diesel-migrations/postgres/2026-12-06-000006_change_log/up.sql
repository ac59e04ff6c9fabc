-- The change log: one row per committed change of a Result or Record, written in the same
-- transaction as the change, read by watch streams and webhook sinks, pruned by age and
-- size. `record_name` is '' for a Result's change; `kind` 1 added, 2 modified, 3 deleted;
-- `object` is the object after the change (before it, for a deletion), encoded by
-- storage/src/model/change.rs.
CREATE TABLE changes (
    revision    BIGINT  NOT NULL PRIMARY KEY,
    parent      TEXT    NOT NULL,
    result_name TEXT    NOT NULL,
    record_name TEXT    NOT NULL,
    kind        INTEGER NOT NULL,
    change_time BIGINT  NOT NULL,
    object      BYTEA   NOT NULL
);
-- The newest revision assigned and how far the log is pruned. Every writing transaction
-- bumps `revision` last, just before it commits: the row lock orders commits, so revisions
-- are committed in increasing order and a reader that sees revision N sees all before it.
CREATE TABLE change_log_head (
    id             INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    revision       BIGINT  NOT NULL,
    pruned_through BIGINT  NOT NULL
);
INSERT INTO change_log_head (id, revision, pruned_through) VALUES (1, 0, 0);
-- Objects are documents like records.data: compressed with lz4 where the server has it
-- (pglz costs several times more CPU per write; see 2026-11-29-000004_lz4_documents).
DO $$
BEGIN
  ALTER TABLE changes ALTER COLUMN object SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  RAISE NOTICE 'lz4 is not available; change objects stay pglz-compressed';
END
$$;
