/*
 * it.http.json: the real HTTP core (MHD, router, body limits, JSON parsing,
 * input specs, Matrix errors, CORS) in process, driven over loopback with
 * libcurl. Test routes stand in for the handlers modules add.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "core/http.h"
#include "core/json.h"

struct echo_in {
    const char *name;
    long long count;
};

static const struct jx_field echo_fields[] = {
    { "name", JX_STRING, JX_REQUIRED, offsetof(struct echo_in, name), 1, 64, 0, 0, NULL },
    { "count", JX_INT, 0, offsetof(struct echo_in, count), 0, 0, 0, 100, NULL },
};
static const struct jx_spec echo_spec = { echo_fields, 2, false };

static int
echo_post(struct http_req *r, const json_t *body)
{
    struct echo_in in = { .count = 1 };
    enum reply_status rs = http_unpack(r, body, &echo_spec, &in);

    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    return http_reply_json(r, 200,
                           json_pack("{s:s, s:I}", "name", in.name, "count", (json_int_t)in.count));
}

static int
optional_post(struct http_req *r, const json_t *body)
{
    return http_reply_json(r, 200, json_pack("{s:I}", "keys", (json_int_t)json_object_size(body)));
}

static const struct route routes[] = {
    { "POST", "/echo", echo_post, ROUTE_JSON_BODY },
    { "POST", "/optional", optional_post, ROUTE_JSON_BODY | ROUTE_BODY_OPTIONAL },
};

static struct http_server *srv;
static char base[64];

struct reply {
    long status;
    char *body;
    size_t len;
    char allow[128];
    char cors[128];
};

static size_t
on_body(char *data, size_t size, size_t n, void *p)
{
    struct reply *rep = p;

    rep->body = realloc(rep->body, rep->len + size * n + 1);
    memcpy(rep->body + rep->len, data, size * n);
    rep->len += size * n;
    rep->body[rep->len] = '\0';
    return size * n;
}

static size_t
on_header(char *data, size_t size, size_t n, void *p)
{
    struct reply *rep = p;
    size_t len = size * n;

    if (len > 7 && strncasecmp(data, "Allow: ", 7) == 0) {
        snprintf(rep->allow, sizeof(rep->allow), "%.*s", (int)(len - 9), data + 7);
    }
    if (len > 29 && strncasecmp(data, "Access-Control-Allow-Origin: ", 29) == 0) {
        snprintf(rep->cors, sizeof(rep->cors), "%.*s", (int)(len - 31), data + 29);
    }
    return len;
}

/* Sends a request; chunked uploads the body without Content-Length. */
static void
request(const char *method,
        const char *path,
        const char *body,
        size_t len,
        bool chunked,
        struct reply *rep)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char url[256];

    memset(rep, 0, sizeof(*rep));
    snprintf(url, sizeof(url), "%s%s", base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, rep);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, rep);
    hdr = curl_slist_append(hdr, "Expect:");
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    if (chunked) {
        hdr = curl_slist_append(hdr, "Transfer-Encoding: chunked");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (!chunked) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        }
    }
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rep->status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
}

static void
expect_error(const char *method,
             const char *path,
             const char *body,
             size_t len,
             bool chunked,
             long status,
             const char *errcode)
{
    struct reply rep;
    json_error_t jerr;
    json_t *j;

    request(method, path, body, len, chunked, &rep);
    if (rep.status != status) {
        fail_msg("%s %s: status %ld, want %ld (%s)", method, path, rep.status, status,
                 rep.body ? rep.body : "");
    }
    j = json_loads(rep.body ? rep.body : "", 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "errcode")), errcode);
    assert_true(json_is_string(json_object_get(j, "error")));
    assert_string_equal(rep.cors, "*");
    json_decref(j);
    free(rep.body);
}

