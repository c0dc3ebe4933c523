
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * One PostgreSQL connection of the pool, driven by nginx's event loop:
 * connecting without blocking, sending a query (its Prepare first when
 * the connection has not prepared it yet), reading the result, and
 * closing.  The pool and its queue are in ngx_http_tracktik_pg.c, which
 * calls these; what happens to a connection goes back to the pool only
 * through pc->owner's callbacks.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_pg_conn.h"


static ngx_int_t ngx_http_tracktik_pg_wrap(ngx_http_tracktik_pg_conn_t *pc);
static void ngx_http_tracktik_pg_unwrap(ngx_http_tracktik_pg_conn_t *pc);
static ngx_int_t ngx_http_tracktik_pg_want_write(
    ngx_http_tracktik_pg_conn_t *pc, ngx_uint_t on);
static void ngx_http_tracktik_pg_event_handler(ngx_event_t *ev);
static void ngx_http_tracktik_pg_connect_poll(ngx_http_tracktik_pg_conn_t *pc);
static ngx_int_t ngx_http_tracktik_pg_write(ngx_http_tracktik_pg_conn_t *pc,
    ngx_http_tracktik_pg_query_t *q);
static void ngx_http_tracktik_pg_receive(ngx_http_tracktik_pg_conn_t *pc);
static void ngx_http_tracktik_pg_done(ngx_http_tracktik_pg_conn_t *pc);
static void ngx_http_tracktik_pg_idle_check(ngx_http_tracktik_pg_conn_t *pc);
static void ngx_http_tracktik_pg_fail(ngx_http_tracktik_pg_conn_t *pc,
    const char *why);


/*
 * A connection to conf's server, started with libpq but not yet waited
 * for: the owner accounts for it, then ngx_http_tracktik_pg_connect().
 */

ngx_http_tracktik_pg_conn_t *
ngx_http_tracktik_pg_conn_create(ngx_http_tracktik_pg_conf_t *conf,
    ngx_log_t *log, ngx_http_tracktik_pg_owner_t *owner, void *data)
{
    PGconn                       *pgconn;
    ngx_http_tracktik_pg_conn_t  *pc;

    pgconn = PQconnectStartParams((const char * const *) conf->keywords,
                                  (const char * const *) conf->values, 0);
    if (pgconn == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "PQconnectStartParams() failed: out of memory");
        return NULL;
    }

    pc = ngx_alloc(sizeof(ngx_http_tracktik_pg_conn_t), log);
    if (pc == NULL) {
        PQfinish(pgconn);
        return NULL;
    }

    ngx_memzero(pc, sizeof(ngx_http_tracktik_pg_conn_t));

    pc->owner = owner;
    pc->data = data;
    pc->conf = conf;
    pc->log = log;
    pc->pgconn = pgconn;
    pc->state = NGX_HTTP_TRACKTIK_PG_CONNECTING;

    return pc;
}


/*
 * Waits for the connection in the event loop.  NGX_ERROR: it could not
 * start; the owner treats that as a failed connect.
 */

ngx_int_t
ngx_http_tracktik_pg_connect(ngx_http_tracktik_pg_conn_t *pc)
{
    if (PQstatus(pc->pgconn) == CONNECTION_BAD
        || PQsetnonblocking(pc->pgconn, 1) == -1)
    {
        ngx_log_error(NGX_LOG_ERR, pc->log, 0,
                      "could not start connecting to PostgreSQL: %s",
                      PQerrorMessage(pc->pgconn));
        return NGX_ERROR;
    }

    if (ngx_http_tracktik_pg_wrap(pc) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "tracktik pg: connecting, fd:%d",
                   pc->connection->fd);

    ngx_add_timer(pc->connection->read, pc->conf->connect_timeout);

    /* libpq: behave as if PQconnectPoll() had asked to wait for writing */

    return ngx_http_tracktik_pg_want_write(pc, 1);
}


