/*
 * parse: TrackTik report entities out of a job payload.
 *
 * The envelope is unverified (see the API notes), so a bare entity,
 * {"data": {...}} and {"data": [...]} are all accepted.  Relations arrive
 * as integer ids or, when the subscription asked to include them, as
 * objects with an "id".  Every type error names the JSON path.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "tt_json.h"
#include "tz.h"


static int tt_parse_entity(yajl_val e, const char *path,
    const char *default_time_zone, tt_report_t *r, char *err, size_t errlen);
static int tt_parse_ref(yajl_val v, const char *path, const char *key,
    tt_ref_t *ref, char *err, size_t errlen);
static int tt_parse_id(yajl_val v, long long *id);
static int tt_parse_string(yajl_val v, const char *path, const char *key,
    const char **out, char *err, size_t errlen);
static int tt_parse_fields(yajl_val v, const char *path, tt_report_t *r,
    char *err, size_t errlen);
static yajl_val tt_get(yajl_val obj, const char *key);
static const char *tt_type_name(yajl_val v);


int
tt_payload_parse(const char *json, size_t len, const char *default_time_zone,
    tt_payload_t *p, char *err, size_t errlen)
{
    char      ebuf[512], path[32];
    size_t    i, n;
    yajl_val  data;

    (void) len;

    memset(p, 0, sizeof(*p));

    p->tree = tt_json_tree(json, TT_JSON_MAX_DEPTH, ebuf, sizeof(ebuf));

    if (p->tree == NULL) {
        snprintf(err, errlen, "payload is not valid JSON: %s", ebuf);
        return -1;
    }

    if (!YAJL_IS_OBJECT(p->tree)) {
        snprintf(err, errlen, "payload: expected a JSON object, got %s",
                 tt_type_name(p->tree));
        return -1;
    }

    data = tt_get(p->tree, "data");

    if (data == NULL) {
        p->reports = calloc(1, sizeof(tt_report_t));
        if (p->reports == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        p->nreports = 1;

        if (tt_parse_entity(p->tree, "", default_time_zone, &p->reports[0],
                            err, errlen) != 0)
        {
            return -1;
        }

        p->reports[0].data_index = TT_ENTITY_BARE;

        return 0;
    }

    if (YAJL_IS_OBJECT(data)) {
        n = 1;

    } else if (YAJL_IS_ARRAY(data)) {
        n = data->u.array.len;
        if (n == 0) {
            snprintf(err, errlen, "data: empty array, no report in payload");
            return -1;
        }

    } else {
        snprintf(err, errlen, "data: expected an object or an array of "
                 "objects, got %s", tt_type_name(data));
        return -1;
    }

    p->reports = calloc(n, sizeof(tt_report_t));
    if (p->reports == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->nreports = n;

    for (i = 0; i < n; i++) {
        yajl_val  e = YAJL_IS_ARRAY(data) ? data->u.array.values[i] : data;

        if (YAJL_IS_ARRAY(data)) {
            snprintf(path, sizeof(path), "data[%zu].", i);
        } else {
            snprintf(path, sizeof(path), "data.");
        }

        if (!YAJL_IS_OBJECT(e)) {
            snprintf(err, errlen, "%.*s: expected a report object, got %s",
                     (int) strlen(path) - 1, path, tt_type_name(e));
            return -1;
        }

        if (tt_parse_entity(e, path, default_time_zone, &p->reports[i], err,
                            errlen) != 0)
        {
            return -1;
        }

        p->reports[i].data_index = YAJL_IS_ARRAY(data) ? (int) i
                                                       : TT_ENTITY_DATA;
    }

    return 0;
}


void
tt_payload_free(tt_payload_t *p)
{
    size_t  i;

    for (i = 0; i < p->nreports; i++) {
        free(p->reports[i].fields);
    }

    free(p->reports);

    if (p->tree != NULL) {
        yajl_tree_free(p->tree);
    }

    memset(p, 0, sizeof(*p));
}


const char *
tt_report_field(const tt_report_t *r, const char *tag)
{
    size_t  i;

    for (i = 0; i < r->nfields; i++) {
        if (r->fields[i].tag != NULL && strcmp(r->fields[i].tag, tag) == 0) {
            return r->fields[i].value;
        }
    }

    return NULL;
}


static int
tt_parse_entity(yajl_val e, const char *path, const char *default_time_zone,
    tt_report_t *r, char *err, size_t errlen)
{
    const char  *s, *type, *site_tz;
    yajl_val     v, account, flag;
    tt_datetime_t  dt;

    /* id: the TrackTik report id */

    v = tt_get(e, "id");
    if (v == NULL || YAJL_IS_NULL(v)) {
        snprintf(err, errlen, "%sid: missing (a report entity needs its id)",
                 path);
        return -1;
    }
    if (tt_parse_id(v, &r->report_id) != 0) {
        snprintf(err, errlen, "%sid: expected a positive integer, got %s",
                 path, tt_type_name(v));
        return -1;
    }

    /* relations */

    if (tt_parse_ref(e, path, "reportTemplate", &r->template, err, errlen)
        || tt_parse_ref(e, path, "account", &r->site, err, errlen)
        || tt_parse_ref(e, path, "position", &r->position, err, errlen)
        || tt_parse_ref(e, path, "reportFlag", &r->flag, err, errlen))
    {
        return -1;
    }

    site_tz = NULL;
    account = tt_get(e, "account");

    if (account != NULL && YAJL_IS_OBJECT(account)) {
        char  apath[64];

        snprintf(apath, sizeof(apath), "%saccount.", path);

        if (tt_parse_string(account, apath, "timeZone", &site_tz, err, errlen)
            || tt_parse_ref(account, apath, "parentClient", &r->client, err,
                            errlen))
        {
            return -1;
        }

        if (!r->client.present
            && tt_parse_ref(account, apath, "client", &r->client, err,
                            errlen))
        {
            return -1;
        }

        if (!r->client.present) {
            if (tt_parse_string(account, apath, "type", &type, err, errlen)) {
                return -1;
            }
            if (type != NULL && (strcmp(type, "CLIENT") == 0
                                 || strcmp(type, "MULTI_LOCATION_CLIENT")
                                    == 0))
            {
                r->client = r->site;
                r->client.name = NULL;
            }
        }
    }

    flag = tt_get(e, "reportFlag");

    if (flag != NULL && YAJL_IS_OBJECT(flag)) {
        char  fpath[64];

        snprintf(fpath, sizeof(fpath), "%sreportFlag.", path);

        if (tt_parse_string(flag, fpath, "severityLevel", &r->severity, err,
                            errlen))
        {
            return -1;
        }
    }

    if (tt_parse_string(e, path, "status", &r->status, err, errlen)
        || tt_parse_string(e, path, "timeZone", &r->time_zone, err, errlen))
    {
        return -1;
    }

    if (r->time_zone == NULL || r->time_zone[0] == '\0') {
        r->time_zone = site_tz;
    }
    if (r->time_zone == NULL || r->time_zone[0] == '\0') {
        r->time_zone = default_time_zone;
    }

    if (!tt_tz_valid(r->time_zone)) {
        snprintf(err, errlen, "%stimeZone: \"%.64s\" is not a known time zone",
                 path, r->time_zone);
        return -1;
    }

    /* reportDateTime: when it happened */

    v = tt_get(e, "reportDateTime");
    if (v == NULL || YAJL_IS_NULL(v)) {
        snprintf(err, errlen, "%sreportDateTime: missing", path);
        return -1;
    }
    if (!YAJL_IS_STRING(v)) {
        snprintf(err, errlen, "%sreportDateTime: expected a date-time "
                 "string, got %s", path, tt_type_name(v));
        return -1;
    }
    s = YAJL_GET_STRING(v);
    if (tt_time_parse(s, strlen(s), &r->occurred_dt) != 0) {
        snprintf(err, errlen, "%sreportDateTime: \"%.40s\" is not an "
                 "ISO 8601 date-time", path, s);
        return -1;
    }
    if (tt_tz_instant(&r->occurred_dt, r->time_zone, &r->occurred_at) != 0) {
        snprintf(err, errlen, "%sreportDateTime: cannot place \"%.40s\" in "
                 "time zone %s", path, s, r->time_zone);
        return -1;
    }

    /* updatedOn: orders versions; optional */

    v = tt_get(e, "updatedOn");
    if (v != NULL && !YAJL_IS_NULL(v)) {
        if (YAJL_IS_INTEGER(v)) {
            r->updated_on = YAJL_GET_INTEGER(v);

        } else if (YAJL_IS_STRING(v)) {
            s = YAJL_GET_STRING(v);
            if (tt_time_parse(s, strlen(s), &dt) != 0
                || tt_tz_instant(&dt, r->time_zone, &r->updated_on) != 0)
            {
                snprintf(err, errlen, "%supdatedOn: \"%.40s\" is not an "
                         "ISO 8601 date-time", path, s);
                return -1;
            }

        } else {
            snprintf(err, errlen, "%supdatedOn: expected a date-time "
                     "string, got %s", path, tt_type_name(v));
            return -1;
        }

        r->has_updated_on = 1;
    }

    return tt_parse_fields(tt_get(e, "reportFields"), path, r, err, errlen);
}


