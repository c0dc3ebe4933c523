
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Password checks for the portal's logins.  A bcrypt check costs tens of
 * milliseconds of CPU by design, so it runs neither in the event loop nor
 * in PostgreSQL, where a storm of logins would take the cores from the
 * backends that acknowledge webhooks.  Each nginx worker starts, on its
 * first login, one thread at the lowest priority (SCHED_IDLE): it has
 * the CPU when webhooks and pages do not want it.  Checks wait for it in a
 * bounded queue; the thread hands finished ones back through an eventfd
 * watched by the event loop, where their callbacks run.
 *
 * A low priority is not enough where the cores are hyperthreads or vCPUs
 * of one physical core: any busy thread slows its sibling.  So the thread
 * also keeps to a share of one core (tracktik_portal_password_cpu): the
 * CPU time its checks take is drawn from a bucket that fills at that share
 * of the wall clock and holds at most NGX_HTTP_TRACKTIK_PASSWORD_BURST of
 * it, and the thread sleeps while the bucket is empty.  A few logins pass
 * at full speed; a storm is spread out, and its tail waits or gets 503.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <crypt.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <openssl/crypto.h>

#include "ngx_http_tracktik_password.h"


/* CPU time the bucket holds, in nanoseconds: a handful of bcrypt checks */
#define NGX_HTTP_TRACKTIK_PASSWORD_BURST  500000000LL


struct ngx_http_tracktik_password_s {
    ngx_http_tracktik_password_t   *next;
    ngx_http_tracktik_password_pt   done;       /* NULL: forgotten */
    void                           *data;
    ngx_uint_t                      matched;
    char                           *password;   /* NUL-terminated copies */
    char                           *hash;
};


typedef struct {
    pthread_mutex_t                 mutex;
    pthread_cond_t                  cond;
    ngx_http_tracktik_password_t   *waiting;    /* first in, first out */
    ngx_http_tracktik_password_t  **last;
    ngx_http_tracktik_password_t   *finished;
    ngx_uint_t                      queued;     /* waiting and running */
    ngx_connection_t               *notify;     /* the eventfd */
    ngx_fd_t                        fd;
    ngx_uint_t                      cpu;        /* percent of one core */
    unsigned                        started:1;
    unsigned                        stop:1;
} ngx_http_tracktik_password_thread_t;


static ngx_int_t ngx_http_tracktik_password_start(ngx_log_t *log);
static void *ngx_http_tracktik_password_run(void *arg);
static int64_t ngx_http_tracktik_password_clock(clockid_t id);
static void ngx_http_tracktik_password_finished(ngx_event_t *ev);


/* one per nginx worker process: its thread, queue and eventfd */
static ngx_http_tracktik_password_thread_t  ngx_http_tracktik_password = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
    NULL, NULL, NULL, 0, NULL, NGX_INVALID_FILE, 100, 0, 0
};


/*
 * Queues a check of password against a crypt(3) hash (bcrypt "$2a$" and
 * "$2b$" among them), with the thread kept to cpu percent of one core;
 * done(data, matched) is called from the event loop unless the check is
 * forgotten first.  NULL: the queue is full or the thread cannot be
 * started (logged).
 */

ngx_http_tracktik_password_t *
ngx_http_tracktik_password_check(ngx_str_t *password, ngx_str_t *hash,
    ngx_uint_t cpu, ngx_http_tracktik_password_pt done, void *data,
    ngx_log_t *log)
{
    ngx_http_tracktik_password_t         *check;
    ngx_http_tracktik_password_thread_t  *pt;

    pt = &ngx_http_tracktik_password;

    if (!pt->started && ngx_http_tracktik_password_start(log) != NGX_OK) {
        return NULL;
    }

    if (pt->queued >= NGX_HTTP_TRACKTIK_PASSWORD_QUEUE) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "tracktik portal: %d logins are already waiting for "
                      "their password check", pt->queued);
        return NULL;
    }

    check = ngx_alloc(sizeof(ngx_http_tracktik_password_t) + password->len
                      + hash->len + 2, log);
    if (check == NULL) {
        return NULL;
    }

    check->next = NULL;
    check->done = done;
    check->data = data;
    check->matched = 0;
    check->password = (char *) (check + 1);
    check->hash = check->password + password->len + 1;

    ngx_memcpy(check->password, password->data, password->len);
    check->password[password->len] = '\0';
    ngx_memcpy(check->hash, hash->data, hash->len);
    check->hash[hash->len] = '\0';

    (void) pthread_mutex_lock(&pt->mutex);

    *pt->last = check;
    pt->last = &check->next;
    pt->queued++;
    pt->cpu = cpu;

    (void) pthread_cond_signal(&pt->cond);
    (void) pthread_mutex_unlock(&pt->mutex);

    return check;
}


