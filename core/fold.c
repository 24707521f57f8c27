/*
 * Text folding for directory search (core/fold.h): a byte table for ASCII, code-point
 * tables for the Latin letters of U+00C0..U+024F (Latin-1 Supplement, Latin Extended-A
 * and -B) and U+1E00..U+1EFF (Latin Extended Additional: Vietnamese and the other
 * letters with two marks), the ligatures U+FB00..U+FB06, the apostrophes. One pass, no
 * allocation, UTF-8 decoded in place; whatever is not a known letter or digit is a
 * separator, and so is every byte that is not part of well-formed UTF-8 (overlong
 * forms, surrogates, truncated sequences, stray continuation bytes).
 *
 * The two code-point tables give the letters each code point folds to: its
 * compatibility decomposition (NFKD) without the marks when that is ASCII letters
 * (é -> e, ǅ -> dz, ﬁ -> fi), else the base letter of its Unicode name ("LATIN SMALL
 * LETTER O WITH STROKE" -> o, "LATIN SMALL LETTER AE" -> ae), and by hand: ß ẞ -> ss,
 * þ Þ -> th, ð Ð -> d, ı -> i, ȷ -> j, ŋ Ŋ -> n, ſ ẛ -> s, ĸ -> k. A code point
 * with no Latin base (a symbol such as × or ÷, a letter such as ə or ʒ) is a
 * separator. No cell is longer than its code point's UTF-8 form, so folding never
 * lengthens a text.
 */
#include "core/fold.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ASCII: the folded letter or digit, FOLD_SEP, or FOLD_APOS (' and `). */
#define FOLD_SEP  0
#define FOLD_APOS 1