static int
tt_parse_fields(yajl_val v, const char *path, tt_report_t *r, char *err,
    size_t errlen)
{
    size_t    i, n;
    yajl_val  f, tag, value;

    if (v == NULL || YAJL_IS_NULL(v)) {
        return 0;
    }

    if (!YAJL_IS_ARRAY(v)) {
        snprintf(err, errlen, "%sreportFields: expected an array, got %s",
                 path, tt_type_name(v));
        return -1;
    }

    n = v->u.array.len;
    if (n == 0) {
        return 0;
    }

    r->fields = calloc(n, sizeof(tt_field_t));
    if (r->fields == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        f = v->u.array.values[i];

        if (YAJL_IS_INTEGER(f)) {
            continue;                   /* an id only: nothing to read */
        }

        if (!YAJL_IS_OBJECT(f)) {
            snprintf(err, errlen, "%sreportFields[%zu]: expected an object "
                     "or an id, got %s", path, i, tt_type_name(f));
            return -1;
        }

        tag = tt_get(f, "fieldTag");
        value = tt_get(f, "value");

        if (tag != NULL && !YAJL_IS_NULL(tag) && !YAJL_IS_STRING(tag)) {
            snprintf(err, errlen, "%sreportFields[%zu].fieldTag: expected a "
                     "string, got %s", path, i, tt_type_name(tag));
            return -1;
        }

        r->fields[r->nfields].tag = (tag && YAJL_IS_STRING(tag))
                                    ? YAJL_GET_STRING(tag) : NULL;

        if (value == NULL || YAJL_IS_NULL(value)) {
            r->fields[r->nfields].value = NULL;

        } else if (YAJL_IS_STRING(value)) {
            r->fields[r->nfields].value = YAJL_GET_STRING(value);

        } else if (YAJL_IS_NUMBER(value)) {
            r->fields[r->nfields].value = YAJL_GET_NUMBER(value);

        } else if (YAJL_IS_TRUE(value) || YAJL_IS_FALSE(value)) {
            r->fields[r->nfields].value = YAJL_IS_TRUE(value) ? "true"
                                                             : "false";
        } else {
            snprintf(err, errlen, "%sreportFields[%zu].value: expected a "
                     "string or a number, got %s", path, i,
                     tt_type_name(value));
            return -1;
        }

        r->nfields++;
    }

    return 0;
}