static ngx_int_t
ngx_http_tracktik_pg_wrap(ngx_http_tracktik_pg_conn_t *pc)
{
    ngx_socket_t       fd;
    ngx_connection_t  *c;

    fd = PQsocket(pc->pgconn);

    if (fd == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ERR, pc->log, 0,
                      "PostgreSQL connection has no socket: %s",
                      PQerrorMessage(pc->pgconn));
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, pc->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = pc;
    c->read->handler = ngx_http_tracktik_pg_event_handler;
    c->write->handler = ngx_http_tracktik_pg_event_handler;
    c->read->log = c->log;
    c->write->log = c->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);
    c->log->action = "connecting to PostgreSQL";

    pc->connection = c;
    pc->writing = 0;

    /* level-triggered: libpq reads and writes the socket, not nginx */

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_http_tracktik_pg_unwrap(pc);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_tracktik_pg_unwrap(ngx_http_tracktik_pg_conn_t *pc)
{
    ngx_connection_t  *c;

    c = pc->connection;

    if (c == NULL) {
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    /* the descriptor belongs to libpq, which closes it */

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    pc->connection = NULL;
    pc->writing = 0;
}


static ngx_int_t
ngx_http_tracktik_pg_want_write(ngx_http_tracktik_pg_conn_t *pc,
    ngx_uint_t on)
{
    ngx_event_t  *wev;

    wev = pc->connection->write;

    if (on && !wev->active) {
        if (ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (!on && wev->active) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    pc->writing = on;

    return NGX_OK;
}


static void
ngx_http_tracktik_pg_event_handler(ngx_event_t *ev)
{
    ngx_connection_t             *c;
    ngx_http_tracktik_pg_conn_t  *pc;

    c = ev->data;
    pc = c->data;

    if (c->read->timedout) {
        c->read->timedout = 0;

        if (pc->state == NGX_HTTP_TRACKTIK_PG_CONNECTING) {
            ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                          "timed out connecting to PostgreSQL");
            pc->owner->connect_failed(pc);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                      "PostgreSQL query timed out");
        ngx_http_tracktik_pg_fail(pc, "query timed out");
        return;
    }

    switch (pc->state) {

    case NGX_HTTP_TRACKTIK_PG_CONNECTING:
        ngx_http_tracktik_pg_connect_poll(pc);
        return;

    case NGX_HTTP_TRACKTIK_PG_BUSY:
        ngx_http_tracktik_pg_receive(pc);
        return;

    default: /* NGX_HTTP_TRACKTIK_PG_IDLE */
        ngx_http_tracktik_pg_idle_check(pc);
        return;
    }
}


static void
ngx_http_tracktik_pg_connect_poll(ngx_http_tracktik_pg_conn_t *pc)
{
    ngx_connection_t           *c;
    PostgresPollingStatusType   st;

    st = PQconnectPoll(pc->pgconn);

    if (st == PGRES_POLLING_FAILED) {
        ngx_log_error(NGX_LOG_ERR, pc->connection->log, 0,
                      "could not connect to PostgreSQL: %s",
                      PQerrorMessage(pc->pgconn));
        pc->owner->connect_failed(pc);
        return;
    }

    /* libpq may have moved to another socket (next host, SSL retry) */

    if (PQsocket(pc->pgconn) != pc->connection->fd) {
        ngx_msec_t  timer;

        timer = pc->connection->read->timer_set
                ? pc->connection->read->timer.key - ngx_current_msec : 0;

        ngx_http_tracktik_pg_unwrap(pc);

        if (ngx_http_tracktik_pg_wrap(pc) != NGX_OK) {
            pc->owner->connect_failed(pc);
            return;
        }

        ngx_add_timer(pc->connection->read,
                      timer ? timer : pc->conf->connect_timeout);
    }

    c = pc->connection;

    switch (st) {

    case PGRES_POLLING_READING:
        if (ngx_http_tracktik_pg_want_write(pc, 0) != NGX_OK) {
            pc->owner->connect_failed(pc);
        }
        return;

    case PGRES_POLLING_WRITING:
        if (ngx_http_tracktik_pg_want_write(pc, 1) != NGX_OK) {
            pc->owner->connect_failed(pc);
        }
        return;

    default: /* PGRES_POLLING_OK */
        break;
    }

    if (ngx_http_tracktik_pg_want_write(pc, 0) != NGX_OK) {
        pc->owner->connect_failed(pc);
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "tracktik pg: connected, fd:%d", c->fd);

    pc->state = NGX_HTTP_TRACKTIK_PG_IDLE;
    c->idle = 1;
    c->log->action = "waiting for a PostgreSQL query";

    pc->owner->connected(pc);
}


ngx_int_t
ngx_http_tracktik_pg_send(ngx_http_tracktik_pg_conn_t *pc,
    ngx_http_tracktik_pg_query_t *q)
{
    ngx_connection_t  *c;

    c = pc->connection;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "tracktik pg: send query, fd:%d params:%d statement:%ui",
                   c->fd, q->nparams, q->statement);

    if (ngx_http_tracktik_pg_write(pc, q) != NGX_OK) {
        return NGX_ERROR;
    }

    pc->query = q;
    pc->result = NULL;
    pc->failed = 0;
    pc->state = NGX_HTTP_TRACKTIK_PG_BUSY;

    q->conn = pc;

    c->idle = 0;
    c->log->action = "querying PostgreSQL";

    ngx_add_timer(c->read, pc->conf->query_timeout);

    return NGX_OK;
}


/*
 * Puts the query on the wire: a prepared statement's first run on this
 * connection sends only the Prepare (pg_done() then sends the run).
 */

static ngx_int_t
ngx_http_tracktik_pg_write(ngx_http_tracktik_pg_conn_t *pc,
    ngx_http_tracktik_pg_query_t *q)
{
    int                rc;
    u_char             name[NGX_INT_T_LEN + 4];
    uint64_t           bit;
    ngx_uint_t         word;
    ngx_connection_t  *c;

    c = pc->connection;

    if (q->statement == 0 || q->statement > NGX_HTTP_TRACKTIK_PG_STATEMENTS) {
        rc = PQsendQueryParams(pc->pgconn, q->command, q->nparams, NULL,
                               q->values, q->lengths, q->formats, 0);

    } else {
        *ngx_sprintf(name, "tt_%ui", q->statement) = '\0';

        word = (q->statement - 1) / 64;
        bit = (uint64_t) 1 << ((q->statement - 1) % 64);

        if (pc->prepared[word] & bit) {
            rc = PQsendQueryPrepared(pc->pgconn, (char *) name, q->nparams,
                                     q->values, q->lengths, q->formats, 0);

        } else {
            rc = PQsendPrepare(pc->pgconn, (char *) name, q->command,
                               q->nparams, NULL);
            pc->preparing = q->statement;
        }
    }

    if (!rc) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "could not send query to PostgreSQL: %s",
                      PQerrorMessage(pc->pgconn));
        return NGX_ERROR;
    }

    rc = PQflush(pc->pgconn);

    if (rc == -1) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "could not send query to PostgreSQL: %s",
                      PQerrorMessage(pc->pgconn));
        return NGX_ERROR;
    }

    return ngx_http_tracktik_pg_want_write(pc, rc == 1);
}


