-- Where each webhook sink (`[[watch.webhooks]]`, by name) stands in the change log: every
-- change up to `revision` has been delivered (or given up). Written after each page it
-- delivers, read when the server starts, so that changes committed while a server was
-- down or restarting are still sent. Names are checked at start-up: [A-Za-z0-9_.-]{1,63}.
CREATE TABLE webhook_cursors (
    name     VARCHAR(63) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    revision BIGINT      NOT NULL
) ENGINE = InnoDB;
