-- Results and Records. Times are Unix nanoseconds (BIGINT) on every backend, so the etag
-- "<uid>-<update_time ns>" is computed from exactly what is stored.
CREATE TABLE results (
    id                  TEXT    NOT NULL PRIMARY KEY,
    parent              TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    annotations         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(annotations)),
    summary_record      TEXT,
    summary_type        TEXT,
    summary_status      INTEGER,
    summary_start_time  BIGINT,
    summary_end_time    BIGINT,
    summary_annotations TEXT    CHECK (summary_annotations IS NULL OR json_valid(summary_annotations)),
    create_time         BIGINT  NOT NULL,
    update_time         BIGINT  NOT NULL
);
CREATE UNIQUE INDEX results_by_name ON results (parent, name);
CREATE INDEX results_by_parent_create_time ON results (parent, create_time, id);
CREATE INDEX results_by_parent_update_time ON results (parent, update_time, id);
CREATE INDEX results_by_create_time ON results (create_time, id);
CREATE INDEX results_by_update_time ON results (update_time, id);

CREATE TABLE records (
    id          TEXT   NOT NULL PRIMARY KEY,
    result_id   TEXT   NOT NULL REFERENCES results (id) ON DELETE CASCADE,
    parent      TEXT   NOT NULL,
    result_name TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    data_type   TEXT   NOT NULL DEFAULT '',
    data        TEXT   CHECK (data IS NULL OR json_valid(data)),
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE UNIQUE INDEX records_by_name ON records (parent, result_name, name);
CREATE INDEX records_by_result_create_time ON records (parent, result_name, create_time, id);
CREATE INDEX records_by_result_update_time ON records (parent, result_name, update_time, id);
CREATE INDEX records_by_parent_create_time ON records (parent, create_time, id);
CREATE INDEX records_by_create_time ON records (create_time, id);
CREATE INDEX records_by_update_time ON records (update_time, id);
CREATE INDEX records_by_type ON records (data_type, create_time, id);
CREATE INDEX records_by_result_id ON records (result_id);
