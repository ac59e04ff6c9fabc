DROP TABLE records;
DROP TABLE results;