static void
test_bad_bodies(void **state)
{
    static const char invalid_utf8[] = "{\"name\": \"\xff\xfe\"}";

    expect_error("POST", "/echo", "{", 1, false, 400, "M_NOT_JSON");
    expect_error("POST", "/echo", "", 0, false, 400, "M_NOT_JSON");
    expect_error("POST", "/echo", invalid_utf8, strlen(invalid_utf8), false, 400, "M_NOT_JSON");
    expect_error("POST", "/echo", "{} x", 4, false, 400, "M_NOT_JSON");
    expect_error("POST", "/echo", "[1]", 3, false, 400, "M_BAD_JSON");
    expect_error("POST", "/echo", "\"s\"", 3, false, 400, "M_BAD_JSON");
    expect_error("POST", "/echo", "{\"name\":\"a\",\"name\":\"b\"}", 23, false, 400, "M_BAD_JSON");
    expect_error("POST", "/echo", "{}", 2, false, 400, "M_MISSING_PARAMS");
    expect_error("POST", "/echo", "{\"name\": 1}", 11, false, 400, "M_INVALID_PARAM");
    expect_error("POST", "/echo", "{\"name\": \"a\", \"count\": 101}", 27, false, 400,
                 "M_INVALID_PARAM");
    expect_error("POST", "/echo", "{\"name\": \"a\", \"x\": 1}", 21, false, 400, "M_INVALID_PARAM");
}

static void
test_good_bodies(void **state)
{
    struct reply rep;

    request("POST", "/echo", "{\"name\": \"\xc3\xa9t\xc3\xa9\", \"count\": 7}", 29, false, &rep);
    assert_int_equal(rep.status, 200);
    assert_string_equal(rep.body, "{\"name\":\"\xc3\xa9t\xc3\xa9\",\"count\":7}");
    free(rep.body);
    request("POST", "/echo", "{\"name\": \"chunked\"}", 19, true, &rep);
    assert_int_equal(rep.status, 200);
    assert_string_equal(rep.body, "{\"name\":\"chunked\",\"count\":1}");
    free(rep.body);
    request("POST", "/optional", NULL, 0, false, &rep);
    assert_int_equal(rep.status, 200);
    assert_string_equal(rep.body, "{\"keys\":0}");
    free(rep.body);
}

static void
test_size_limit(void **state)
{
    size_t big = 4096 + 1; /* the test server's limit is 4096 */
    char *body = malloc(big + 1);
    struct reply rep;

    memset(body, ' ', big);
    body[0] = '{';
    body[big - 1] = '}';
    body[big] = '\0';
    expect_error("POST", "/echo", body, big, false, 413, "M_TOO_LARGE");
    expect_error("POST", "/echo", body, big, true, 413, "M_TOO_LARGE");
    /* Exactly at the limit is accepted (and is then just missing "name"). */
    body[big - 2] = '}';
    expect_error("POST", "/echo", body, big - 1, false, 400, "M_MISSING_PARAMS");
    /* The server is still fine afterwards. */
    request("POST", "/echo", "{\"name\": \"after\"}", 17, false, &rep);
    assert_int_equal(rep.status, 200);
    free(rep.body);
    free(body);
}

static void
test_routing_errors_and_cors(void **state)
{
    struct reply rep;

    expect_error("GET", "/nowhere", NULL, 0, false, 404, "M_UNRECOGNIZED");
    expect_error("GET", "/echo", NULL, 0, false, 405, "M_UNRECOGNIZED");
    request("PUT", "/echo", "{}", 2, false, &rep);
    assert_int_equal(rep.status, 405);
    assert_string_equal(rep.allow, "POST, OPTIONS");
    free(rep.body);
    request("OPTIONS", "/echo", NULL, 0, false, &rep);
    assert_int_equal(rep.status, 200);
    assert_string_equal(rep.cors, "*");
    free(rep.body);
}

static int
setup(void **state)
{
    static struct cfg_http conf = {
        .bind_address = "127.0.0.1",
        .port = 0, /* any free port */
        .threads = 2,
        .max_body_bytes = 4096,
        .connection_limit = 64,
        .connection_timeout = 5,
        .shutdown_timeout = 5,
        .cors_origin = "*",
    };
    static const struct route *tables[] = { routes };
    static const size_t sizes[] = { ANN_ARRAY_LEN(routes) };
    struct router *rt = router_new(tables, sizes, 1);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    srv = http_start(&conf, rt);
    if (srv == NULL) {
        return -1;
    }
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", http_port(srv));
    *state = rt;
    return 0;
}

static int
teardown(void **state)
{
    http_stop(srv, 5);
    router_free(*state);
    curl_global_cleanup();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_good_bodies),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_routing_errors_and_cors),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
