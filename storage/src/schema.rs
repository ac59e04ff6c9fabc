//! The one diesel schema all three backends share. Times are Unix nanoseconds; JSON
//! columns use [`Json`], the backend's own JSON type.

use crate::json::Json;

diesel::table! {
    use diesel::sql_types::*;
    use super::Json;

    results (id) {
        id -> Text,
        parent -> Text,
        name -> Text,
        annotations -> Json,
        summary_record -> Nullable<Text>,
        summary_type -> Nullable<Text>,
        summary_status -> Nullable<Integer>,
        summary_start_time -> Nullable<BigInt>,
        summary_end_time -> Nullable<BigInt>,
        summary_annotations -> Nullable<Json>,
        create_time -> BigInt,
        update_time -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Json;

    records (id) {
        id -> Text,
        result_id -> Text,
        parent -> Text,
        result_name -> Text,
        name -> Text,
        data_type -> Text,
        data -> Nullable<Json>,
        create_time -> BigInt,
        update_time -> BigInt,
        /// The size of `data` as the backend hands it back (see `store::stored_size`);
        /// NULL for rows written before it was recorded.
        data_bytes -> Nullable<BigInt>,
        /// What summaries read of `data`, extracted when it is written (see
        /// `store::run_columns`): NULL when not extracted yet, 1 when the columns below
        /// hold all a summary needs, 0 when the row is folded from its document.
        run_state -> Nullable<SmallInt>,
        /// The class of `status.conditions[0].reason` (`summary::Class`).
        run_reason -> Nullable<SmallInt>,
        /// `status.startTime` in Unix nanoseconds; NULL when absent or not a time.
        run_start -> Nullable<BigInt>,
        /// `status.completionTime` in Unix nanoseconds; NULL when absent or not a time.
        run_end -> Nullable<BigInt>,
    }
}

diesel::joinable!(records -> results (result_id));
diesel::allow_tables_to_appear_in_same_query!(results, records);

diesel::table! {
    use diesel::sql_types::*;

    /// The change log (see `store::changes`).
    changes (revision) {
        revision -> BigInt,
        parent -> Text,
        result_name -> Text,
        record_name -> Text,
        kind -> Integer,
        change_time -> BigInt,
        object -> Binary,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    /// The change log's one-row head: newest revision, pruned prefix.
    change_log_head (id) {
        id -> Integer,
        revision -> BigInt,
        pruned_through -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    /// Where each webhook sink stands in the change log (see `store::webhook_cursors`).
    webhook_cursors (name) {
        name -> Text,
        revision -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    /// Named leases: one holder at a time (see `store::leases`).
    leases (name) {
        name -> Text,
        holder -> Text,
        expires -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    /// Which JSON path each indexed-path slot holds (see `json_indexes`).
    json_path_indexes (slot) {
        slot -> Integer,
        path -> Text,
    }
}
