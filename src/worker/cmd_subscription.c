/*
 * cmd_subscription: `subscription create|list|suspend|enable|archive`:
 * the tenant's Events Subscriptions (subscriptions.c) as an operator
 * connects nginx to a tenant.  `create` makes the shared secret itself,
 * appends it to the module's secret file (mode 600) before TrackTik
 * hears of it, takes it out again when TrackTik refuses, and prints the
 * nginx.conf lines; the secret is never printed or logged.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"
#include "cmd.h"
#include "subscriptions.h"


#define TT_SUB_SECRET_BYTES  32         /* 64 hex digits of key */


typedef struct {
    int     fd;
    int     created;                    /* the file is ours to remove */
    off_t   size;                       /* its length before */
    char    path[PATH_MAX];
} tt_secret_file_t;


static int tt_cmd_sub_check_url(const char *value, char *err,
    size_t errlen);
static int tt_cmd_sub_check_header(const char *value, char *err,
    size_t errlen);
static int tt_cmd_sub_check_text(const char *value, char *err,
    size_t errlen);
static int tt_cmd_sub_check_ids(const char *value, char *err,
    size_t errlen);
static int tt_cmd_sub_check_email(const char *value, char *err,
    size_t errlen);
static int tt_cmd_sub_action(tt_cmd_args_t *args, const char *action,
    const char *done, const char *reason);
static int tt_secret_new(char *hex, size_t size);
static int tt_secret_append(tt_secret_file_t *sf, const char *file,
    const char *secret);
static void tt_secret_undo(tt_secret_file_t *sf);
static void tt_cmd_sub_print_conf(long long id, const char *events,
    const char *url, const char *header, const char *secret_file);


#define TT_SUB_OPT(name, arg, field, check, def, help)                      \
    { name, arg, TT_OPT_TEXT, TT_IN_COMMAND,                                \
      offsetof(tt_subscription_create_opts_t, field), 0, 0, check, NULL,    \
      def, help }

