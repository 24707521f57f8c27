/*
 * it.db.txn: the transaction runner against the shared private PostgreSQL:
 * serialization failures are retried until both writers succeed, unique
 * violations come back as DB_NO_ROWS, and a failed statement rolls back
 * without breaking the connection; a standalone connection prepares a
 * statement when it first runs it, its plain transactions commit and roll
 * back, text[] parameters round-trip any text, columns are found by name; a
 * COMMIT of a transaction a unique violation aborted is a failure; the mail
 * outbox's next-due says "nothing" when nothing waits.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/db.h"
#include "core/migrations.h"
#include "core/store.h"

static const struct db_stmt stmts[] = {
    { "t_sum", "SELECT coalesce(sum(v), 0) FROM annuaire_it.t" },
    { "t_insert", "INSERT INTO annuaire_it.t (k, v) VALUES ($1, 1)" },
    { "t_fail", "SELECT 1 / 0" },
    { "t_unnest", "SELECT x IS NULL AS is_null, coalesce(x, '') AS x, o"
                  " FROM unnest($1::text[]) WITH ORDINALITY AS u (x, o) ORDER BY o" },
};
/* Registered once the standalone connection is open, before their table exists. */
static const struct db_stmt late_stmts[] = {
    { "t_late", "SELECT count(*) AS n FROM annuaire_it.late" },
    { "t_late_insert", "INSERT INTO annuaire_it.late (v) VALUES ($1)" },
};
static struct cfg_database conf;

static char conninfo[512];
static pthread_barrier_t barrier;
static atomic_int attempts;

static void
admin_exec(const char *dbname, const char *sql)
{
    char info[600];
    PGconn *pg;
    PGresult *res;

    snprintf(info, sizeof(info), "%s dbname=%s", conninfo, dbname);
    pg = PQconnectdb(info);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    }
    PQclear(res);
    PQfinish(pg);
}

/* Reads the sum, waits for the other writer to have read too, then writes: a
 * guaranteed read/write conflict on the first attempt. */
static enum db_status
conflicting_txn(struct db_conn *c, const void *in, void *out)
{
    const char *params[1] = { in };
    int n = atomic_fetch_add(&attempts, 1);
    enum db_status st = db_exec(c, "t_sum", 0, NULL, NULL);

    if (st < 0) {
        return st;
    }
    if (n < 2) {
        pthread_barrier_wait(&barrier);
    }
    return db_exec(c, "t_insert", 1, params, NULL);
}

static void *
writer(void *key)
{
    enum db_status st = db_txn_run(db_thread_conn(), "conflict", conflicting_txn, key, NULL);

    db_thread_close();
    return (void *)(intptr_t)st;
}

static void
test_serialization_failure_is_retried(void **state)
{
    pthread_t a, b;
    void *ra, *rb;
    PGresult *res = NULL;

    pthread_barrier_init(&barrier, NULL, 2);
    pthread_create(&a, NULL, writer, "a");
    pthread_create(&b, NULL, writer, "b");
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    assert_int_equal((intptr_t)ra, 1);
    assert_int_equal((intptr_t)rb, 1);
    assert_true(atomic_load(&attempts) >= 3); /* one of them ran twice */
    assert_int_equal(db_exec(db_thread_conn(), "t_sum", 0, NULL, &res), 1);
    assert_string_equal(PQgetvalue(res, 0, 0), "2");
    PQclear(res);
    pthread_barrier_destroy(&barrier);
}

static enum db_status
insert_txn(struct db_conn *c, const void *in, void *out)
{
    const char *params[1] = { in };

    return db_exec(c, "t_insert", 1, params, NULL);
}

static enum db_status
failing_txn(struct db_conn *c, const void *in, void *out)
{
    enum db_status st = db_exec(c, "t_insert", 1, (const char *const[]){ "rolled-back" }, NULL);

    return st < 0 ? st : db_exec(c, "t_fail", 0, NULL, NULL);
}

