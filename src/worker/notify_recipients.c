/*
 * notify_recipients: the "recipients" of a notification rule file, each
 * checked (an email address, a webhook with its secret file, or a portal
 * role), and the webhooks' secrets read from their files into one JSON
 * object that is stored apart from the rules.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "contracts.h"
#include "tz.h"
#include "notify.h"


#define TT_STR(v)  ((const char *) (v)->u.string)


typedef struct {
    char    *data;
    size_t   len;
    size_t   size;
} tt_notify_buf_t;


static int tt_notify_recipient(yajl_val v, const char *name,
    const char *dir, tt_notify_buf_t *secrets, char *err, size_t errlen);
static int tt_notify_secrets(const char *file, const char *where,
    tt_notify_buf_t *out, char *err, size_t errlen);
static int tt_notify_secret_valid(const char *s, size_t len);
static int tt_notify_name_valid(const char *s);
static const char *tt_notify_shown(const char *s, char *buf, size_t size);
static int tt_notify_append(tt_notify_buf_t *b, const char *s, size_t len);


static const char  *tt_notify_recipient_keys[] = {
    "email", "webhook", "secret_file", "portal_role", "sites", "time_zone",
    "description", NULL
};


int
tt_notify_recipients_parse(yajl_val recipients, const char *dir,
    char **secrets_json, char *err, size_t errlen)
{
    size_t           i;
    tt_notify_buf_t  secrets;

    memset(&secrets, 0, sizeof(secrets));
    *secrets_json = NULL;

    if (tt_notify_append(&secrets, "{", 1) != 0) {
        goto nomem;
    }

    for (i = 0; i < recipients->u.object.len; i++) {
        if (tt_notify_recipient(recipients->u.object.values[i],
                                recipients->u.object.keys[i], dir, &secrets,
                                err, errlen) != 0)
        {
            free(secrets.data);
            return -1;
        }
    }

    if (tt_notify_append(&secrets, "}", 1) != 0) {
        goto nomem;
    }

    *secrets_json = secrets.data;
    return 0;

nomem:

    free(secrets.data);
    snprintf(err, errlen, "out of memory");
    return -1;
}


int
tt_notify_email_valid(const char *s)
{
    size_t       n;
    const char  *at, *p, *dot;

    at = strchr(s, '@');
    n = strlen(s);

    if (at == NULL || at == s || strchr(at + 1, '@') != NULL || n > 254) {
        return 0;
    }

    for (p = s; p < at; p++) {
        if (*p <= ' ' || *p >= 0x7f || strchr("<>()[]\\,;:\"", *p) != NULL) {
            return 0;
        }
    }

    dot = strrchr(at, '.');
    if (dot == NULL || dot == at + 1 || dot[1] == '\0' || at[1] == '-') {
        return 0;
    }

    for (p = at + 1; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.')
            || (*p == '.' && p[1] == '.'))
        {
            return 0;
        }
    }

    return 1;
}


static int
tt_notify_recipient(yajl_val v, const char *name, const char *dir,
    tt_notify_buf_t *secrets, char *err, size_t errlen)
{
    int          kinds;
    char         where[128], path[2048], shown[84];
    size_t       i;
    yajl_val     email, hook, role, file, sites, zone;
    const char  *url;

    snprintf(where, sizeof(where), "recipient \"%.64s\"", name);

    if (!tt_notify_name_valid(name)) {
        snprintf(err, errlen, "%s: the name may hold only letters, digits, "
                 "\"-\", \"_\" and \".\" (at most 64)", where);
        return -1;
    }

    if (!YAJL_IS_OBJECT(v)) {
        snprintf(err, errlen, "%s: expected an object", where);
        return -1;
    }

    if (tt_rule_keys_check(v, tt_notify_recipient_keys, where, err, errlen)
        != 0)
    {
        return -1;
    }

    email = tt_rule_get(v, "email");
    hook = tt_rule_get(v, "webhook");
    role = tt_rule_get(v, "portal_role");
    kinds = (email != NULL) + (hook != NULL) + (role != NULL);

    if (kinds != 1) {
        snprintf(err, errlen, "%s: give exactly one of email, webhook and "
                 "portal_role", where);
        return -1;
    }

    zone = tt_rule_get(v, "time_zone");
    if (zone != NULL && (!YAJL_IS_STRING(zone) || TT_STR(zone)[0] == '\0'
                         || strlen(TT_STR(zone)) > 64
                         || !tt_tz_valid(TT_STR(zone))))
    {
        snprintf(err, errlen, "%s: time_zone: expected a zone name such as "
                 "\"America/Toronto\"", where);
        return -1;
    }

    if (email != NULL) {
        if (!YAJL_IS_STRING(email) || !tt_notify_email_valid(TT_STR(email)))
        {
            snprintf(err, errlen, "%s: email: \"%s\" is not a mail "
                     "address (local@domain.tld)", where,
                     tt_notify_shown(YAJL_IS_STRING(email) ? TT_STR(email)
                                     : "", shown, sizeof(shown)));
            return -1;
        }
        return 0;
    }

    if (role != NULL) {
        if (!YAJL_IS_STRING(role) || (strcmp(TT_STR(role), "client") != 0
                                      && strcmp(TT_STR(role), "operator")
                                         != 0))
        {
            snprintf(err, errlen, "%s: portal_role: expected \"client\" or "
                     "\"operator\"", where);
            return -1;
        }

        sites = tt_rule_get(v, "sites");
        if (sites != NULL) {
            if (!YAJL_IS_ARRAY(sites) || sites->u.array.len == 0) {
                snprintf(err, errlen, "%s: sites: expected a non-empty list "
                         "of site ids", where);
                return -1;
            }
            for (i = 0; i < sites->u.array.len; i++) {
                if (!YAJL_IS_INTEGER(sites->u.array.values[i])) {
                    snprintf(err, errlen, "%s: sites: expected integer "
                             "site ids", where);
                    return -1;
                }
            }
        }
        return 0;
    }

    url = YAJL_IS_STRING(hook) ? TT_STR(hook) : "";

    if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        || strlen(url) > 2000 || strpbrk(url, " \t\r\n") != NULL)
    {
        snprintf(err, errlen, "%s: webhook: \"%s\" is not an http:// or "
                 "https:// URL", where,
                 tt_notify_shown(url, shown, sizeof(shown)));
        return -1;
    }

    file = tt_rule_get(v, "secret_file");
    if (file == NULL || !YAJL_IS_STRING(file) || TT_STR(file)[0] == '\0') {
        snprintf(err, errlen, "%s: secret_file: missing (a file of "
                 "\"whsec_...\" secrets, one a line)", where);
        return -1;
    }

    if (TT_STR(file)[0] == '/') {
        snprintf(path, sizeof(path), "%s", TT_STR(file));
    } else {
        snprintf(path, sizeof(path), "%s/%s", dir, TT_STR(file));
    }

    if (secrets->len > 1 && tt_notify_append(secrets, ",", 1) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    if (tt_notify_append(secrets, "\"", 1) != 0
        || tt_notify_append(secrets, name, strlen(name)) != 0
        || tt_notify_append(secrets, "\":", 2) != 0)
    {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    return tt_notify_secrets(path, where, secrets, err, errlen);
}


/* the file's secrets appended to out as a JSON array */
static int
tt_notify_secrets(const char *file, const char *where, tt_notify_buf_t *out,
    char *err, size_t errlen)
{
    int      n;
    char    *text, *line, *next, why[512];
    size_t   len, l;

    text = tt_contracts_slurp(file, &len, why, sizeof(why));
    if (text == NULL) {
        snprintf(err, errlen, "%s: secret_file: %s", where, why);
        return -1;
    }

    n = 0;

    if (tt_notify_append(out, "[", 1) != 0) {
        goto nomem;
    }

    for (line = text; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }

        l = strlen(line);
        if (l > 0 && line[l - 1] == '\r') {
            line[--l] = '\0';
        }

        if (l == 0) {
            continue;
        }

        if (!tt_notify_secret_valid(line, l)) {
            /* the line itself is a secret: never repeated */
            snprintf(err, errlen, "%s: secret_file: line %d is not "
                     "\"whsec_\" and the base64 of 24 to 64 bytes", where,
                     n + 1);
            free(text);
            return -1;
        }

        if ((n > 0 && tt_notify_append(out, ",", 1) != 0)
            || tt_notify_append(out, "\"", 1) != 0
            || tt_notify_append(out, line, l) != 0
            || tt_notify_append(out, "\"", 1) != 0)
        {
            goto nomem;
        }

        n++;
    }

    /* the copy of the secrets is wiped with the file's bytes */
    memset(text, 0, len);
    free(text);

    if (n == 0) {
        snprintf(err, errlen, "%s: secret_file: no secret in %s", where,
                 file);
        return -1;
    }

    return tt_notify_append(out, "]", 1);

