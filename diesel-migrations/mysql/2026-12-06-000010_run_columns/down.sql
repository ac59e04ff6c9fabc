ALTER TABLE records
  DROP COLUMN run_end,
  DROP COLUMN run_start,
  DROP COLUMN run_reason,
  DROP COLUMN run_state;