static void
test_unique_violation_and_hard_errors(void **state)
{
    struct db_conn *c = db_thread_conn();
    PGresult *res = NULL;

    assert_int_equal(db_txn_run(c, "insert", insert_txn, "u", NULL), 1);
    assert_int_equal(db_txn_run(c, "insert", insert_txn, "u", NULL), DB_NO_ROWS);
    assert_int_equal(db_txn_run(c, "fail", failing_txn, NULL, NULL), DB_HARD);
    /* Rolled back, and the connection still works. */
    assert_int_equal(db_exec(c, "t_sum", 0, NULL, &res), 1);
    assert_string_equal(PQgetvalue(res, 0, 0), "3");
    PQclear(res);
    assert_int_equal(db_ping(c), 1);
}

static void
test_standalone_prepares_on_first_use(void **state)
{
    char err[256] = "";
    struct db_conn *c = db_conn_open(&conf, err, sizeof(err));
    PGresult *res = NULL;
    int col;

    assert_non_null(c);
    /* A table that did not exist when the connection opened (migrate's case). */
    db_register(late_stmts, sizeof(late_stmts) / sizeof(late_stmts[0]));
    admin_exec(strstr(conninfo, "dbname=") + 7, "CREATE TABLE annuaire_it.late (v text)");
    assert_int_equal(db_begin(c), DB_NO_ROWS);
    assert_int_equal(db_exec(c, "t_late_insert", 1, (const char *const[]){ "x" }, NULL), 1);
    db_rollback(c);
    assert_int_equal(db_exec(c, "t_late", 0, NULL, &res), 1);
    assert_int_equal(db_columns(res, "t_late", (const char *const[]){ "n" }, &col, 1), 0);
    assert_string_equal(PQgetvalue(res, 0, col), "0");
    assert_int_equal(db_columns(res, "t_late", (const char *const[]){ "m" }, &col, 1), -1);
    PQclear(res);
    assert_int_equal(db_begin(c), DB_NO_ROWS);
    assert_int_equal(db_exec(c, "t_late_insert", 1, (const char *const[]){ "y" }, NULL), 1);
    assert_int_equal(db_commit(c), DB_NO_ROWS);
    /* A failure inside a transaction: its message stays after the rollback. */
    assert_int_equal(db_begin(c), DB_NO_ROWS);
    assert_int_equal(db_exec(c, "t_fail", 0, NULL, NULL), DB_HARD);
    db_rollback(c);
    assert_non_null(strstr(db_conn_error(c), "division by zero"));
    assert_int_equal(db_exec(c, "t_late", 0, NULL, &res), 1);
    assert_string_equal(PQgetvalue(res, 0, 0), "1");
    PQclear(res);
    assert_int_equal(db_exec(c, "no_such_statement", 0, NULL, NULL), DB_HARD);
    db_conn_close(c);
}

static void
test_commit_after_unique_violation_fails(void **state)
{
    char err[256] = "";
    struct db_conn *c = db_conn_open(&conf, err, sizeof(err));
    PGresult *res = NULL;

    assert_non_null(c);
    assert_int_equal(db_begin(c), DB_NO_ROWS);
    assert_int_equal(db_exec(c, "t_late_insert", 1, (const char *const[]){ "z" }, NULL), 1);
    assert_int_equal(db_exec(c, "t_insert", 1, (const char *const[]){ "u" }, NULL), DB_NO_ROWS);
    assert_int_equal(db_commit(c), DB_HARD); /* PostgreSQL rolled it back */
    assert_non_null(strstr(db_conn_error(c), "rolled back"));
    assert_int_equal(db_exec(c, "t_late", 0, NULL, &res), 1);
    assert_string_equal(PQgetvalue(res, 0, 0), "1"); /* "z" was not kept */
    PQclear(res);
    db_conn_close(c);
}

/* The mail sender sleeps until the next-due time: with nothing queued there is none
 * (-1, the worker's longest sleep), not 0 (a sender that never sleeps). */
