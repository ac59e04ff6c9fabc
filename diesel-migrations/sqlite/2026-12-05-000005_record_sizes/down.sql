ALTER TABLE records DROP COLUMN data_bytes;