const tt_option_t  tt_cmd_subscription_create_options[] = {
    TT_SUB_OPT("webhook-url", "URL", webhook_url, tt_cmd_sub_check_url, NULL,
               "where TrackTik posts: nginx's tracktik_webhook location, "
               "https://... (http:// only to 127.0.0.1 or localhost)"),
    TT_SUB_OPT("secret-file", "FILE", secret_file, tt_cmd_sub_check_text,
               NULL, "the module's tracktik_webhook_secret_file: the new "
               "secret is appended (the file is created mode 600)"),
    TT_SUB_OPT("custom-id", "ID", custom_id, tt_cmd_sub_check_text,
               "ngx-tracktik-reports", "the subscription's customId"),
    TT_SUB_OPT("name", "TEXT", name, tt_cmd_sub_check_text,
               "Reports to nginx (ngx_http_tracktik)",
               "the subscription's name"),
    TT_SUB_OPT("events", "LIST", events, tt_cmd_sub_check_text,
               "entity:reports:created,entity:reports:updated",
               "the events, comma separated, all of one resource"),
    TT_SUB_OPT("secret-header", "NAME", secret_header,
               tt_cmd_sub_check_header, "TrackTik-Subscription-Secret",
               "secretHeaderName: the header the signature comes in"),
    { "include", "LIST", TT_OPT_TEXT_OR_OFF, TT_IN_COMMAND,
      offsetof(tt_subscription_create_opts_t, include), 0, 0, NULL, NULL,
      "reportFields,reportTemplate,account,position,reportFlag,createdOn,"
      "updatedOn", "entityResponse.include: what the body carries (\"\": "
      "TrackTik's default body)" },
    TT_SUB_OPT("regions", "IDS", regions, tt_cmd_sub_check_ids, NULL,
               "contextFilters: only these regions (and their children), "
               "comma separated ids (default: the API user's region)"),
    TT_SUB_OPT("failure-email", "EMAIL", failure_email,
               tt_cmd_sub_check_email, NULL,
               "failureEmail: who TrackTik tells of failed deliveries"),
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


const tt_option_t  tt_cmd_subscription_suspend_options[] = {
    { "reason", "TEXT", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_subscription_suspend_opts_t, reason), 0, 0,
      tt_cmd_sub_check_text, NULL, NULL,
      "why (TrackTik requires one)" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


int
tt_cmd_subscription_create(tt_cmd_args_t *args)
{
    int                             rc;
    char                            secret[2 * TT_SUB_SECRET_BYTES + 1];
    char                            err[1024];
    long long                       id;
    tt_sub_rc_e                     src;
    tt_channel_t                    ch;
    tt_secret_file_t                sf;
    tt_subscription_t               s;
    tt_subscription_create_opts_t  *o;

    o = args->opts;

    if (o->webhook_url == NULL || o->secret_file == NULL) {
        tt_cmd_error("subscription create needs --webhook-url URL and "
                     "--secret-file FILE");
        return TT_EXIT_USAGE;
    }

    if (tt_cmd_open_tenant(args, &ch) != 0) {
        return 1;
    }

    if (tt_secret_new(secret, sizeof(secret)) != 0) {
        tt_channel_close(&ch);
        return 1;
    }

    /* in the file first: nginx must know the secret TrackTik signs with */
    if (tt_secret_append(&sf, o->secret_file, secret) != 0) {
        explicit_bzero(secret, sizeof(secret));
        tt_channel_close(&ch);
        return 1;
    }

    memset(&s, 0, sizeof(s));
    s.custom_id = o->custom_id;
    s.name = o->name;
    s.events = o->events;
    s.url = o->webhook_url;
    s.header = o->secret_header;
    s.secret = secret;
    s.include = o->include;
    s.regions = o->regions;
    s.failure_email = o->failure_email;

    src = tt_subscription_create(&ch.api, &s, &id, err, sizeof(err));
    explicit_bzero(secret, sizeof(secret));

    rc = 1;

    switch (src) {

    case TT_SUB_OK:
        tt_cmd_sub_print_conf(id, o->events, o->webhook_url,
                              o->secret_header, sf.path);
        rc = 0;
        break;

    case TT_SUB_UNKNOWN:
        tt_cmd_error("%s; the subscription may have been created: see "
                     "`tracktik-worker subscription list`.  Its secret "
                     "stays the last line of %s (remove it if no "
                     "subscription %s shows)", err, sf.path, o->custom_id);
        break;

    default:
        tt_secret_undo(&sf);
        tt_cmd_error("%s; %s is as it was", err, sf.path);
    }

    close(sf.fd);
    tt_channel_close(&ch);

    return rc;
}


int
tt_cmd_subscription_list(tt_cmd_args_t *args)
{
    char                    err[1024];
    size_t                  i, n;
    tt_channel_t            ch;
    tt_subscription_row_t  *rows, *r;

    if (tt_cmd_open_tenant(args, &ch) != 0) {
        return 1;
    }

    if (tt_subscription_list(&ch.api, &rows, &n, err, sizeof(err))
        != TT_SUB_OK)
    {
        tt_cmd_error("%s", err);
        tt_channel_close(&ch);
        return 1;
    }

    printf("id\tcustomId\tname\tevents\turl\tlastTriggeredOn\n");

    for (i = 0; i < n; i++) {
        r = &rows[i];
        printf("%s\t%s\t%s\t%s\t%s\t%s\n", r->id, r->custom_id, r->name,
               r->events, r->url,
               r->last_triggered_on[0] ? r->last_triggered_on : "-");
    }

    tt_subscription_rows_free(rows, n);
    tt_channel_close(&ch);

    return 0;
}


int
tt_cmd_subscription_suspend(tt_cmd_args_t *args)
{
    tt_subscription_suspend_opts_t  *o;

    o = args->opts;

    if (o->reason == NULL) {
        tt_cmd_error("subscription suspend needs --reason TEXT (TrackTik "
                     "requires one)");
        return TT_EXIT_USAGE;
    }

    return tt_cmd_sub_action(args, "suspend", "suspended", o->reason);
}


int
tt_cmd_subscription_enable(tt_cmd_args_t *args)
{
    return tt_cmd_sub_action(args, "enable", "enabled", NULL);
}


int
tt_cmd_subscription_archive(tt_cmd_args_t *args)
{
    return tt_cmd_sub_action(args, "archive", "archived", NULL);
}


static int
tt_cmd_sub_action(tt_cmd_args_t *args, const char *action, const char *done,
    const char *reason)
{
    char          err[1024];
    const char   *id;
    tt_channel_t  ch;

    id = args->argv[0];

    if (id[0] == '\0' || strspn(id, "0123456789") != strlen(id)
        || strlen(id) > 18)
    {
        tt_cmd_error("\"%s\" is not a subscription id (see `tracktik-worker "
                     "subscription list`)", id);
        return TT_EXIT_USAGE;
    }

    if (tt_cmd_open_tenant(args, &ch) != 0) {
        return 1;
    }

    if (tt_subscription_action(&ch.api, id, action, reason, err,
                               sizeof(err))
        != TT_SUB_OK)
    {
        tt_cmd_error("subscription %s: %s", id, err);
        tt_channel_close(&ch);
        return 1;
    }

    printf("subscription %s %s\n", id, done);
    tt_channel_close(&ch);

    return 0;
}


/* TT_SUB_SECRET_BYTES from the kernel's CSPRNG, in lower-case hex */
static int
tt_secret_new(char *hex, size_t size)
{
    size_t         i;
    ssize_t        n;
    unsigned char  raw[TT_SUB_SECRET_BYTES];

    if (size < 2 * sizeof(raw) + 1) {
        return -1;
    }

    n = getrandom(raw, sizeof(raw), 0);
    if (n != (ssize_t) sizeof(raw)) {
        tt_cmd_error("no random bytes for the secret: %s",
                     n < 0 ? strerror(errno) : "short read");
        return -1;
    }

    for (i = 0; i < sizeof(raw); i++) {
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    }

    explicit_bzero(raw, sizeof(raw));

    return 0;
}


/*
 * Appends secret as a line of its own to file, created mode 600 when
 * missing; refuses a file other users may read.  sf remembers how to
 * take it out again.  0, or -1 after printing why (nothing changed).
 */
static int
tt_secret_append(tt_secret_file_t *sf, const char *file, const char *secret)
{
    char         last, line[2 * TT_SUB_SECRET_BYTES + 3];
    size_t       len;
    struct stat  st;

    memset(sf, 0, sizeof(*sf));
    sf->fd = -1;

    if (stat(file, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            tt_cmd_error("--secret-file %s is not a regular file", file);
            return -1;
        }
        if (st.st_mode & 077) {
            tt_cmd_error("--secret-file %s may be read by other users (mode "
                         "%03o): chmod 600 it first", file,
                         (unsigned) (st.st_mode & 0777));
            return -1;
        }

    } else if (errno != ENOENT) {
        tt_cmd_error("--secret-file %s: %s", file, strerror(errno));
        return -1;

    } else {
        sf->created = 1;
    }

    sf->fd = open(file, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (sf->fd < 0) {
        tt_cmd_error("cannot open --secret-file %s: %s", file,
                     strerror(errno));
        return -1;
    }

    if (realpath(file, sf->path) == NULL) {
        snprintf(sf->path, sizeof(sf->path), "%s", file);
    }

    /* one create at a time per file: an undo must cut only its own line */
    if (flock(sf->fd, LOCK_EX) != 0) {
        goto failed;
    }

    if (fstat(sf->fd, &st) != 0) {
        goto failed;
    }
    sf->size = st.st_size;

    /* a last line without its newline must not run into ours */
    len = 0;
    if (sf->size > 0) {
        if (pread(sf->fd, &last, 1, sf->size - 1) != 1) {
            goto failed;
        }
        if (last != '\n') {
            line[len++] = '\n';
        }
    }

    len += snprintf(line + len, sizeof(line) - len, "%s\n", secret);

    if (write(sf->fd, line, len) != (ssize_t) len || fsync(sf->fd) != 0) {
        tt_cmd_error("cannot write --secret-file %s: %s", sf->path,
                     strerror(errno));
        explicit_bzero(line, sizeof(line));
        tt_secret_undo(sf);
        close(sf->fd);
        return -1;
    }

    explicit_bzero(line, sizeof(line));

    return 0;

failed:

    tt_cmd_error("--secret-file %s: %s", sf->path, strerror(errno));
    close(sf->fd);
    if (sf->created) {
        unlink(sf->path);
    }

    return -1;
}


/* the file as it was before tt_secret_append() */
static void
tt_secret_undo(tt_secret_file_t *sf)
{
    if (sf->created) {
        unlink(sf->path);
        return;
    }

    if (ftruncate(sf->fd, sf->size) != 0 || fsync(sf->fd) != 0) {
        tt_cmd_error("could not take the unused secret out of %s (%s): "
                     "remove its last line", sf->path, strerror(errno));
    }
}


static void
tt_cmd_sub_print_conf(long long id, const char *events, const char *url,
    const char *header, const char *secret_file)
{
    size_t       len;
    const char  *path;

    /* the location is the URL's path: after "scheme://host[:port]" */
    path = strstr(url, "://");
    path = path != NULL ? strchr(path + 3, '/') : NULL;
    if (path == NULL) {
        path = "/";
    }
    len = strcspn(path, "?#");

    printf("subscription %lld created: %s -> %s\n"
           "its secret is the new last line of %s\n"
           "\n"
           "nginx.conf, in the server block that serves %s "
           "(then: nginx -t && nginx -s reload):\n"
           "\n"
           "    location = %.*s {\n"
           "        tracktik_webhook;\n"
           "        tracktik_webhook_secret_file %s;\n"
           "        tracktik_webhook_header %s;\n"
           "        client_max_body_size 2m;\n"
           "        client_body_buffer_size 2m;\n"
           "    }\n"
           "\n"
           "Until the reload nginx refuses the subscription's deliveries "
           "(401), and whether\nTrackTik sends them again is not "
           "documented: reload now (an nginx that\nalready reads %s "
           "needs nothing else).\n",
           id, events, url, secret_file, url, (int) len, path, secret_file,
           header, secret_file);
}


static int
tt_cmd_sub_check_url(const char *value, char *err, size_t errlen)
{
    char  why[512];

    /* the tenant URL's rule: a signed body in clear text only on this
     * machine (a simulator, a local proxy) */
    if (tt_api_url_check(value, "", why, sizeof(why)) != 0
        || strchr(strstr(value, "://") + 3, '/') == NULL)
    {
        snprintf(err, errlen, "\"%s\" is not the URL of a webhook "
                 "location: https://HOST/PATH (http:// only to this "
                 "machine)", value);
        return -1;
    }

    return 0;
}


static int
tt_cmd_sub_check_header(const char *value, char *err, size_t errlen)
{
    if (value[0] == '\0' || strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "abcdefghijklmnopqrstuvwxyz"
                                          "0123456789-")
                            != strlen(value))
    {
        snprintf(err, errlen, "\"%s\" is not a header name (letters, "
                 "digits and -)", value);
        return -1;
    }

    return 0;
}


static int
tt_cmd_sub_check_text(const char *value, char *err, size_t errlen)
{
    if (value[0] == '\0' || strspn(value, " \t") == strlen(value)) {
        snprintf(err, errlen, "must not be empty (TrackTik requires it)");
        return -1;
    }

    return 0;
}


static int
tt_cmd_sub_check_ids(const char *value, char *err, size_t errlen)
{
    if (value[0] == '\0' || strspn(value, "0123456789,") != strlen(value)) {
        snprintf(err, errlen, "\"%s\" is not a list of region ids like "
                 "3,5", value);
        return -1;
    }

    return 0;
}


static int
tt_cmd_sub_check_email(const char *value, char *err, size_t errlen)
{
    const char  *at;

    at = strchr(value, '@');

    if (at == NULL || at == value || at[1] == '\0'
        || strpbrk(value, " \t\r\n,;") != NULL)
    {
        snprintf(err, errlen, "\"%s\" is not an email address", value);
        return -1;
    }

    return 0;
}
