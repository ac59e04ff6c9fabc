DROP TABLE json_path_indexes;
