/* unit.ldap_sync.map: directory entries to annuaire fields (keys, mails, phones, flags, search
 * words). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ldap-sync/internal.h"

struct attr_spec {
    const char *name;
    const char *values[4];
};

/* Builds lsync_attr values from strings; fills bv storage the caller keeps. */
static size_t
build(const struct attr_spec *spec,
      size_t n,
      struct lsync_attr *out,
      struct berval bv[][4],
      struct berval *ptrs[][5])
{
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;

        for (; k < 4 && spec[i].values[k] != NULL; k++) {
            bv[i][k].bv_val = (char *)spec[i].values[k];
            bv[i][k].bv_len = strlen(spec[i].values[k]);
            ptrs[i][k] = &bv[i][k];
        }
        ptrs[i][k] = NULL;
        out[i].name = spec[i].name;
        out[i].values = (const struct berval *const *)ptrs[i];
    }
    return n;
}

static void
map(const struct attr_spec *spec,
    size_t n,
    const char *schema_ad,
    struct lsync_entry *e,
    json_t *dropped,
    int want_rc)
{
    struct lsync_attr attrs[8];
    struct berval bv[8][4];
    struct berval *ptrs[8][5];
    struct lsync_source src;
    json_t *conf = json_pack("{s:s, s:s, s:s}", "name", "t", "ministry", "T", "schema",
                             schema_ad ? "ad" : "inetorgperson");
    char why[256];

    lsync_source_from_json(conf, &src);
    build(spec, n, attrs, bv, ptrs);
    assert_int_equal(
        lsync_map(&src.attrs, "uid=x,dc=t", NULL, attrs, n, e, dropped, NULL, why, sizeof(why)),
        want_rc);
    json_decref(conf);
}

static void
test_inetorgperson(void **state)
{
    static const struct attr_spec spec[] = {
        { "entryUUID", { "1a000000-0000-4000-8000-000000000001" } },
        { "mail",
          { " Elodie.Martin@Culture.GOUV.fr ", "e.martin@culture.gouv.fr",
            "elodie.martin@culture.gouv.fr", "not an address" } },
        { "mobile", { "06 12 34 56 78" } },
        { "ou", { "Direction" } },
        { "supannListeRouge", { "TRUE" } },
    };
    json_t *dropped = json_array();
    struct lsync_entry e;

    map(spec, 5, NULL, &e, dropped, 0);
    assert_string_equal(e.key, "1a000000-0000-4000-8000-000000000001");
    assert_int_equal(e.n_mails, 2); /* trimmed, lower-cased, de-duplicated */
    assert_string_equal(e.mails[0], "elodie.martin@culture.gouv.fr");
    assert_string_equal(e.mails[1], "e.martin@culture.gouv.fr");
    assert_int_equal(json_array_size(dropped), 1);
    assert_string_equal(e.mobile_e164, "33612345678");
    assert_string_equal(e.entity, "Direction");
    assert_true(e.hidden);
    assert_false(e.disabled);
    lsync_entry_clear(&e);
    json_decref(dropped);
}

static void
test_active_directory(void **state)
{
    static const struct attr_spec spec[] = {
        { "objectGUID", { "\x4f\xee\x2b\x9c\x1d\x2a\x4c\x3b\x8e\x7f\x0a\x1b\x2c\x3d\x4e\x5f" } },
        { "proxyAddresses",
          { "SMTP:Jean.Martin@Interieur.gouv.fr", "smtp:jm@interieur.gouv.fr", "X500:/o=x/cn=y",
            "SIP:jean@interieur.gouv.fr" } },
        { "userAccountControl", { "514" } },
        { "mobile", { "+33 (0)6 12 34 56 78" } },
    };
    struct lsync_entry e;

    map(spec, 4, "ad", &e, NULL, 0);
    assert_string_equal(e.key, "4fee2b9c1d2a4c3b8e7f0a1b2c3d4e5f");
    assert_int_equal(e.n_mails, 2);
    assert_string_equal(e.mails[0], "jean.martin@interieur.gouv.fr");
    assert_string_equal(e.mails[1], "jm@interieur.gouv.fr");
    assert_true(e.disabled);
    assert_string_equal(e.mobile_e164, "33612345678");
    lsync_entry_clear(&e);
}

/* Directory mails in the API's canonical form: an IDN domain in A-label form (one address
 * however it is written), and a mail that has no canonical form dropped and reported. */
