-- The change log: one row per committed change of a Result or Record, written in the same
-- transaction as the change, read by watch streams and webhook sinks, pruned by age and
-- size. `record_name` is '' for a Result's change; `kind` 1 added, 2 modified, 3 deleted;
-- `object` is the object after the change (before it, for a deletion), encoded by
-- storage/src/model/change.rs.
CREATE TABLE changes (
    revision    BIGINT       NOT NULL PRIMARY KEY,
    parent      VARCHAR(63)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    result_name VARCHAR(63)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    record_name VARCHAR(63)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    kind        INTEGER      NOT NULL,
    change_time BIGINT       NOT NULL,
    object      LONGBLOB     NOT NULL
) ENGINE = InnoDB;
-- The newest revision assigned and how far the log is pruned. Every writing transaction
-- bumps `revision` last, just before it commits: the row lock orders commits, so revisions
-- are committed in increasing order and a reader that sees revision N sees all before it.
CREATE TABLE change_log_head (
    id             INTEGER NOT NULL PRIMARY KEY,
    revision       BIGINT  NOT NULL,
    pruned_through BIGINT  NOT NULL
) ENGINE = InnoDB;
INSERT INTO change_log_head (id, revision, pruned_through) VALUES (1, 0, 0);
