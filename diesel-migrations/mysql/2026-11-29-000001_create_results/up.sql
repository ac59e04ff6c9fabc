-- Results and Records. Times are Unix nanoseconds (BIGINT) on every backend, so the etag
-- "<uid>-<update_time ns>" is computed from exactly what is stored. Names and ids are
-- ASCII with binary collation (byte order, case-sensitive), as on the other backends.
CREATE TABLE results (
    id                  VARCHAR(36)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    parent              VARCHAR(63)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name                VARCHAR(63)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    annotations         JSON         NOT NULL,
    summary_record      VARCHAR(300) CHARACTER SET ascii COLLATE ascii_bin,
    summary_type        VARCHAR(768) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    summary_status      INTEGER,
    summary_start_time  BIGINT,
    summary_end_time    BIGINT,
    summary_annotations JSON,
    create_time         BIGINT       NOT NULL,
    update_time         BIGINT       NOT NULL,
    UNIQUE KEY results_by_name (parent, name),
    KEY results_by_parent_create_time (parent, create_time, id),
    KEY results_by_parent_update_time (parent, update_time, id),
    KEY results_by_create_time (create_time, id),
    KEY results_by_update_time (update_time, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE records (
    id          VARCHAR(36)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    result_id   VARCHAR(36)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    parent      VARCHAR(63)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    result_name VARCHAR(63)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name        VARCHAR(63)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    data_type   VARCHAR(768) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    data        JSON,
    create_time BIGINT       NOT NULL,
    update_time BIGINT       NOT NULL,
    UNIQUE KEY records_by_name (parent, result_name, name),
    KEY records_by_result_create_time (parent, result_name, create_time, id),
    KEY records_by_result_update_time (parent, result_name, update_time, id),
    KEY records_by_parent_create_time (parent, create_time, id),
    KEY records_by_create_time (create_time, id),
    KEY records_by_update_time (update_time, id),
    KEY records_by_type (data_type(191), create_time, id),
    CONSTRAINT records_result FOREIGN KEY (result_id) REFERENCES results (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
