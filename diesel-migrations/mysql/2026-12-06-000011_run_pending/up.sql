-- PostgreSQL and SQLite get a partial index here, records_run_pending, for the backfill
-- of the run_* columns (storage/src/store/run_columns.rs, pending_ids). MySQL/MariaDB have
-- no partial indexes, and a full index on run_state would cost every write a btree
-- insert for a scan that only reads ids: the scan walks the primary key, which holds no
-- document (they are stored off-page). Nothing changes; the migration keeps the
-- backends' migration versions the same.
DO 0;
