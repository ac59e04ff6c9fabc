ALTER TABLE records DROP COLUMN run_end;
ALTER TABLE records DROP COLUMN run_start;
ALTER TABLE records DROP COLUMN run_reason;
ALTER TABLE records DROP COLUMN run_state;
