-- The tables of an upstream Tekton Results database, as gorm's AutoMigrate creates them on
-- PostgreSQL from upstream's models (pkg/api/server/db/model.go): `size:N` strings are
-- varchar(N), time.Time and *time.Time timestamptz (default current_timestamp where the
-- model says so), int32 integer, `type:jsonb` fields jsonb; the embedded RecordSummary's
-- columns carry the prefix `recordsummary_`; columns are nullable unless part of the
-- primary key. Written for the import tests; never applied to our own databases.
CREATE TABLE results (
    parent                    varchar(64) NOT NULL,
    id                        varchar(64) NOT NULL,
    name                      varchar(64),
    annotations               jsonb,
    created_time              timestamptz DEFAULT current_timestamp,
    updated_time              timestamptz DEFAULT current_timestamp,
    recordsummary_record      varchar(256),
    recordsummary_type        varchar(768),
    recordsummary_start_time  timestamptz,
    recordsummary_end_time    timestamptz,
    recordsummary_status      integer,
    recordsummary_annotations jsonb,
    etag                      varchar(128),
    PRIMARY KEY (parent, id)
);
CREATE UNIQUE INDEX results_by_name ON results (parent, name);

CREATE TABLE records (
    parent       varchar(64) NOT NULL,
    result_id    varchar(64) NOT NULL,
    result_name  varchar(64),
    id           varchar(64) NOT NULL,
    name         varchar(64),
    type         varchar(768),
    data         jsonb,
    created_time timestamptz DEFAULT current_timestamp,
    updated_time timestamptz DEFAULT current_timestamp,
    etag         varchar(128),
    PRIMARY KEY (parent, result_id, id),
    CONSTRAINT fk_records_result FOREIGN KEY (parent, result_id)
        REFERENCES results (parent, id) ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE UNIQUE INDEX records_by_name ON records (parent, result_name, name);
