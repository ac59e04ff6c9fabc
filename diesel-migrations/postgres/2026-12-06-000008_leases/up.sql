-- Leases: which replica holds a named job (e.g. `retention`) until when. Taken, renewed
-- and released by single conditional statements (see storage/src/store/leases.rs).
-- `expires` is Unix nanoseconds.
CREATE TABLE leases (
    name    TEXT   NOT NULL PRIMARY KEY,
    holder  TEXT   NOT NULL,
    expires BIGINT NOT NULL
);
