/*
 * GET /_matrix/identity/v2/hash_details: the current lookup pepper and the algorithms
 * accepted, sha256, and none when lookup.allow_plain is set. Read where lookups read it
 * (db_thread_read_conn, the replica while it is fresh): after a rotation, both answer
 * the old pepper until the replica has it, then both the new one.
 */
#include <stdlib.h>

#include "core/cfg.h"
#include "core/http.h"
#include "directory/internal.h"

int
dir_hash_details_get(struct http_req *r, const json_t *body)
{
    char *pepper = NULL;
    enum db_status st = dir_store_pepper_get(db_thread_read_conn(), &pepper);
    json_t *algorithms;
    int ret;

    if (st == DB_NO_ROWS) { /* a replica without the first pepper yet */
        st = dir_store_pepper_get(db_read_from_primary(), &pepper);
    }
    if (st <= 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    algorithms = json_pack("[s]", "sha256");
    if (cfg_get()->lookup.allow_plain) {
        json_array_append_new(algorithms, json_string("none"));
    }
    ret = http_reply_json(
        r, MHD_HTTP_OK, json_pack("{s:s, s:o}", "lookup_pepper", pepper, "algorithms", algorithms));
    free(pepper);
    return ret;
}