static void
test_mails_canonical(void **state)
{
    static const struct attr_spec spec[] = {
        { "entryUUID", { "1a000000-0000-4000-8000-000000000002" } },
        { "mail",
          { "Agent@B\xc3\x9c"
            "CHER.de",
            "agent@xn--bcher-kva.de", "bob@gma\xc4\xb0l.com", "\xe2\x84\xaaim@x.fr" } },
    };
    static const struct attr_spec more[] = {
        { "entryUUID", { "1a000000-0000-4000-8000-000000000003" } },
        { "mail",
          { "\xc3\x89lodie@Minist\xc3\xa8re.fr", "v@interieur\xe2\x80\x8b.gouv.fr",
            "x@\xef\xbd\x87mail.com" } },
    };
    json_t *dropped = json_array();
    struct lsync_entry e;

    map(spec, 2, NULL, &e, dropped, 0);
    assert_int_equal(e.n_mails, 1);
    assert_string_equal(e.mails[0], "agent@xn--bcher-kva.de");
    assert_int_equal(json_array_size(dropped), 2);
    assert_non_null(strstr(json_string_value(json_array_get(dropped, 0)), "folds onto ASCII"));
    assert_non_null(strstr(json_string_value(json_array_get(dropped, 1)), "form C"));
    lsync_entry_clear(&e);
    json_array_clear(dropped);

    map(more, 2, NULL, &e, dropped, 0);
    assert_int_equal(e.n_mails, 1);
    assert_string_equal(e.mails[0], "\xc3\xa9lodie@xn--ministre-60a.fr");
    /* (A mail that is not UTF-8 rejects the whole entry: test_not_utf8.) */
    assert_int_equal(json_array_size(dropped), 2);
    assert_non_null(strstr(json_string_value(json_array_get(dropped, 0)), "invisible"));
    assert_non_null(strstr(json_string_value(json_array_get(dropped, 1)), "compatibility"));
    lsync_entry_clear(&e);
    json_decref(dropped);
}

static void
test_rejects_and_phones(void **state)
{
    static const struct attr_spec no_key[] = { { "mail", { "a@b.fr" } } };
    static const struct attr_spec phones[][2] = {
        { { "entryUUID", { "k" } }, { "mobile", { "0033 6 12 34 56 78" } } },
        { { "entryUUID", { "k" } }, { "mobile", { "+1 415 555 0100" } } },
        { { "entryUUID", { "k" } }, { "mobile", { "12 34" } } },
        { { "entryUUID", { "k" } }, { "mobile", { "06 12 AB 56 78" } } },
    };
    static const char *const want[] = { "33612345678", "14155550100", NULL, NULL };
    struct lsync_entry e;

    map(no_key, 1, NULL, &e, NULL, -1);
    lsync_entry_clear(&e);
    for (size_t i = 0; i < 4; i++) {
        map(phones[i], 2, NULL, &e, NULL, 0);
        if (want[i] == NULL) {
            assert_null(e.mobile_e164);
        } else {
            assert_string_equal(e.mobile_e164, want[i]);
        }
        assert_non_null(e.mobile); /* the raw value is kept either way */
        lsync_entry_clear(&e);
    }
}

/* Values PostgreSQL would refuse reject the entry, naming the attribute; the key stays. */
static void
test_not_utf8(void **state)
{
    static const struct attr_spec latin1[] = { { "entryUUID", { "k1" } },
                                               { "displayName", { "H\xe9l\xe8ne" } } };
    static const struct attr_spec cut[] = { { "entryUUID", { "k2" } },
                                            { "ou", { "Service \xc3" } } };
    static const struct attr_spec surrogate[] = { { "entryUUID", { "k3" } },
                                                  { "mail", { "a@b.fr", "\xed\xa0\x80@b.fr" } } };
    static const struct attr_spec fine[] = { { "entryUUID", { "k4" } },
                                             { "displayName", { "H\xc3\xa9l\xc3\xa8ne" } },
                                             { "description", { "\xff not mapped" } } };
    const struct attr_spec *specs[] = { latin1, cut, surrogate };
    static const char *const attr[] = { "displayName", "ou", "mail" };
    struct lsync_source src;
    json_t *conf = json_pack("{s:s, s:s}", "name", "t", "ministry", "T");
    struct lsync_attr attrs[8];
    struct berval bv[8][4];
    struct berval *ptrs[8][5];
    struct lsync_entry e;
    const char *bad;
    char why[256];

    lsync_source_from_json(conf, &src);
    for (size_t i = 0; i < 3; i++) {
        build(specs[i], 2, attrs, bv, ptrs);
        assert_int_equal(
            lsync_map(&src.attrs, "uid=x,dc=t", NULL, attrs, 2, &e, NULL, &bad, why, sizeof(why)),
            -1);
        assert_string_equal(bad, attr[i]);
        assert_non_null(strstr(why, "not UTF-8"));
        assert_non_null(e.key);
        lsync_entry_clear(&e);
    }
    build(specs[0], 1, attrs, bv, ptrs);
    assert_int_equal(
        lsync_map(&src.attrs, "uid=\xff,dc=t", NULL, attrs, 1, &e, NULL, &bad, why, sizeof(why)),
        -1);
    assert_string_equal(bad, "dn");
    lsync_entry_clear(&e);
    build(fine, 3, attrs, bv, ptrs);
    assert_int_equal(
        lsync_map(&src.attrs, "uid=x,dc=t", NULL, attrs, 3, &e, NULL, &bad, why, sizeof(why)), 0);
    assert_null(bad);
    lsync_entry_clear(&e);
    json_decref(conf);
}

