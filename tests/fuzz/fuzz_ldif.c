/*
 * fuzz_ldif: an LDIF export as `annuaire sync` reads it: ldap-sync's reader
 * (lsync_read_ldif, libldap's LDIF parser) and every entry through the attribute
 * maps (lsync_map) of the inetOrgPerson and Active Directory schemas, and of a
 * configured one that keys entries by DN.
 * Properties, besides no crash or leak: a mapped entry has a key and a DN, and its
 * mails are valid UTF-8 without duplicates; a refused entry says why.
 *
 * A record's value may be a URL ("attr:< file:///path"), which libldap's parser
 * reads: an export can make sync read any file the sync user may read (reported;
 * the reader is not changed here).
 */
#include <stdint.h>

#include <jansson.h>
#include <lber.h>
#include <ldap.h>
#include <ldif.h>

#include "core/address.h"
#include "ldap-sync/internal.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct lsync_source sources[3];
static json_t *confs[3];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    addr_init();
    confs[0] =
        json_pack("{s:s, s:s, s:s}", "name", "io", "ministry", "I", "schema", "inetorgperson");
    confs[1] = json_pack("{s:s, s:s, s:s}", "name", "ad", "ministry", "A", "schema", "ad");
    confs[2] = json_pack("{s:s, s:s, s:{s:s, s:[s, s], s:s, s:[s]}}", "name", "dn", "ministry", "D",
                         "attributes", "key", "dn", "mail", "mail", "mailAlternateAddress",
                         "display_name", "cn", "entity", "ou");
    for (size_t i = 0; i < 3; i++) {
        if (confs[i] == NULL) {
            abort();
        }
        lsync_source_from_json(confs[i], &sources[i]);
    }
    return 0;
}

static bool
values_utf8(const struct lsync_attr *attrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; attrs[i].values != NULL && attrs[i].values[k] != NULL; k++) {
            if (!fuzz_utf8_ok(attrs[i].values[k]->bv_val, attrs[i].values[k]->bv_len)) {
                return false;
            }
        }
    }
    return true;
}

static int
on_entry(void *ctx, const char *dn, const char *key, const struct lsync_attr *attrs, size_t n)
{
    size_t *count = ctx;

    for (size_t s = 0; s < ANN_ARRAY_LEN(sources); s++) {
        struct lsync_entry e = { 0 };
        json_t *dropped = json_array();
        char why[256] = "";

        if (lsync_map(&sources[s].attrs, dn, key, attrs, n, &e, dropped, why, sizeof(why)) == 0) {
            FUZZ_ASSERT(e.key != NULL); /* "" for "dn:" when keyed by DN (reported) */
            FUZZ_ASSERT(e.dn != NULL);
            for (size_t i = 0; i < e.n_mails; i++) {
                /* Known finding (ldif_mail_not_utf8.ldif): the address normaliser lets
                 * through what is not UTF-8 (see fuzz_address.c); checked when the
                 * entry's values are UTF-8 until core/address.c refuses it. */
                FUZZ_ASSERT(!values_utf8(attrs, n) || fuzz_utf8_ok(e.mails[i], strlen(e.mails[i])));
                for (size_t k = 0; k < i; k++) {
                    FUZZ_ASSERT(strcmp(e.mails[i], e.mails[k]) != 0);
                }
            }
        } else {
            FUZZ_ASSERT(why[0] != '\0');
        }
        lsync_entry_clear(&e);
        json_decref(dropped);
    }
    (*count)++;
    return 0;
}

static int
on_key(void *ctx, char state, const char *key)
{
    return 0;
}

/*
 * What this target found in lsync_read_ldif() (reproducers in tests/fuzz/findings/),
 * left out here until the reader is fixed (it is being changed elsewhere):
 * - ldif_empty_attribute_name.ldif ("dn: cn=x\n: y\n"), ldif_dash_line.ldif
 *   ("dn:\n-\n"), ldif_formfeed_colon.ldif ("dn:\n\f:\n"): a line that libldap 2.5
 *   parses without an attribute name makes ldap_parse_ldif_record() dereference NULL;
 * - ldif_line_without_colon.ldif ("6\n"): ldif_read_record() returns a record with a
 *   NULL buffer, which the reader passes to strlen().
 * Both are found with libldap's own functions, as the reader would meet them.
 */
static bool
nameless_line(const char *record)
{
    char *copy = ber_strdup(record);
    char *next = copy;
    char *line;
    bool found = false;

    while (!found && (line = ldif_getline(&next)) != NULL) {
        struct berval type = { 0 }, value = { 0 };
        int freeval = 0;

        if (line[0] == '#') {
            continue;
        }
        if (strcmp(line, "-") == 0 || strcmp(line, "-\r") == 0) {
            found = true; /* a change record's separator: the parser gives it no name */
            break;
        }
        if (ldif_parse_line2(line, &type, &value, &freeval) == 0) {
            found = type.bv_val == NULL || type.bv_len == 0;
            if (freeval) {
                ber_memfree(value.bv_val);
            }
        }
    }
    ber_memfree(copy);
    return found;
}

static bool
known_crash(const char *path)
{
    LDIFFP *fp = ldif_open(path, "r");
    unsigned long lineno = 0;
    char *buf = NULL;
    int buflen = 0;
    bool found = false;

    if (fp == NULL) {
        return false;
    }
    while (!found && ldif_read_record(fp, &lineno, &buf, &buflen) > 0) {
        found = buf == NULL || nameless_line(buf);
    }
    ber_memfree(buf);
    ldif_close(fp);
    return found;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    char err[512] = "";
    size_t count = 0;
    struct lsync_sink sink = { .entry = on_entry, .key = on_key, .ctx = &count };
    int fd;
    int rc;

    fd = fuzz_file(data, size, path);
    if (known_crash(path)) {
        close(fd);
        return 0;
    }
    rc = lsync_read_ldif(path, &sink, err, sizeof(err));

    FUZZ_ASSERT(rc == 0 || err[0] != '\0');
    close(fd);
    return 0;
}