static void
test_mail_next_due_of_an_empty_outbox(void **state)
{
    char err[512] = "";
    struct db_conn *c = db_conn_open(&conf, err, sizeof(err));
    struct mail_claim m = { 0 };
    int applied = 0;
    long ms = 0;

    assert_non_null(c);
    if (mig_apply(c, &applied, err, sizeof(err)) != 0) {
        fail_msg("migrate: %s", err);
    }
    assert_true(applied > 0);
    assert_true(store_queue_next_due(c, STORE_MAIL_NEXT_DUE, &ms) >= 0);
    assert_int_equal(ms, -1);
    assert_int_equal(store_mail_queue(c, "a@example.org", "verification", "body", NULL, NULL), 1);
    assert_true(store_queue_next_due(c, STORE_MAIL_NEXT_DUE, &ms) >= 0);
    assert_int_equal(ms, 0); /* due now */
    assert_int_equal(store_mail_claim(c, 60, &m), 1);
    assert_true(store_queue_next_due(c, STORE_MAIL_NEXT_DUE, &ms) >= 0);
    assert_true(ms > 0 && ms <= 60000); /* held by the claim's lease */
    assert_int_equal(store_mail_sent(c, &m), 1);
    store_mail_claim_clear(&m);
    assert_true(store_queue_next_due(c, STORE_MAIL_NEXT_DUE, &ms) >= 0);
    assert_int_equal(ms, -1);
    db_conn_close(c);
}

static void
test_text_array_round_trips(void **state)
{
    const char *items[] = {
        "plain", "",   "with space",          "a,b", "{braces}", "quote\"d", "back\\slash\\",
        "NULL",  NULL, "\xc3\xa9l\xc3\xa8ve", "\\\""
    };
    size_t n = sizeof(items) / sizeof(items[0]);
    char *lit = db_text_array(items, n);
    PGresult *res = NULL;

    assert_int_equal(db_exec(db_thread_conn(), "t_unnest", 1, (const char *const[]){ lit }, &res),
                     (int)n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(PQgetvalue(res, (int)i, 0), items[i] == NULL ? "t" : "f");
        assert_string_equal(PQgetvalue(res, (int)i, 1), items[i] == NULL ? "" : items[i]);
    }
    PQclear(res);
    free(lit);
    lit = db_text_array(NULL, 0);
    assert_string_equal(lit, "{}");
    assert_int_equal(db_exec(db_thread_conn(), "t_unnest", 1, (const char *const[]){ lit }, NULL),
                     DB_NO_ROWS);
    free(lit);
}

static int
setup(void **state)
{
    const char *path = getenv("ANNUAIRE_IT_PG");
    char dbname[64];
    json_error_t jerr;
    json_t *st;

    if (path == NULL || access(path, R_OK) != 0) {
        fprintf(stderr, "no PostgreSQL fixture\n");
        exit(getenv("ANNUAIRE_TEST_REQUIRE_SERVICES") ? 1 : 77);
    }
    st = json_load_file(path, 0, &jerr);
    assert_non_null(st);
    snprintf(conninfo, sizeof(conninfo), "host=%s/pg/run port=%lld user=postgres",
             json_string_value(json_object_get(st, "root")),
             (long long)json_integer_value(json_object_get(st, "port")));
    json_decref(st);
    snprintf(dbname, sizeof(dbname), "it_txn_%d", (int)getpid());
    {
        char sql[128];

        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
        admin_exec("postgres", sql);
    }
    admin_exec(dbname, "CREATE SCHEMA annuaire_it; CREATE TABLE annuaire_it.t "
                       "(k text PRIMARY KEY, v integer NOT NULL)");
    snprintf(conninfo + strlen(conninfo), sizeof(conninfo) - strlen(conninfo), " dbname=%s",
             dbname);
    conf.conninfo = conninfo;
    conf.connect_timeout = 5;
    conf.statement_timeout_ms = 5000;
    db_configure(&conf);
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
    return 0;
}

static int
teardown(void **state)
{
    db_thread_close();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serialization_failure_is_retried),
        cmocka_unit_test(test_unique_violation_and_hard_errors),
        cmocka_unit_test(test_standalone_prepares_on_first_use),
        cmocka_unit_test(test_text_array_round_trips),
        cmocka_unit_test(test_commit_after_unique_violation_fails),
        cmocka_unit_test(test_mail_next_due_of_an_empty_outbox),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