/* Maps n attributes of spec with a default source (inetOrgPerson). @return lsync_map's */
static int
map_why(const struct attr_spec *spec, size_t n, struct lsync_entry *e, const char **bad, char *why)
{
    json_t *conf = json_pack("{s:s, s:s}", "name", "t", "ministry", "T");
    struct lsync_attr attrs[8];
    struct berval bv[8][4];
    struct berval *ptrs[8][5];
    struct lsync_source src;
    int rc;

    lsync_source_from_json(conf, &src);
    build(spec, n, attrs, bv, ptrs);
    rc = lsync_map(&src.attrs, "uid=x,dc=t", NULL, attrs, n, e, NULL, bad, why, 256);
    json_decref(conf);
    return rc;
}

/* A display name, given name, surname, entity or title over 1024 bytes rejects the entry,
 * naming the attribute and the length (over 4096 bytes too); 1024 bytes is kept. */
static void
test_long_values(void **state)
{
    static const char *const attr[] = { "displayName", "givenName", "sn", "ou", "title" };
    static char longest[1025], over[1026], huge[5001];
    struct lsync_entry e;
    const char *bad;
    char why[256];
    char want[128];

    (void)state;
    memset(longest, 'a', 1024);
    memset(over, 'b', 1025);
    memset(huge, 'c', 5000);
    for (size_t i = 0; i < ANN_ARRAY_LEN(attr); i++) {
        struct attr_spec spec[] = { { "entryUUID", { "k1" } },
                                    { "mail", { "a@b.fr" } },
                                    { attr[i], { longest } } };

        assert_int_equal(map_why(spec, 3, &e, &bad, why), 0);
        assert_null(bad);
        lsync_entry_clear(&e);
        for (size_t k = 0; k < 2; k++) {
            spec[2].values[0] = k == 0 ? over : huge;
            assert_int_equal(map_why(spec, 3, &e, &bad, why), -1);
            assert_string_equal(bad, attr[i]);
            snprintf(want, sizeof(want),
                     "%s: %d bytes, over the 1024 a name, entity or title may have", attr[i],
                     k == 0 ? 1025 : 5000);
            assert_string_equal(why, want);
            assert_string_equal(e.key, "k1");
            assert_null(e.display_name);
            lsync_entry_clear(&e);
        }
    }
}

static void
test_printable(void **state)
{
    char *p = lsync_printable("uid=d\xff\xc3,\xc3\xa9t\xe9");

    assert_string_equal(p, "uid=d\\xff\\xc3,\xc3\xa9t\\xe9");
    free(p);
    assert_true(lsync_utf8("\xc3\xa9", 2));
    assert_false(lsync_utf8("a\0b", 3));
    assert_false(lsync_utf8("\xc0\xaf", 2)); /* overlong */
}

/* Past 64 values of one mail attribute, the rest is left out and said. */
static void
test_mail_limit(void **state)
{
    struct lsync_source src;
    json_t *conf = json_pack("{s:s, s:s}", "name", "t", "ministry", "T");
    struct berval bv[70], key = { 2, (char *)"k1" };
    const struct berval *mails[71], *keys[2] = { &key, NULL };
    char text[70][32];
    struct lsync_attr attrs[2] = { { "entryUUID", keys }, { "mail", mails } };
    json_t *dropped = json_array();
    struct lsync_entry e;
    char why[256];

    for (size_t i = 0; i < 70; i++) {
        snprintf(text[i], sizeof(text[i]), "m%zu@b.fr", i);
        bv[i].bv_val = text[i];
        bv[i].bv_len = strlen(text[i]);
        mails[i] = &bv[i];
    }
    mails[70] = NULL;
    lsync_source_from_json(conf, &src);
    assert_int_equal(
        lsync_map(&src.attrs, "uid=x,dc=t", NULL, attrs, 2, &e, dropped, NULL, why, sizeof(why)),
        0);
    assert_int_equal(e.n_mails, 64);
    assert_int_equal(json_array_size(dropped), 1);
    assert_string_equal(json_string_value(json_array_get(dropped, 0)),
                        "6 values of mail past the 64th");
    lsync_entry_clear(&e);
    json_decref(dropped);
    json_decref(conf);
}

