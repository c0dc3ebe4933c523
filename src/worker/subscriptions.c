/*
 * subscriptions: Events Subscriptions through the REST API (the paths,
 * fields and actions of the tenant's OpenAPI file: EventsSubscriptionsPost,
 * .../actions/suspend {reason}, .../actions/enable, .../actions/archive).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subscriptions.h"
#include "tt_json.h"


#define TT_SUB_PATH   "/rest/v1/events-subscriptions"
#define TT_SUB_PAGE   1000              /* TrackTik's largest page */


static void tt_sub_list_gen(yajl_gen g, const char *list, const char *prefix);
static tt_sub_rc_e tt_sub_post(tt_api_t *api, const char *path,
    const char *body, const char *what, long long *id, char *err,
    size_t errlen);
static char *tt_sub_text(yajl_val item, const char *key);


char *
tt_subscription_body(const tt_subscription_t *s)
{
    yajl_gen  g;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NULL;
    }

#define TT_STR(v)   yajl_gen_string(g, (const unsigned char *) (v), strlen(v))

    yajl_gen_map_open(g);
    TT_STR("customId");          TT_STR(s->custom_id);
    TT_STR("name");              TT_STR(s->name);
    TT_STR("events");            tt_sub_list_gen(g, s->events, "");
    TT_STR("url");               TT_STR(s->url);
    TT_STR("secretHeaderName");  TT_STR(s->header);
    TT_STR("secret");            TT_STR(s->secret);

    if (s->include != NULL && s->include[0] != '\0') {
        TT_STR("entityResponse");
        yajl_gen_map_open(g);
        TT_STR("include");
        tt_sub_list_gen(g, s->include, "");
        yajl_gen_map_close(g);
    }

    /* {"filters": [{"tag": "context.region.3", "includeChildren": true}]} */
    if (s->regions != NULL) {
        TT_STR("contextFilters");
        yajl_gen_map_open(g);
        TT_STR("filters");
        tt_sub_list_gen(g, s->regions, "context.region.");
        yajl_gen_map_close(g);
    }

    if (s->failure_email != NULL) {
        TT_STR("failureEmail");  TT_STR(s->failure_email);
    }

    yajl_gen_map_close(g);

#undef TT_STR

    return tt_api_json_text(g);
}


tt_sub_rc_e
tt_subscription_create(tt_api_t *api, const tt_subscription_t *s,
    long long *id, char *err, size_t errlen)
{
    char         *body;
    tt_sub_rc_e   rc;

    body = tt_subscription_body(s);
    if (body == NULL) {
        snprintf(err, errlen, "out of memory");
        return TT_SUB_ERROR;
    }

    rc = tt_sub_post(api, TT_SUB_PATH, body, "creating the subscription",
                     id, err, errlen);

    /* the body holds the secret */
    memset(body, 0, strlen(body));
    free(body);

    return rc;
}


tt_sub_rc_e
tt_subscription_action(tt_api_t *api, const char *id, const char *action,
    const char *reason, char *err, size_t errlen)
{
    char         *body, path[256], what[64];
    yajl_gen      g;
    long long     got;
    tt_sub_rc_e   rc;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        snprintf(err, errlen, "out of memory");
        return TT_SUB_ERROR;
    }

    yajl_gen_map_open(g);
    if (reason != NULL) {
        yajl_gen_string(g, (const unsigned char *) "reason", 6);
        yajl_gen_string(g, (const unsigned char *) reason, strlen(reason));
    }
    yajl_gen_map_close(g);

    body = tt_api_json_text(g);
    if (body == NULL) {
        snprintf(err, errlen, "out of memory");
        return TT_SUB_ERROR;
    }

    snprintf(path, sizeof(path), TT_SUB_PATH "/%s/actions/%s", id, action);
    snprintf(what, sizeof(what), "the %s action", action);

    rc = tt_sub_post(api, path, body, what, &got, err, errlen);
    free(body);

    return rc;
}


tt_sub_rc_e
tt_subscription_list(tt_api_t *api, tt_subscription_row_t **rows, size_t *n,
    char *err, size_t errlen)
{
    char                    path[128], reason[512];
    size_t                  i, count, offset;
    yajl_val                tree, data, item;
    tt_api_rc_e             arc;
    tt_http_answer_t        answer;
    tt_subscription_row_t  *all, *more, *r;
    const char             *dpath[] = { "data", NULL };

    all = NULL;
    *n = 0;
    offset = 0;

    for ( ;; ) {
        snprintf(path, sizeof(path), TT_SUB_PATH "?sort=id&limit=%d"
                 "&offset=%zu", TT_SUB_PAGE, offset);

        arc = tt_api_request(api, "GET", path, NULL, &answer, err, errlen);
        if (arc != TT_API_OK) {
            goto failed;
        }

        if (answer.status != 200) {
            snprintf(err, errlen, "listing subscriptions: TrackTik answered "
                     "%s", tt_api_error_text(&answer, reason,
                                             sizeof(reason)));
            tt_http_answer_free(&answer);
            goto failed;
        }

        tree = tt_json_tree(answer.body, TT_JSON_MAX_DEPTH, NULL, 0);
        tt_http_answer_free(&answer);
        data = tree ? yajl_tree_get(tree, dpath, yajl_t_array) : NULL;

        if (data == NULL) {
            snprintf(err, errlen, "listing subscriptions: TrackTik's answer "
                     "has no \"data\" list");
            if (tree != NULL) {
                yajl_tree_free(tree);
            }
            goto failed;
        }

        count = YAJL_GET_ARRAY(data)->len;
        more = realloc(all, (*n + count + 1) * sizeof(*all));
        if (more == NULL) {
            yajl_tree_free(tree);
            snprintf(err, errlen, "out of memory");
            goto failed;
        }
        all = more;

        for (i = 0; i < count; i++) {
            item = YAJL_GET_ARRAY(data)->values[i];
            r = &all[(*n)++];
            r->id = tt_sub_text(item, "id");
            r->custom_id = tt_sub_text(item, "customId");
            r->name = tt_sub_text(item, "name");
            r->events = tt_sub_text(item, "events");
            r->url = tt_sub_text(item, "url");
            r->last_triggered_on = tt_sub_text(item, "lastTriggeredOn");
        }

        yajl_tree_free(tree);

        if (count < TT_SUB_PAGE) {
            break;
        }
        offset += count;
    }

    *rows = all;
    return TT_SUB_OK;

failed:

    tt_subscription_rows_free(all, *n);
    *n = 0;
    return TT_SUB_ERROR;
}


