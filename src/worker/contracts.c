/*
 * contracts: rule set files in, rule set versions out.
 *
 * A load validates the whole file first (tt_rule_set_parse, the same code
 * the run loop uses), then stores it as a new contract_rule_sets version
 * with one contract_rules row per rule, in one transaction.  Rule sets
 * are never edited: a correction is a new load.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt_time.h"
#include "contracts.h"
#include "db.h"


int
tt_contracts_read(const char *file, char **text, size_t *len,
    tt_rule_set_t *set, char *err, size_t errlen)
{
    char  why[900];

    memset(set, 0, sizeof(*set));

    *text = tt_contracts_slurp(file, len, err, errlen);
    if (*text == NULL) {
        return -1;
    }

    if (tt_rule_set_parse(*text, *len, set, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: %s", file, why);
        return -1;
    }

    return 0;
}


int
tt_contracts_date(const char *text, long long *out)
{
    tt_datetime_t  dt;

    if (tt_time_parse(text, strlen(text), &dt) != 0) {
        return -1;
    }

    *out = tt_time_civil_to_epoch(dt.year, dt.month, dt.day, dt.hour,
                                  dt.minute, dt.second) - dt.offset;
    return 0;
}


int
tt_contracts_store(PGconn *conn, const char *file, const char *text,
    const tt_rule_set_t *set, int if_changed, char *version,
    size_t versionlen, int *unchanged, char *err, size_t errlen)
{
    char         from[40], why[900];
    PGresult    *res;
    const char  *params[4], *same[2], *base;

    *unchanged = 0;
    tt_time_format_utc(set->effective_from, from, sizeof(from));

    base = strrchr(file, '/');
    base = base ? base + 1 : file;

    if (tt_db_exec(conn, "BEGIN", PGRES_COMMAND_OK, why, sizeof(why)) != 0)
    {
        goto failed;
    }

    params[0] = from;
    params[1] = set->name ? set->name : "";
    params[2] = base;
    params[3] = text;

    if (if_changed) {
        same[0] = from;
        same[1] = text;

        /* the newest version already is this document, in force as of
         * the same date: nothing to do */
        res = PQexecParams(conn,
                  "SELECT version FROM contract_rule_sets"
                  " WHERE version = (SELECT max(version)"
                  "                    FROM contract_rule_sets)"
                  "   AND effective_from = $1 AND document = $2::jsonb",
                  2, NULL, same, NULL, NULL, 0);

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            tt_db_error(conn, res, "comparing with the stored rule set",
                        why, sizeof(why));
            PQclear(res);
            goto failed;
        }

        if (PQntuples(res) == 1) {
            snprintf(version, versionlen, "%s", PQgetvalue(res, 0, 0));
            *unchanged = 1;
            PQclear(res);
            tt_db_exec(conn, "ROLLBACK", PGRES_COMMAND_OK, why, sizeof(why));
            return 0;
        }

        PQclear(res);
    }

    res = PQexecParams(conn,
              "INSERT INTO contract_rule_sets"
              "       (effective_from, name, source_file, document)"
              " VALUES ($1, $2, $3, $4::jsonb) RETURNING version",
              4, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, res, "storing the rule set", why, sizeof(why));
        PQclear(res);
        goto failed;
    }

    snprintf(version, versionlen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    params[0] = version;

    res = PQexecParams(conn,
              "INSERT INTO contract_rules (rule_set_version, rule_id,"
              "       position, priority, bill_code, definition)"
              " SELECT $1, r->>'id', o - 1,"
              "        coalesce((r->>'priority')::integer, 100),"
              "        r->>'bill_code', r"
              "   FROM contract_rule_sets s,"
              "        jsonb_array_elements(s.document->'rules')"
              "        WITH ORDINALITY AS t(r, o)"
              "  WHERE s.version = $1",
              1, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tt_db_error(conn, res, "storing the rules", why, sizeof(why));
        PQclear(res);
        goto failed;
    }

    PQclear(res);

    if (tt_db_exec(conn, "COMMIT", PGRES_COMMAND_OK, why, sizeof(why)) == 0)
    {
        return 0;
    }

failed:

    snprintf(err, errlen, "%s: %s", file, why);
    return -1;
}


PGresult *
tt_contracts_list(PGconn *conn, char *err, size_t errlen)
{
    return tt_db_query(conn, "listing rule sets",
              "SELECT s.version, to_char(s.effective_from AT TIME ZONE 'UTC',"
              "       'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
              "       (SELECT count(*) FROM contract_rules r"
              "         WHERE r.rule_set_version = s.version),"
              "       s.source_file, s.name"
              "  FROM contract_rule_sets s ORDER BY s.version",
              0, NULL, err, errlen);
}


int
tt_rulebook_load(PGconn *conn, tt_rulebook_t *rb, char *err, size_t errlen)
{
    int             i, n;
    char            perr[512];
    PGresult       *res;
    tt_rulebook_t   fresh;
    tt_rule_set_t  *set;

    res = PQexec(conn,
              "SELECT version, extract(epoch FROM effective_from)::bigint,"
              "       document::text"
              "  FROM contract_rule_sets ORDER BY version");

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, res, "loading contract rule sets", err, errlen);
        PQclear(res);
        return -1;
    }

    memset(&fresh, 0, sizeof(fresh));
    n = PQntuples(res);

    fresh.sets = calloc(n + 1, sizeof(tt_rule_set_t));
    if (fresh.sets == NULL) {
        snprintf(err, errlen, "out of memory");
        PQclear(res);
        return -1;
    }

    for (i = 0; i < n; i++) {
        set = &fresh.sets[fresh.nsets];

        if (tt_rule_set_parse(PQgetvalue(res, i, 2),
                              PQgetlength(res, i, 2), set, perr,
                              sizeof(perr)) != 0)
        {
            snprintf(err, errlen, "rule set version %s: %s",
                     PQgetvalue(res, i, 0), perr);
            tt_rule_set_free(set);
            tt_rulebook_free(&fresh);
            PQclear(res);
            return -1;
        }

        set->version = atoi(PQgetvalue(res, i, 0));
        set->effective_from = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        set->has_effective_from = 1;
        fresh.nsets++;

        if (set->version > fresh.max_version) {
            fresh.max_version = set->version;
        }
    }

    PQclear(res);

    tt_rulebook_free(rb);
    *rb = fresh;

    return 0;
}


char *
tt_contracts_slurp(const char *file, size_t *len, char *err, size_t errlen)
{
    FILE    *f;
    char    *text;
    long     size;

    f = fopen(file, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", file, strerror(errno));
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        snprintf(err, errlen, "cannot read %s: %s", file, strerror(errno));
        fclose(f);
        return NULL;
    }

    if (size > 16 * 1024 * 1024) {
        snprintf(err, errlen, "%s: larger than 16 MB", file);
        fclose(f);
        return NULL;
    }

    text = malloc(size + 1);
    if (text == NULL || fread(text, 1, size, f) != (size_t) size) {
        snprintf(err, errlen, "cannot read %s", file);
        free(text);
        fclose(f);
        return NULL;
    }

    text[size] = '\0';
    *len = size;
    fclose(f);

    return text;
}