static const char fold_ascii[128] = {
    /* clang-format off */
    ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
    ['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
    ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f', ['G'] = 'g',
    ['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n',
    ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r', ['S'] = 's', ['T'] = 't', ['U'] = 'u',
    ['V'] = 'v', ['W'] = 'w', ['X'] = 'x', ['Y'] = 'y', ['Z'] = 'z',
    ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f', ['g'] = 'g',
    ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n',
    ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't', ['u'] = 'u',
    ['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y', ['z'] = 'z',
    ['\''] = FOLD_APOS, ['`'] = FOLD_APOS,
    /* clang-format on */
};

/* Two bytes a code point: one letter and a space, two letters, or "- " (a separator).
 * U+00C0..U+024F. */
/* clang-format off */
static const char fold_2byte[] =
    /* U+00C0 */ "a a a a a a aec e e e e i i i i "
    /* U+00D0 */ "d n o o o o o - o u u u u y thss"
    /* U+00E0 */ "a a a a a a aec e e e e i i i i "
    /* U+00F0 */ "d n o o o o o - o u u u u y thy "
    /* U+0100 */ "a a a a a a c c c c c c c c d d "
    /* U+0110 */ "d d e e e e e e e e e e g g g g "
    /* U+0120 */ "g g g g h h h h i i i i i i i i "
    /* U+0130 */ "i i ijijj j k k k l l l l l l l "
    /* U+0140 */ "l l l n n n n n n n n n o o o o "
    /* U+0150 */ "o o oeoer r r r r r s s s s s s "
    /* U+0160 */ "s s t t t t t t u u u u u u u u "
    /* U+0170 */ "u u u u w w y y y z z z z z z s "
    /* U+0180 */ "b b b b - - - c c - d d d - - - "
    /* U+0190 */ "- f f g - hv- i k k l - - n n o "
    /* U+01A0 */ "o o oioip p - - - - - t t t t u "
    /* U+01B0 */ "u - v y y z z - - - - - - - - - "
    /* U+01C0 */ "- - - - dzdzdzljljljnjnjnja a i "
    /* U+01D0 */ "i o o u u u u u u u u u u - a a "
    /* U+01E0 */ "a a aeaeg g g g k k o o o o - - "
    /* U+01F0 */ "j dzdzdzg g - - n n a a aeaeo o "
    /* U+0200 */ "a a a a e e e e i i i i o o o o "
    /* U+0210 */ "r r r r u u u u s s t t - - h h "
    /* U+0220 */ "n d ououz z a a e e o o o o o o "
    /* U+0230 */ "o o y y l n t j - - a c c l t s "
    /* U+0240 */ "z - - b - - e e j j - q r r y y ";

/* U+1E00..U+1EFF. */
static const char fold_3byte[] =
    /* U+1E00 */ "a a b b b b b b c c d d d d d d "
    /* U+1E10 */ "d d d d e e e e e e e e e e f f "
    /* U+1E20 */ "g g h h h h h h h h h h i i i i "
    /* U+1E30 */ "k k k k k k l l l l l l l l m m "
    /* U+1E40 */ "m m m m n n n n n n n n o o o o "
    /* U+1E50 */ "o o o o p p p p r r r r r r r r "
    /* U+1E60 */ "s s s s s s s s s s t t t t t t "
    /* U+1E70 */ "t t u u u u u u u u u u v v v v "
    /* U+1E80 */ "w w w w w w w w w w x x x x y y "
    /* U+1E90 */ "z z z z z z h t w y a s - - ss- "
    /* U+1EA0 */ "a a a a a a a a a a a a a a a a "
    /* U+1EB0 */ "a a a a a a a a e e e e e e e e "
    /* U+1EC0 */ "e e e e e e e e i i i i o o o o "
    /* U+1ED0 */ "o o o o o o o o o o o o o o o o "
    /* U+1EE0 */ "o o o o u u u u u u u u u u u u "
    /* U+1EF0 */ "u u y y y y y y y y - - - - y y ";
/* clang-format on */

_Static_assert(sizeof(fold_2byte) == 2 * (0x24f - 0xc0 + 1) + 1, "a cell per code point");
_Static_assert(sizeof(fold_3byte) == 2 * (0x1eff - 0x1e00 + 1) + 1, "a cell per code point");

/* U+FB00..U+FB06: ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ (three bytes each, at most three letters). */
static const char fold_ligatures[7][4] = { "ff", "fi", "fl", "ffi", "ffl", "st", "st" };

/* What one character folds to: letters (len > 0), an apostrophe, or a separator. */
struct fold_char {
    const char *letters;
    unsigned len;
    bool apos;
};

/* The letters of a two-byte cell of fold_2byte or fold_3byte. */
static inline void
cell(struct fold_char *fc, const char *c)
{
    fc->letters = c;
    fc->len = c[0] == '-' ? 0 : c[1] == ' ' ? 1 : 2;
}

/*
 * Decodes the character at p (p < end, *p >= 0x80) and says what it folds to.
 * @return the bytes it takes: its UTF-8 length, or 1 for a byte that does not start
 *         well-formed UTF-8 (then a separator)
 */
static inline size_t
fold_decode(const unsigned char *p, const unsigned char *end, struct fold_char *fc)
{
    unsigned c = p[0];
    uint32_t cp;

    fc->len = 0;
    fc->apos = false;
    if (c >= 0xc2 && c <= 0xdf) {
        if (end - p < 2 || (p[1] & 0xc0) != 0x80) {
            return 1;
        }
        cp = ((c & 0x1fu) << 6) | (p[1] & 0x3fu);
        if (cp >= 0xc0 && cp <= 0x24f) {
            cell(fc, fold_2byte + 2 * (cp - 0xc0));
        } else if (cp == 0x2bc) {
            fc->apos = true; /* ʼ MODIFIER LETTER APOSTROPHE */
        }
        return 2;
    }
    if (c >= 0xe0 && c <= 0xef) {
        /* E0 needs A0..BF (shorter forms are overlong), ED 80..9F (no surrogates). */
        unsigned lo = c == 0xe0 ? 0xa0 : 0x80;
        unsigned hi = c == 0xed ? 0x9f : 0xbf;

        if (end - p < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80) {
            return 1;
        }
        cp = ((c & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
        if (cp >= 0x1e00 && cp <= 0x1eff) {
            cell(fc, fold_3byte + 2 * (cp - 0x1e00));
        } else if (cp == 0x2018 || cp == 0x2019) {
            fc->apos = true; /* ‘ ’ */
        } else if (cp >= 0xfb00 && cp <= 0xfb06) {
            fc->letters = fold_ligatures[cp - 0xfb00];
            fc->len = (unsigned)strlen(fc->letters);
        }
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        /* F0 needs 90..BF (shorter forms are overlong), F4 80..8F (<= U+10FFFF). */
        unsigned lo = c == 0xf0 ? 0x90 : 0x80;
        unsigned hi = c == 0xf4 ? 0x8f : 0xbf;

        if (end - p < 4 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80 ||
            (p[3] & 0xc0) != 0x80) {
            return 1;
        }
        return 4; /* no Latin letter out there: a separator */
    }
    return 1; /* C0, C1 (overlong), F5..FF, or a continuation byte alone */
}

size_t
fold_text(const char *s, size_t n, char *out, enum fold_apos apos)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + n;
    size_t o = 0;
    bool gap = false; /* a separator since the last letter written */

    while (p < end) {
        struct fold_char fc;

        if (*p < 0x80) {
            char f = fold_ascii[*p++];

            if (f > FOLD_APOS) {
                if (gap && o > 0) {
                    out[o++] = ' ';
                }
                gap = false;
                out[o++] = f;
            } else if (f == FOLD_SEP || apos == FOLD_APOS_SPLIT) {
                gap = true;
            }
            continue;
        }
        p += fold_decode(p, end, &fc);
        if (fc.len > 0) {
            if (gap && o > 0) {
                out[o++] = ' ';
            }
            gap = false;
            for (unsigned i = 0; i < fc.len; i++) {
                out[o++] = fc.letters[i];
            }
        } else if (!fc.apos || apos == FOLD_APOS_SPLIT) {
            gap = true;
        }
    }
    out[o] = '\0';
    return o;
}
