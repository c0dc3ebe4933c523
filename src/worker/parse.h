/*
 * parse: a job payload (TrackTik report entity, bare or in a {"data": ...}
 * envelope) into plain report structs.  Strings point into the yajl tree
 * kept in the payload; nothing here touches the database.
 */

#ifndef TT_PARSE_H
#define TT_PARSE_H

#include <stddef.h>
#include <yajl/yajl_tree.h>

#include "tt_time.h"


#define TT_ENTITY_BARE  -2          /* the payload is the entity */
#define TT_ENTITY_DATA  -1          /* {"data": {entity}} */


/* a relation: an integer id, an included object with id (and name), or
 * absent */
typedef struct {
    int          present;
    int          has_id;
    long long    id;
    const char  *name;              /* the included object's "name" */
} tt_ref_t;


/* one entry of reportFields */
typedef struct {
    const char  *tag;               /* fieldTag, may be NULL */
    const char  *value;             /* value as text, may be NULL */
} tt_field_t;


typedef struct {
    long long      report_id;
    long long      occurred_at;     /* reportDateTime, epoch seconds */
    tt_datetime_t  occurred_dt;
    tt_ref_t       template;        /* reportTemplate */
    tt_ref_t       site;            /* account */
    tt_ref_t       client;          /* account.parentClient / client */
    tt_ref_t       position;
    tt_ref_t       flag;            /* reportFlag: the incident category */
    const char    *severity;        /* reportFlag.severityLevel */
    const char    *status;
    const char    *time_zone;       /* report, else site, else default */
    int            has_updated_on;
    long long      updated_on;
    tt_field_t    *fields;
    size_t         nfields;
    int            data_index;      /* where the entity sits in the payload:
                                       TT_ENTITY_BARE, TT_ENTITY_DATA or
                                       its index in the "data" array */
} tt_report_t;


typedef struct {
    yajl_val       tree;
    tt_report_t   *reports;
    size_t         nreports;
} tt_payload_t;


/*
 * json must be NUL terminated.  Returns 0, or -1 with a precise message
 * in err ("data[1].account: expected an integer id or an object, got a
 * string").  Every error is a property of the payload: retrying cannot
 * fix it.  tt_payload_free() must be called either way.
 */
int tt_payload_parse(const char *json, size_t len,
    const char *default_time_zone, tt_payload_t *p, char *err,
    size_t errlen);

void tt_payload_free(tt_payload_t *p);

/* the value of the report field tagged tag, or NULL */
const char *tt_report_field(const tt_report_t *r, const char *tag);

#endif /* TT_PARSE_H */