static int
tt_parse_ref(yajl_val obj, const char *path, const char *key, tt_ref_t *ref,
    char *err, size_t errlen)
{
    yajl_val  v, id, name;

    memset(ref, 0, sizeof(*ref));

    v = tt_get(obj, key);
    if (v == NULL || YAJL_IS_NULL(v)) {
        return 0;
    }

    if (YAJL_IS_NUMBER(v) || YAJL_IS_STRING(v)) {
        if (tt_parse_id(v, &ref->id) != 0) {
            snprintf(err, errlen, "%s%s: expected an integer id or an "
                     "object, got %s", path, key, tt_type_name(v));
            return -1;
        }
        ref->present = 1;
        ref->has_id = 1;
        return 0;
    }

    if (!YAJL_IS_OBJECT(v)) {
        snprintf(err, errlen, "%s%s: expected an integer id or an object, "
                 "got %s", path, key, tt_type_name(v));
        return -1;
    }

    ref->present = 1;

    id = tt_get(v, "id");
    if (id != NULL && !YAJL_IS_NULL(id)) {
        if (tt_parse_id(id, &ref->id) != 0) {
            snprintf(err, errlen, "%s%s.id: expected a positive integer, "
                     "got %s", path, key, tt_type_name(id));
            return -1;
        }
        ref->has_id = 1;
    }

    name = tt_get(v, "name");
    if (name != NULL && !YAJL_IS_NULL(name)) {
        if (!YAJL_IS_STRING(name)) {
            snprintf(err, errlen, "%s%s.name: expected a string, got %s",
                     path, key, tt_type_name(name));
            return -1;
        }
        ref->name = YAJL_GET_STRING(name);
    }

    return 0;
}


/* an integer, or a string of decimal digits, greater than zero */
static int
tt_parse_id(yajl_val v, long long *id)
{
    char        *end;
    const char  *s;
    long long    n;

    if (YAJL_IS_INTEGER(v)) {
        n = YAJL_GET_INTEGER(v);

    } else if (YAJL_IS_STRING(v)) {
        s = YAJL_GET_STRING(v);
        if (s[0] < '0' || s[0] > '9') {
            return -1;
        }
        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0') {
            return -1;
        }

    } else {
        return -1;
    }

    if (n <= 0) {
        return -1;
    }

    *id = n;
    return 0;
}


static int
tt_parse_string(yajl_val obj, const char *path, const char *key,
    const char **out, char *err, size_t errlen)
{
    yajl_val  v;

    *out = NULL;

    v = tt_get(obj, key);
    if (v == NULL || YAJL_IS_NULL(v)) {
        return 0;
    }

    if (!YAJL_IS_STRING(v)) {
        snprintf(err, errlen, "%s%s: expected a string, got %s", path, key,
                 tt_type_name(v));
        return -1;
    }

    *out = YAJL_GET_STRING(v);
    return 0;
}


static yajl_val
tt_get(yajl_val obj, const char *key)
{
    size_t  i;

    if (!YAJL_IS_OBJECT(obj)) {
        return NULL;
    }

    for (i = 0; i < obj->u.object.len; i++) {
        if (strcmp(obj->u.object.keys[i], key) == 0) {
            return obj->u.object.values[i];
        }
    }

    return NULL;
}


static const char *
tt_type_name(yajl_val v)
{
    if (YAJL_IS_STRING(v)) {
        return "a string";
    }
    if (YAJL_IS_NUMBER(v)) {
        return "a number";
    }
    if (YAJL_IS_OBJECT(v)) {
        return "an object";
    }
    if (YAJL_IS_ARRAY(v)) {
        return "an array";
    }
    if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        return "a boolean";
    }
    return "null";
}
