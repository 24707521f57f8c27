/* unit.core.fold: the folding rule of directory search (core/fold.h): accents, case,
 * ligatures, apostrophes joined or split, separators, invalid UTF-8 and NUL bytes, the
 * length bound; and how fast it is (printed, never asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/fold.h"
#include "core/util.h"

struct fold_case {
    const char *in;
    size_t len; /* 0: strlen(in) */
    const char *join, *split;
};

static const struct fold_case cases[] = {
    { "François", 0, "francois", "francois" },
    { "Lefèvre", 0, "lefevre", "lefevre" },
    { "Jean-Pierre", 0, "jean pierre", "jean pierre" },
    { "D'Angelo", 0, "dangelo", "d angelo" },
    { "N’Diaye", 0, "ndiaye", "n diaye" },
    { "O‘Neill", 0, "oneill", "o neill" },
    { "Dʼarcy", 0, "darcy", "d arcy" },
    { "l`Ain", 0, "lain", "l ain" },
    { "Œuvray-Lætitia", 0, "oeuvray laetitia", "oeuvray laetitia" },
    { "ÉLODIE Müller", 0, "elodie muller", "elodie muller" },
    { "Straße", 0, "strasse", "strasse" },
    { "STRAẞE", 0, "strasse", "strasse" },
    { "jean.pierre-dupont_3", 0, "jean pierre dupont 3", "jean pierre dupont 3" },
    { "jean.pierre-dupont_3@x.gouv.fr", 0, "jean pierre dupont 3 x gouv fr",
      "jean pierre dupont 3 x gouv fr" },
    { "  --Anne   Marie--  ", 0, "anne marie", "anne marie" },
    { "'D'", 0, "d", "d" },
    { "''", 0, "", "" },
    { "", 0, "", "" },
    { "Ñúñez Çağlar Łódź Øre Þór Ðan", 0, "nunez caglar lodz ore thor dan",
      "nunez caglar lodz ore thor dan" },
    { "Brieuc Le Quéré Kergoët", 0, "brieuc le quere kergoet", "brieuc le quere kergoet" },
    { "Nguyễn Thị Hương Đặng Ơn Ưu ạ ế ǎ", 0, "nguyen thi huong dang on uu a e a",
      "nguyen thi huong dang on uu a e a" },
    { "Wałęsa Żółć Świętosław", 0, "walesa zolc swietoslaw", "walesa zolc swietoslaw" },
    { "João Conceição Muñoz", 0, "joao conceicao munoz", "joao conceicao munoz" },
    { "ﬁﬂﬀﬃﬄﬅﬆ", 0, "fiflffffifflstst", "fiflffffifflstst" },
    { "Ĳsbrand Ǆuro ǅ", 0, "ijsbrand dzuro dz", "ijsbrand dzuro dz" },
    { "a×b÷c", 0, "a b c", "a b c" },
    { "Ελένη Петров 李", 0, "", "" },
    { "x🙂y", 0, "x y", "x y" },
    { "a\xff"
      "b",
      0, "a b", "a b" },
    { "a\xc3(b", 0, "a b", "a b" },            /* truncated sequence */
    { "a\xc0\xafz", 0, "a z", "a z" },         /* overlong '/' */
    { "a\xe0\x80\xafz", 0, "a z", "a z" },     /* overlong, three bytes */
    { "a\xf0\x80\x80\xafz", 0, "a z", "a z" }, /* overlong, four bytes */
    { "a\xed\xa0\x80z", 0, "a z", "a z" },     /* a surrogate */
    { "a\xf4\x90\x80\x80z", 0, "a z", "a z" }, /* past U+10FFFF */
    { "a\x80\x80z", 0, "a z", "a z" },         /* continuation bytes alone */
    { "\xc3", 0, "", "" },
    { "\xc3\xa9", 0, "e", "e" },
    { "a\0b", 3, "a b", "a b" },
    { "\0\0x\0", 4, "x", "x" },
    { "A\xc2\xa0"
      "B",
      0, "a b", "a b" }, /* no-break space */
};

static void
test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < ANN_ARRAY_LEN(cases); i++) {
        const struct fold_case *c = &cases[i];
        size_t n = c->len > 0 ? c->len : strlen(c->in);
        char *out = malloc(n + 1);
        size_t len;

        len = fold_text(c->in, n, out, FOLD_APOS_JOIN);
        if (strcmp(out, c->join) != 0) {
            fail_msg("case %zu join: '%s', expected '%s'", i, out, c->join);
        }
        assert_int_equal(len, strlen(c->join));
        len = fold_text(c->in, n, out, FOLD_APOS_SPLIT);
        if (strcmp(out, c->split) != 0) {
            fail_msg("case %zu split: '%s', expected '%s'", i, out, c->split);
        }
        assert_int_equal(len, strlen(c->split));
        free(out);
    }
}

/* Every 2- and 3-byte code point alone and between letters: output within n + 1 bytes
 * (the buffer is exactly that, ASan would see more), only [a-z0-9 ], and folding it
 * again gives it back. */
static void
test_every_code_point(void **state)
{
    (void)state;
    for (uint32_t cp = 0x80; cp < 0x10000; cp++) {
        char in[8];
        char *out;
        char again[8];
        size_t n = 0, len;

        if (cp >= 0xd800 && cp <= 0xdfff) {
            continue;
        }
        in[n++] = 'a';
        if (cp < 0x800) {
            in[n++] = (char)(0xc0 | (cp >> 6));
        } else {
            in[n++] = (char)(0xe0 | (cp >> 12));
            in[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        }
        in[n++] = (char)(0x80 | (cp & 0x3f));
        in[n++] = 'b';
        for (size_t k = 0; k < 2; k++) {
            const char *s = k == 0 ? in + 1 : in; /* alone, then between letters */
            size_t sn = k == 0 ? n - 2 : n;

            out = malloc(sn + 1);
            len = fold_text(s, sn, out, FOLD_APOS_JOIN);
            assert_true(len <= sn);
            assert_int_equal(strspn(out, "abcdefghijklmnopqrstuvwxyz0123456789 "), len);
            assert_int_equal(fold_text(out, len, again, FOLD_APOS_SPLIT), len);
            assert_string_equal(again, out);
            free(out);
        }
    }
}

static void
test_speed(void **state)
{
    static const char sample[] = "Marie-Hélène Lefèvre-Utile, Direction départementale des "
                                 "territoires de l'Ardèche; jean.pierre-dupont_3@x.gouv.fr ";
    enum {
        COPIES = 64,
        RUNS = 2000
    };
    size_t n = (sizeof(sample) - 1) * COPIES;
    char *in = malloc(n);
    char *out = malloc(n + 1);
    struct timespec t0, t1;
    size_t sum = 0;
    double ns;

    (void)state;
    for (size_t i = 0; i < COPIES; i++) {
        memcpy(in + i * (sizeof(sample) - 1), sample, sizeof(sample) - 1);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 0; r < RUNS; r++) {
        sum += fold_text(in, n, out, (r & 1) ? FOLD_APOS_SPLIT : FOLD_APOS_JOIN);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    print_message("fold_text: %.2f ns per byte (%zu bytes x %d)\n", ns / ((double)n * RUNS), n,
                  RUNS);
    assert_true(sum > 0);
    free(out);
    free(in);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_every_code_point),
        cmocka_unit_test(test_speed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