nomem:

    free(text);
    snprintf(err, errlen, "out of memory");
    return -1;
}


/* "whsec_" and standard base64 of 24..64 bytes (Standard Webhooks) */
static int
tt_notify_secret_valid(const char *s, size_t len)
{
    size_t  i, b, pad;

    if (len < 6 || strncmp(s, "whsec_", 6) != 0) {
        return 0;
    }

    s += 6;
    len -= 6;
    pad = 0;

    if (len == 0 || len % 4 != 0) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] == '=' && i >= len - 2) {
            pad++;
        } else if (pad > 0
                   || !((s[i] >= 'a' && s[i] <= 'z')
                        || (s[i] >= 'A' && s[i] <= 'Z')
                        || (s[i] >= '0' && s[i] <= '9')
                        || s[i] == '+' || s[i] == '/'))
        {
            return 0;
        }
    }

    b = len / 4 * 3 - pad;

    return b >= 24 && b <= 64;
}


static int
tt_notify_name_valid(const char *s)
{
    const char  *p;

    if (*s == '\0' || strlen(s) > 64) {
        return 0;
    }

    for (p = s; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
              || *p == '.'))
        {
            return 0;
        }
    }

    return 1;
}


/* s for an error message: at most size - 1 bytes, controls as "?" */
static const char *
tt_notify_shown(const char *s, char *buf, size_t size)
{
    size_t  i;

    for (i = 0; s[i] != '\0' && i + 1 < size; i++) {
        buf[i] = (unsigned char) s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    }

    buf[i] = '\0';
    return buf;
}


static int
tt_notify_append(tt_notify_buf_t *b, const char *s, size_t len)
{
    char    *p;
    size_t   size;

    if (b->len + len + 1 > b->size) {
        size = b->size ? b->size * 2 : 256;
        while (b->len + len + 1 > size) {
            size *= 2;
        }

        p = realloc(b->data, size);
        if (p == NULL) {
            return -1;
        }

        b->data = p;
        b->size = size;
    }

    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';

    return 0;
}
