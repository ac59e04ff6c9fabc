-- Compress large documents (TOAST) with lz4 instead of pglz: a 15 KiB TaskRun compresses
-- several times faster, which showed as the largest single cost of a create under load.
-- Rows already stored keep their compression until rewritten. Servers built without lz4
-- keep pglz.
DO $$
BEGIN
  ALTER TABLE records ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  RAISE NOTICE 'lz4 is not available; record data stays pglz-compressed';
END
$$;
