DROP TABLE change_log_head;
DROP TABLE changes;