/* the request went away: done will not be called */

void
ngx_http_tracktik_password_forget(ngx_http_tracktik_password_t *check)
{
    ngx_http_tracktik_password_thread_t  *pt;

    pt = &ngx_http_tracktik_password;

    (void) pthread_mutex_lock(&pt->mutex);
    check->done = NULL;
    (void) pthread_mutex_unlock(&pt->mutex);
}


/*
 * At the worker's exit the thread is told to stop and not waited for:
 * a check it is running may take a while at its priority.  The eventfd
 * is closed under the lock the thread writes to it under, so a late check
 * cannot write into a descriptor that has been reused meanwhile, and
 * nginx finds no connection left open.
 */

void
ngx_http_tracktik_password_exit(void)
{
    ngx_http_tracktik_password_thread_t  *pt;

    pt = &ngx_http_tracktik_password;

    if (!pt->started) {
        return;
    }

    (void) pthread_mutex_lock(&pt->mutex);

    pt->stop = 1;
    (void) pthread_cond_signal(&pt->cond);

    ngx_close_connection(pt->notify);
    pt->notify = NULL;
    pt->fd = NGX_INVALID_FILE;

    (void) pthread_mutex_unlock(&pt->mutex);
}


static ngx_int_t
ngx_http_tracktik_password_start(ngx_log_t *log)
{
    int                                   fd, err;
    Dl_info                               dl, nginx;
    sigset_t                              set, old;
    pthread_t                             tid;
    pthread_attr_t                        attr;
    ngx_connection_t                     *c;
    ngx_http_tracktik_password_thread_t  *pt;

    pt = &ngx_http_tracktik_password;

    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "tracktik portal: eventfd() failed");
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, ngx_cycle->log);
    if (c == NULL) {
        (void) close(fd);
        return NGX_ERROR;
    }

    c->read->handler = ngx_http_tracktik_password_finished;
    c->read->log = ngx_cycle->log;
    c->data = pt;

    /* level-triggered: the counter is read once per wake-up */
    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_close_connection(c);
        return NGX_ERROR;
    }

    pt->notify = c;
    pt->fd = fd;
    pt->last = &pt->waiting;

    /*
     * nginx unloads dynamic modules when an exiting worker destroys its
     * cycle; the thread, not waited for, may still be running this code.
     * A second, never released reference marked RTLD_NODELETE keeps the
     * module mapped until the process ends.  (A module built into the
     * nginx binary is never unloaded: nothing to do.)
     */
    if (dladdr((void *) ngx_http_tracktik_password_run, &dl) != 0
        && dladdr((void *) ngx_get_connection, &nginx) != 0
        && dl.dli_fbase != nginx.dli_fbase)
    {
        if (dlopen(dl.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE)
            == NULL)
        {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "tracktik portal: dlopen(\"%s\") failed: %s",
                          dl.dli_fname, dlerror());
            goto failed;
        }
    }

    /*
     * nginx's signals are for its event loop.  A thread starts with the
     * mask of the thread that creates it: every signal is blocked around
     * pthread_create(), so the new thread never has a moment to take one,
     * and the event loop's own mask is back right after.  The synchronous
     * ones (SIGSEGV, SIGBUS, SIGFPE, SIGILL) stay blocked too: a fault in
     * the thread still ends the process by the default action, as the
     * kernel unblocks a signal that a fault raises.
     */
    (void) sigfillset(&set);

    err = pthread_sigmask(SIG_SETMASK, &set, &old);
    if (err != 0) {
        ngx_log_error(NGX_LOG_ALERT, log, err,
                      "tracktik portal: pthread_sigmask() failed");
        goto failed;
    }

    (void) pthread_attr_init(&attr);
    (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);

    err = pthread_create(&tid, &attr, ngx_http_tracktik_password_run, pt);

    (void) pthread_attr_destroy(&attr);
    (void) pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (err != 0) {
        ngx_log_error(NGX_LOG_ALERT, log, err,
                      "tracktik portal: pthread_create() failed");
        goto failed;
    }

    pt->started = 1;

    return NGX_OK;

failed:

    ngx_close_connection(c);
    pt->notify = NULL;
    pt->fd = NGX_INVALID_FILE;

    return NGX_ERROR;
}


/*
 * The thread, every signal blocked from its start: nothing here may touch
 * nginx's pools, events or logs.
 */

