-- Leases: which replica holds a named job (e.g. `retention`) until when. Taken, renewed
-- and released by single conditional statements (see storage/src/store/leases.rs).
-- `expires` is Unix nanoseconds. Names are written in the code (`retention`), with room
-- for per-sink names (`webhook/<sink>`).
CREATE TABLE leases (
    name    VARCHAR(127) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    holder  VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    expires BIGINT       NOT NULL
) ENGINE = InnoDB;
