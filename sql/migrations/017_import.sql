-- 017_import: imports of Operation Reports and Data Lab exports
-- (`tracktik-worker import`, issue 11 item 3).
--
-- The rows of an export are COPied into a temporary staging table
-- (tracktik_import_begin(), sql/functions/import.sql) and merged into
-- incidents_ledger set-wise by tracktik_import_merge(); nothing here
-- holds report data.  import_runs keeps one row per committed import, so
-- an operator can tell when a file was loaded and what it changed; a run
-- that failed left nothing behind, not even this row.

CREATE TABLE import_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_name       text NOT NULL,
    mapping         text NOT NULL,
    rows_new        integer NOT NULL CHECK (rows_new >= 0),
    rows_unchanged  integer NOT NULL CHECK (rows_unchanged >= 0),
    rows_updated    integer NOT NULL CHECK (rows_updated >= 0),
    rows_rejected   integer NOT NULL CHECK (rows_rejected >= 0),
    lines_charged   integer NOT NULL DEFAULT 0,
    lines_credited  integer NOT NULL DEFAULT 0,
    imported_at     timestamptz NOT NULL DEFAULT now()
);