static void
ngx_http_tracktik_pg_receive(ngx_http_tracktik_pg_conn_t *pc)
{
    int                rc;
    PGresult          *res;
    ngx_connection_t  *c;

    c = pc->connection;

    if (pc->writing) {
        rc = PQflush(pc->pgconn);

        if (rc == -1) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "could not send query to PostgreSQL: %s",
                          PQerrorMessage(pc->pgconn));
            ngx_http_tracktik_pg_fail(pc, "could not send the query");
            return;
        }

        if (ngx_http_tracktik_pg_want_write(pc, rc == 1) != NGX_OK) {
            ngx_http_tracktik_pg_fail(pc, "event registration failed");
            return;
        }
    }

    if (!PQconsumeInput(pc->pgconn)) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "PostgreSQL connection failed: %s",
                      PQerrorMessage(pc->pgconn));
        ngx_http_tracktik_pg_fail(pc, "connection lost");
        return;
    }

    while (!PQisBusy(pc->pgconn)) {

        res = PQgetResult(pc->pgconn);

        if (res == NULL) {
            ngx_http_tracktik_pg_done(pc);
            return;
        }

        switch (PQresultStatus(res)) {

        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
            if (pc->result == NULL) {
                pc->result = res;

            } else {
                PQclear(res);
            }

            break;

        default:
            if (!pc->failed) {
                ngx_log_error(NGX_LOG_ERR, c->log, 0,
                              "PostgreSQL query failed: %s (SQLSTATE %s)",
                              ngx_http_tracktik_pg_message(res),
                              ngx_http_tracktik_pg_sqlstate(res));

                if (pc->result) {
                    PQclear(pc->result);
                }

                pc->result = res;
                pc->failed = 1;

            } else {
                PQclear(res);
            }
        }
    }
}


