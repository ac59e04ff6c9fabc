-- The size in bytes of each Record's document as the database hands it back (on
-- PostgreSQL a bound never below it), written with the document so that a listing bounds
-- its pages by bytes without measuring every document (storage/src/store/stored_size.rs).
-- Rows written before this migration keep NULL and are measured when listed.
-- A nullable column without a default changes only the catalog: no table rewrite.
ALTER TABLE records ADD COLUMN data_bytes BIGINT;
