-- 023_pull_cursor: a pull lists sliding windows instead of calendar
-- months (issue 11), so its checkpoint is one cursor per pull instead of
-- one row per month window.
--
-- Each request lists reportDateTime:between=cursor_at|cursor_at + 1
-- month (less a second; the range's end at the latest), sorted by
-- reportDateTime,id, 1,000 a page.  A full page moves the cursor to the
-- last reportDateTime it held: the next window starts there, so only a
-- window that really holds fewer than a page ends with a short one
-- (calendar months cost a short page each).  cursor_taken counts the
-- reports at cursor_at (that whole second) already queued and cursor_id
-- is the last of them: the next page is asked from offset
-- cursor_taken - 1 and must start with that report, else the reports of
-- that second changed under the pull and it lists the second again
-- (functions/pull.sql).  listed_at: the last page was queued; the pull
-- only has to be recorded as done.
--
-- tracktik_pull_windows (016) held the month windows' checkpoints: an
-- unfinished pull continues from the start of its first unfinished month
-- (what it queued there already is not queued twice: a pulled job's
-- dedupe key is the report's content), then the table goes.

ALTER TABLE tracktik_pulls
    ADD COLUMN cursor_at     timestamptz,
    ADD COLUMN cursor_taken  integer NOT NULL DEFAULT 0
                             CHECK (cursor_taken >= 0),
    ADD COLUMN cursor_id     bigint,
    ADD COLUMN listed_at     timestamptz,
    ADD CHECK ((cursor_taken = 0) = (cursor_id IS NULL));

UPDATE tracktik_pulls p
   SET cursor_at = coalesce(w.starts_at, p.range_to),
       listed_at = CASE WHEN w.starts_at IS NULL
                        THEN coalesce(p.finished_at, now()) END
  FROM (SELECT q.id,
               (SELECT min(x.starts_at) FROM tracktik_pull_windows x
                 WHERE x.pull_id = q.id AND x.done_at IS NULL) AS starts_at
          FROM tracktik_pulls q) w
 WHERE w.id = p.id;

ALTER TABLE tracktik_pulls ALTER COLUMN cursor_at SET NOT NULL;

-- its result and arguments change (functions/pull.sql creates it again;
-- a new database has no functions yet when its migrations run)
DROP FUNCTION IF EXISTS tracktik_pull_page(bigint, integer, integer, text);

DROP TABLE tracktik_pull_windows;