/* The search words (sql/019_search.sql): the part after each apostrophe, digits of the
 * addresses dropped, the 32-word and 64-byte bounds, the entity's stop words, the folded
 * name's 256-byte bound. */
static void
test_words(void **state)
{
    static const char *const mails[] = { "o.dell-acqua99@x.gouv.fr", "a.b@c@x.gouv.fr" };
    char many[40 * 4 + 1] = "";
    char text[1024];
    char long_name[100];
    struct lsync_words w;

    (void)state;
    lsync_words_compute(&(struct lsync_words_in){ .display_name = "Olivia Dell'Acqua-d'Arc",
                                                  .surname = "Dell’Acqua",
                                                  .entity = "Service de l'État-Civil et des "
                                                            "Affaires du Sud, 2e",
                                                  .mails = mails,
                                                  .n_mails = 2 },
                        &w);
    assert_string_equal(w.words, "{\"a\",\"acqua\",\"arc\",\"b\",\"c\","
                                 "\"darc\",\"dell\",\"dellacqua\",\"o\",\"olivia\"}");
    assert_string_equal(w.entity_words,
                        "{\"2e\",\"affaires\",\"civil\",\"etat\",\"service\",\"sud\"}");
    assert_string_equal(w.name, "olivia dellacqua darc");
    lsync_words_clear(&w);

    /* 40 words: the first 32 met are kept; a 99-letter word is cut at 64. */
    for (int i = 0; i < 40; i++) {
        char word[8];

        snprintf(word, sizeof(word), "w%02d ", i);
        strcat(many, word);
    }
    memset(long_name, 'x', 99);
    long_name[99] = '\0';
    lsync_words_compute(&(struct lsync_words_in){ .display_name = long_name, .given_name = many },
                        &w);
    /* {}, the x word quoted (66), 31 more quoted (5 each), 31 commas */
    assert_int_equal(strlen(w.words), 2 + 66 + 31 * 5 + 31);
    assert_non_null(strstr(w.words, "\"w30\",\"x"));
    assert_null(strstr(w.words, "w31"));
    assert_string_equal(w.entity_words, "{}");
    assert_int_equal(strlen(w.name), 99);
    lsync_words_clear(&w);

    /* search_name: at most 256 bytes, cut at a word's end; inside a first word too long. */
    strcpy(text, "X ");
    for (int i = 0; i < 60; i++) {
        strcat(text, i % 2 ? "Éa " : "Bcdefghij ");
    }
    /* "x " and 19 times "bcdefghij ea " folded make 249 bytes; the next word would end
     * at 258. */
    lsync_words_compute(&(struct lsync_words_in){ .display_name = text }, &w);
    assert_int_equal(strlen(w.name), 248);
    assert_memory_equal(w.name, "x bcdefghij ea bcdefghij", 24);
    assert_memory_equal(w.name + 236, "bcdefghij ea", 12);
    lsync_words_clear(&w);
    memset(text, 'z', 300);
    text[300] = '\0';
    lsync_words_compute(&(struct lsync_words_in){ .display_name = text }, &w);
    assert_int_equal(strlen(w.name), 256);
    lsync_words_clear(&w);
    memcpy(text + 256, " abc", 4); /* a word that ends at 256 exactly */
    lsync_words_compute(&(struct lsync_words_in){ .display_name = text }, &w);
    assert_int_equal(strlen(w.name), 256);
    assert_int_equal(w.name[255], 'z');
    lsync_words_clear(&w);

    lsync_words_compute(&(struct lsync_words_in){ .display_name = "-- ' --", .entity = "de la" },
                        &w);
    assert_string_equal(w.words, "{}");
    assert_string_equal(w.entity_words, "{}");
    assert_null(w.name);
    lsync_words_clear(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inetorgperson),   cmocka_unit_test(test_active_directory),
        cmocka_unit_test(test_mails_canonical), cmocka_unit_test(test_rejects_and_phones),
        cmocka_unit_test(test_not_utf8),        cmocka_unit_test(test_printable),
        cmocka_unit_test(test_mail_limit),      cmocka_unit_test(test_words),
        cmocka_unit_test(test_long_values),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
