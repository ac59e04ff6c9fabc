-- Where each webhook sink (`[[watch.webhooks]]`, by name) stands in the change log: every
-- change up to `revision` has been delivered (or given up). Written after each page it
-- delivers, read when the server starts, so that changes committed while a server was
-- down or restarting are still sent.
CREATE TABLE webhook_cursors (
    name     TEXT   NOT NULL PRIMARY KEY,
    revision BIGINT NOT NULL
);
