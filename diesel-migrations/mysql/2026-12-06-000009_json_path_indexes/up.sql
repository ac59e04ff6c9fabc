-- Which path each indexed-JSON-path slot holds (see storage/src/json_indexes.rs): the
-- slots' generated columns and indexes are made at start-up from
-- `[database] indexed_json_paths`, and this table says what they were made for. `path`
-- is the JSON path text (`$."status"."conditions"[0]."reason"`).
CREATE TABLE json_path_indexes (
    slot INTEGER      NOT NULL PRIMARY KEY,
    path VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
) ENGINE = InnoDB;
