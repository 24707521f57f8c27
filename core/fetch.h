/*
 * Outbound HTTP with libcurl, for calls to homeservers: bounded time and size,
 * no redirects, http(s) only, and no connection to loopback, private or
 * link-local addresses unless allowed (checked on the address actually
 * connected to, so DNS cannot be used to get around it).
 */
#ifndef ANN_CORE_FETCH_H
#define ANN_CORE_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"

struct fetch_opts {
    bool verify_tls;
    bool allow_private;
    long timeout_s;
    size_t max_body; /* a larger reply is an error */
};

enum fetch_status {
    FETCH_OK = 0,      /* an HTTP reply arrived (any status) */
    FETCH_REFUSED,     /* the address is private and that is not allowed */
    FETCH_UNREACHABLE, /* DNS, connection, TLS, timeout */
    FETCH_TOO_LARGE,   /* reply over max_body */
};

struct fetch_result {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t len;
    char error[256];
};

/** Calls curl_global_init; once, before any thread starts. */
void fetch_global_init(void);
void fetch_global_cleanup(void);

/**
 * GET url, or POST json_body (Content-Type: application/json) when not NULL.
 *
 * @param headers     extra "Name: value" lines, NULL-terminated; may be NULL
 * @param[out] res    the reply; clear with fetch_result_clear
 * @return FETCH_OK or why not (res->error says more, for logs)
 */
enum fetch_status fetch_request(const char *url,
                                const char *json_body,
                                const char *const *headers,
                                const struct fetch_opts *opts,
                                struct fetch_result *res) ANN_MUST_CHECK;

void fetch_result_clear(struct fetch_result *res);

/** Whether a numeric address (text) is not global unicast (net_addr_is_global), or not an
 *  address at all. */
bool fetch_address_is_private(const char *addr);

/* Calls in flight to one destination (server name, any case) at most; fewer when the
 * global bound is FETCH_MAX_PER_DEST or less, so one destination never takes every slot. */
#define FETCH_MAX_PER_DEST 2
#define FETCH_DEST_MAX     256 /* a longer destination name never gets a slot */

/**
 * Bounds the calls to homeservers that HTTP worker threads wait on at once, so a
 * homeserver that never answers holds at most n threads; 0 = no bound. Before serving.
 */
void fetch_set_max_calls(long n);

/**
 * Takes one of those slots for a call to destination (a server name): none when all
 * are busy, or when destination already has its share (FETCH_MAX_PER_DEST) in flight.
 * @return true when taken (release it with the same destination), false when not
 */
bool fetch_slot_take(const char *destination) ANN_MUST_CHECK;
/** Gives back a slot fetch_slot_take(destination) gave. */
void fetch_slot_release(const char *destination);

/** URL-escapes s. @return a new string owned by the caller */
char *fetch_escape(const char *s);

#endif