static void *
ngx_http_tracktik_password_run(void *arg)
{
    ngx_http_tracktik_password_thread_t *pt = arg;

    char                          *out;
    size_t                         len;
    ssize_t                        n;
    int64_t                        bucket, now, last, used, share;
    uint64_t                       one;
    ngx_uint_t                     forgotten;
    struct timespec                ts;
    struct crypt_data             *cd;
    struct sched_param             sp;
    ngx_http_tracktik_password_t  *check;

    /*
     * SCHED_IDLE: a thread of any other policy that wakes on this core
     * preempts it at once, whatever task groups the processes are in
     * (autogroups, systemd's cgroups), where a nice value only ranks the
     * threads of one group.  Failing that, nice 19 for this thread alone.
     */
    ngx_memzero(&sp, sizeof(struct sched_param));

    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0) {
        (void) setpriority(PRIO_PROCESS, (id_t) syscall(SYS_gettid), 19);
    }

    cd = calloc(1, sizeof(struct crypt_data));

    one = 1;
    bucket = NGX_HTTP_TRACKTIK_PASSWORD_BURST;
    last = ngx_http_tracktik_password_clock(CLOCK_MONOTONIC);

    for ( ;; ) {
        (void) pthread_mutex_lock(&pt->mutex);

        while (pt->waiting == NULL && !pt->stop) {
            (void) pthread_cond_wait(&pt->cond, &pt->mutex);
        }

        if (pt->stop) {
            (void) pthread_mutex_unlock(&pt->mutex);
            break;
        }

        check = pt->waiting;
        pt->waiting = check->next;

        if (pt->waiting == NULL) {
            pt->last = &pt->waiting;
        }

        share = pt->cpu;

        (void) pthread_mutex_unlock(&pt->mutex);

        /* the bucket fills at share percent of the time that passed */
        now = ngx_http_tracktik_password_clock(CLOCK_MONOTONIC);
        bucket = ngx_min(bucket + (now - last) * share / 100,
                         NGX_HTTP_TRACKTIK_PASSWORD_BURST);
        last = now;

        if (bucket < 0) {
            /* asleep until it is back at zero */
            used = -bucket * 100 / share;
            ts.tv_sec = used / 1000000000;
            ts.tv_nsec = used % 1000000000;
            (void) nanosleep(&ts, NULL);

            last = ngx_http_tracktik_password_clock(CLOCK_MONOTONIC);
            bucket = 0;
        }

        /* a check forgotten while it waited costs nothing */
        (void) pthread_mutex_lock(&pt->mutex);
        forgotten = (check->done == NULL);
        (void) pthread_mutex_unlock(&pt->mutex);

        if (!forgotten && cd) {
            used = ngx_http_tracktik_password_clock(CLOCK_THREAD_CPUTIME_ID);

            out = crypt_r(check->password, check->hash, cd);
            len = ngx_strlen(check->hash);

            check->matched = out != NULL && out[0] != '*'
                             && ngx_strlen(out) == len
                             && CRYPTO_memcmp(out, check->hash, len) == 0;

            OPENSSL_cleanse(cd, sizeof(struct crypt_data));

            bucket -= ngx_http_tracktik_password_clock(CLOCK_THREAD_CPUTIME_ID)
                      - used;
        }

        OPENSSL_cleanse(check->password, ngx_strlen(check->password));

        (void) pthread_mutex_lock(&pt->mutex);

        check->next = pt->finished;
        pt->finished = check;

        /* an eventfd write fails only when its counter is full, and
         * then the event loop is woken anyway (a variable, not a cast:
         * glibc's fortified write() must have its result used) */
        if (pt->fd != NGX_INVALID_FILE) {
            n = write(pt->fd, &one, sizeof(one));
            (void) n;
        }

        (void) pthread_mutex_unlock(&pt->mutex);
    }

    free(cd);

    return NULL;
}


static int64_t
ngx_http_tracktik_password_clock(clockid_t id)
{
    struct timespec  ts;

    (void) clock_gettime(id, &ts);

    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


/* the event loop: the callbacks of finished checks, oldest first */

static void
ngx_http_tracktik_password_finished(ngx_event_t *ev)
{
    uint64_t                              n;
    ngx_connection_t                     *c;
    ngx_http_tracktik_password_t         *check, *next, *list;
    ngx_http_tracktik_password_thread_t  *pt;

    c = ev->data;
    pt = c->data;

    /* the count of wake-ups: the list below is what counts */
    if (read(c->fd, &n, sizeof(n)) != (ssize_t) sizeof(n)) {
        n = 0;
    }

    (void) pthread_mutex_lock(&pt->mutex);

    list = NULL;

    for (check = pt->finished; check; check = next) {
        next = check->next;
        check->next = list;
        list = check;
        pt->queued--;
    }

    pt->finished = NULL;

    (void) pthread_mutex_unlock(&pt->mutex);

    /*
     * The thread no longer touches these, and forget() runs in this
     * thread too: a callback that forgets a check further down the list
     * is seen without the lock.
     */
    for (check = list; check; check = next) {
        next = check->next;

        if (check->done) {
            check->done(check->data, check->matched);
        }

        ngx_free(check);
    }
}