void
tt_subscription_rows_free(tt_subscription_row_t *rows, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(rows[i].id);
        free(rows[i].custom_id);
        free(rows[i].name);
        free(rows[i].events);
        free(rows[i].url);
        free(rows[i].last_triggered_on);
    }

    free(rows);
}


/*
 * A JSON list from "a,b,c" (blanks around items dropped).  With a prefix,
 * each item becomes a context filter {"tag": prefix + item,
 * "includeChildren": true}.
 */
static void
tt_sub_list_gen(yajl_gen g, const char *list, const char *prefix)
{
    char         tag[256];
    size_t       len;
    const char  *p, *end;

    yajl_gen_array_open(g);

    for (p = list; *p != '\0'; p = *end ? end + 1 : end) {
        end = strchr(p, ',');
        if (end == NULL) {
            end = p + strlen(p);
        }

        while (p < end && *p == ' ') {
            p++;
        }
        len = end - p;
        while (len > 0 && p[len - 1] == ' ') {
            len--;
        }
        if (len == 0) {
            continue;
        }

        if (prefix[0] == '\0') {
            yajl_gen_string(g, (const unsigned char *) p, len);
            continue;
        }

        snprintf(tag, sizeof(tag), "%s%.*s", prefix, (int) len, p);
        yajl_gen_map_open(g);
        yajl_gen_string(g, (const unsigned char *) "tag", 3);
        yajl_gen_string(g, (const unsigned char *) tag, strlen(tag));
        yajl_gen_string(g, (const unsigned char *) "includeChildren", 15);
        yajl_gen_bool(g, 1);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);
}


/*
 * A POST that answers the subscription item: TT_SUB_OK with *id, or why
 * not.  tt_api_request() retries a POST only when it certainly was not
 * processed, so anything but an answer is TT_SUB_UNKNOWN.
 */
static tt_sub_rc_e
tt_sub_post(tt_api_t *api, const char *path, const char *body,
    const char *what, long long *id, char *err, size_t errlen)
{
    char              reason[512];
    yajl_val          tree, item;
    tt_api_rc_e       arc;
    tt_http_answer_t  answer;

    *id = 0;

    arc = tt_api_request(api, "POST", path, body, &answer, err, errlen);

    if (arc == TT_API_UNKNOWN) {
        return TT_SUB_UNKNOWN;
    }
    if (arc != TT_API_OK) {
        return TT_SUB_ERROR;             /* not processed: err says why */
    }

    if (answer.status == 200 || answer.status == 201) {
        item = tt_api_item(&answer, &tree);
        *id = item ? tt_api_id(item, "id") : 0;
        if (tree != NULL) {
            yajl_tree_free(tree);
        }
        tt_http_answer_free(&answer);
        return TT_SUB_OK;
    }

    snprintf(err, errlen, "%s: TrackTik answered %s", what,
             tt_api_error_text(&answer, reason, sizeof(reason)));
    tt_http_answer_free(&answer);

    return answer.status >= 400 && answer.status < 500 ? TT_SUB_REFUSED
                                                       : TT_SUB_UNKNOWN;
}


/* item's key as text: a string, a number, a list joined with ",", or "" */
static char *
tt_sub_text(yajl_val item, const char *key)
{
    char         *out, *grown;
    size_t        i, len, add;
    yajl_val      v;
    const char   *str, *path[] = { key, NULL };

    v = yajl_tree_get(item, path, yajl_t_any);

    str = YAJL_IS_NUMBER(v) ? YAJL_GET_NUMBER(v) : YAJL_GET_STRING(v);
    if (str != NULL) {
        return strdup(str);
    }

    out = strdup("");
    if (!YAJL_IS_ARRAY(v) || out == NULL) {
        return out;
    }

    len = 0;
    for (i = 0; i < YAJL_GET_ARRAY(v)->len; i++) {
        str = YAJL_GET_STRING(YAJL_GET_ARRAY(v)->values[i]);
        if (str == NULL) {
            continue;
        }
        add = strlen(str);
        grown = realloc(out, len + add + 2);
        if (grown == NULL) {
            break;
        }
        out = grown;
        len += sprintf(out + len, "%s%s", len ? "," : "", str);
    }

    return out;
}