static void
ngx_http_tracktik_pg_done(ngx_http_tracktik_pg_conn_t *pc)
{
    void                          *data;
    PGresult                      *res;
    ngx_int_t                      rc, healthy;
    ngx_connection_t              *c;
    ngx_http_tracktik_pg_owner_t  *owner;
    ngx_http_tracktik_pg_query_t  *q;

    c = pc->connection;
    owner = pc->owner;
    data = pc->data;
    q = pc->query;

    if (pc->preparing && !pc->failed) {
        /* prepared on this connection from now on */
        pc->prepared[(pc->preparing - 1) / 64] |=
                                   (uint64_t) 1 << ((pc->preparing - 1) % 64);
        pc->preparing = 0;

        if (pc->result) {
            PQclear(pc->result);
            pc->result = NULL;
        }

        if (q) {
            /* now the run itself, under the same deadline */
            if (ngx_http_tracktik_pg_write(pc, q) != NGX_OK) {
                ngx_http_tracktik_pg_fail(pc, "could not send the query");
            }

            return;
        }
    }

    /* a failed Prepare answers for its query: the query never ran */
    pc->preparing = 0;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    res = pc->result;
    rc = pc->failed ? NGX_ERROR : NGX_OK;

    pc->query = NULL;
    pc->result = NULL;
    pc->failed = 0;

    /* a worker that is shutting down keeps no idle connections */

    healthy = PQstatus(pc->pgconn) == CONNECTION_OK
              && PQtransactionStatus(pc->pgconn) == PQTRANS_IDLE
              && !ngx_exiting && !ngx_terminate && !ngx_quit;

    if (healthy) {
        pc->state = NGX_HTTP_TRACKTIK_PG_IDLE;
        c->idle = 1;
        c->log->action = "waiting for a PostgreSQL query";
        owner->idle(pc);

    } else {
        ngx_http_tracktik_pg_close(pc);
    }

    if (q) {
        q->conn = NULL;

        if (rc == NGX_ERROR) {
            ngx_http_tracktik_pg_set_error(q, res
                                           ? ngx_http_tracktik_pg_message(res)
                                           : "query failed");
        }

        q->handler(q, res, rc);
    }

    if (res) {
        PQclear(res);
    }

    owner->next(data);
}


static void
ngx_http_tracktik_pg_idle_check(ngx_http_tracktik_pg_conn_t *pc)
{
    PGnotify          *n;
    PGresult          *res;
    ngx_connection_t  *c;

    c = pc->connection;

    if (c->close) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "tracktik pg: closing idle connection");
        ngx_http_tracktik_pg_close(pc);
        return;
    }

    if (!c->read->ready && !c->write->ready) {
        return;
    }

    if (!PQconsumeInput(pc->pgconn)) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "PostgreSQL closed an idle connection: %s",
                      PQerrorMessage(pc->pgconn));
        ngx_http_tracktik_pg_close(pc);
        return;
    }

    while ((n = PQnotifies(pc->pgconn)) != NULL) {
        PQfreemem(n);
    }

    if (!PQisBusy(pc->pgconn)) {
        res = PQgetResult(pc->pgconn);

        if (res != NULL) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "unexpected result on an idle PostgreSQL "
                          "connection: %s", ngx_http_tracktik_pg_message(res));
            PQclear(res);
            ngx_http_tracktik_pg_close(pc);
            return;
        }
    }

    if (PQstatus(pc->pgconn) != CONNECTION_OK) {
        ngx_http_tracktik_pg_close(pc);
        return;
    }

    if (pc->writing) {
        (void) ngx_http_tracktik_pg_want_write(pc, 0);
    }
}


static void
ngx_http_tracktik_pg_fail(ngx_http_tracktik_pg_conn_t *pc, const char *why)
{
    void                          *data;
    ngx_http_tracktik_pg_owner_t  *owner;
    ngx_http_tracktik_pg_query_t  *q;

    owner = pc->owner;
    data = pc->data;
    q = pc->query;

    pc->query = NULL;

    if (pc->result) {
        PQclear(pc->result);
        pc->result = NULL;
    }

    /* no PQcancel(): it blocks; a connection in doubt is just closed */

    ngx_http_tracktik_pg_close(pc);

    if (q) {
        q->conn = NULL;
        ngx_http_tracktik_pg_set_error(q, why);
        q->handler(q, NULL, NGX_ERROR);
    }

    owner->next(data);
}


void
ngx_http_tracktik_pg_close(ngx_http_tracktik_pg_conn_t *pc)
{
    pc->owner->closing(pc);

    if (pc->query) {
        pc->query->conn = NULL;
        pc->query = NULL;
    }

    if (pc->result) {
        PQclear(pc->result);
    }

    ngx_http_tracktik_pg_unwrap(pc);

    PQfinish(pc->pgconn);

    ngx_free(pc);
}


void
ngx_http_tracktik_pg_set_error(ngx_http_tracktik_pg_query_t *q,
    const char *msg)
{
    size_t  len;

    len = ngx_strlen(msg);

    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
        len--;
    }

    q->error.data = (u_char *) msg;
    q->error.len = len;
}


/*
 * The primary message of a failed result, without its DETAIL and CONTEXT
 * lines: those quote the statement's data (a delivery's body, a portal
 * argument), which never goes to the error log.
 */

const char *
ngx_http_tracktik_pg_message(PGresult *res)
{
    const char  *msg;

    msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    return msg ? msg : "query failed";
}


const char *
ngx_http_tracktik_pg_sqlstate(PGresult *res)
{
    const char  *state;

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    return state ? state : "none";
}
