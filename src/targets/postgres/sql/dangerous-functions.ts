// A default deny list of functions, as globs over the schema-qualified names the analysis
// reports ("pg_catalog.pg_read_file", "public.dblink"). `*` matches any run of characters;
// each pattern starts with "*." so it matches whichever schema a candidate names (an
// unqualified call reports pg_catalog and every search_path schema). These functions reach
// past what relation rules can see: the server's files and processes, other databases, data
// read by a query hidden in a string, or the session's name resolution itself. Some entries
// name pseudo functions the analysis reports: set_config(<setting>) and do(<language>) for a DO block.

export interface DangerousFunction {
  readonly pattern: string;
  readonly why: string;
}

export const DANGEROUS_FUNCTIONS: readonly DangerousFunction[] = Object.freeze([
  { pattern: "*.pg_read_file", why: "reads any file the database server can read" },
  { pattern: "*.pg_read_binary_file", why: "reads any file the database server can read" },
  { pattern: "*.pg_ls_dir", why: "lists directories on the database server" },
  { pattern: "*.pg_ls_*dir", why: "lists server directories (log, WAL, temp, archive, replication slots …)" },
  { pattern: "*.pg_stat_file", why: "reveals the existence and metadata of server files" },
  { pattern: "*.pg_file_*", why: "adminpack: writes, renames, deletes server files" },
  { pattern: "*.lo_import", why: "copies a server file into the database" },
  { pattern: "*.lo_export", why: "writes a large object to a server file" },
  { pattern: "*.lo_*", why: "large objects are data outside every table, so relation rules never see them" },
  { pattern: "*.loread", why: "reads large-object data outside every table" },
  { pattern: "*.lowrite", why: "writes large-object data outside every table" },
  { pattern: "*.dblink*", why: "runs SQL on another server or database, outside this gateway (dblink, dblink_exec …)" },
  { pattern: "*.postgres_fdw_*", why: "manages connections to other servers" },
  { pattern: "*.pg_terminate_backend", why: "kills other sessions" },
  { pattern: "*.pg_cancel_backend", why: "cancels other sessions' queries" },
  { pattern: "*.pg_reload_conf", why: "reloads the server configuration" },
  { pattern: "*.pg_rotate_logfile", why: "server administration" },
  { pattern: "*.pg_promote", why: "promotes a standby to primary" },
  { pattern: "*.pg_switch_wal", why: "server administration" },
  { pattern: "*.pg_create_restore_point", why: "server administration" },
  { pattern: "*.pg_backup_*", why: "starts and stops base backups" },
  { pattern: "*.pg_log_backend_memory_contexts", why: "server administration" },
  { pattern: "*.pg_create_*_replication_slot", why: "a logical slot streams every change in the database" },
  { pattern: "*.pg_drop_replication_slot", why: "breaks replication" },
  { pattern: "*.pg_logical_slot_*", why: "reads every change in the database through a replication slot" },
  { pattern: "*.pg_replication_slot_advance", why: "discards changes a replica has not consumed" },
  { pattern: "*.pg_logical_emit_message", why: "writes into the WAL stream consumers trust" },
  { pattern: "*.set_config(search_path)", why: "changes name resolution behind the gateway's back: the relations it checked are not the ones read" },
  { pattern: "*.set_config(role)", why: "the function form of SET ROLE" },
  { pattern: "*.set_config(session_authorization)", why: "the function form of SET SESSION AUTHORIZATION" },
  { pattern: "*.set_config(session_replication_role)", why: "turns off triggers and rules, the code the gateway counts on writes running" },
  { pattern: "*.set_config(backslash_quote)", why: "changes how the server reads string literals" },
  { pattern: "*.query_to_xml*", why: "runs the SQL in its string argument, which the gateway cannot see" },
  { pattern: "*.cursor_to_xml*", why: "reads from a cursor declared elsewhere" },
  { pattern: "*.table_to_xml*", why: "reads a whole table named by a value, not by the query" },
  { pattern: "*.schema_to_xml*", why: "reads every table of a schema" },
  { pattern: "*.database_to_xml*", why: "reads every table of the database" },
  { pattern: "*.ts_stat", why: "runs the SQL in its string argument" },
  { pattern: "*.ts_rewrite", why: "the two-argument form runs the SQL in its string argument" },
  { pattern: "*.pg_stat_get_activity", why: "shows other sessions' SQL text, literals included (the function behind pg_stat_activity)" },
  { pattern: "*.pg_stat_get_backend_*", why: "shows other sessions' SQL text, users and client addresses (pg_stat_get_backend_activity …)" },
  { pattern: "*.pg_show_all_file_settings", why: "reads the server's configuration files (the function behind pg_file_settings)" },
  { pattern: "*.pg_hba_file_rules", why: "reads the server's authentication configuration" },
  { pattern: "*.pg_ident_file_mappings", why: "reads the server's authentication configuration" },
  { pattern: "*.nextval(computed)", why: "names its sequence with a computed value, so the gateway cannot tell which sequence it moves" },
  { pattern: "*.setval(computed)", why: "names its sequence with a computed value, so the gateway cannot tell which sequence it moves" },
  { pattern: "*.currval(computed)", why: "names its sequence with a computed value, so the gateway cannot tell which sequence it reads" },
  { pattern: "*.pg_sequence_last_value(computed)", why: "names its sequence with a computed value, so the gateway cannot tell which sequence it reads" },
  { pattern: "*.do(*)", why: "is a DO block: procedural code the gateway cannot see into, which may call any function above or run any statement" },
]);
