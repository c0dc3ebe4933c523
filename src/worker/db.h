/*
 * db: the worker's PostgreSQL connection: connect, prepared statements,
 * and error text a human can act on.
 */

#ifndef TT_DB_H
#define TT_DB_H

#include <stddef.h>
#include <libpq-fe.h>


/* connects; on failure returns NULL with the reason in err */
PGconn *tt_db_connect(const char *dsn, char *err, size_t errlen);

/* prepares every statement the run loop uses */
int tt_db_prepare(PGconn *conn, char *err, size_t errlen);

/* runs sql without parameters and expects status; -1 with err */
int tt_db_exec(PGconn *conn, const char *sql, ExecStatusType status,
    char *err, size_t errlen);

/*
 * A query that returns rows (params may be NULL): the result, or NULL
 * with err = "what: the database's message".
 */
PGresult *tt_db_query(PGconn *conn, const char *what, const char *sql,
    int nparams, const char *const *params, char *err, size_t errlen);

/* err = "what: primary message (SQLSTATE)" from a result or the conn */
void tt_db_error(PGconn *conn, PGresult *res, const char *what, char *err,
    size_t errlen);

/* SQLSTATE class 22 (data exception): retrying cannot help */
int tt_db_error_is_permanent(PGresult *res);

#endif /* TT_DB_H */
