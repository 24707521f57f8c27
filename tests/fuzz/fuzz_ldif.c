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

#include "ldap-sync/internal.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct lsync_source sources[3];
static json_t *confs[3];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
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

static int
on_entry(void *ctx, const char *dn, const char *key, const struct lsync_attr *attrs, size_t n)
{
    size_t *count = ctx;

    for (size_t s = 0; s < ANN_ARRAY_LEN(sources); s++) {
        struct lsync_entry e = { 0 };
        json_t *dropped = json_array();
        char why[256] = "";

        if (lsync_map(&sources[s].attrs, dn, key, attrs, n, &e, dropped, NULL, why, sizeof(why)) ==
            0) {
            FUZZ_ASSERT(e.key != NULL); /* "" for "dn:" when keyed by DN (reported) */
            FUZZ_ASSERT(e.dn != NULL);
            for (size_t i = 0; i < e.n_mails; i++) {
                FUZZ_ASSERT(fuzz_utf8_ok(e.mails[i], strlen(e.mails[i])));
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

/* A record the file ends inside: never an entry, but its lines go through the maps too. */
static int
on_partial(void *ctx, const char *dn, unsigned long line, const struct lsync_attr *attrs, size_t n)
{
    return dn != NULL ? on_entry(ctx, dn, NULL, attrs, n) : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    char err[512] = "";
    size_t count = 0;
    struct lsync_sink sink = {
        .entry = on_entry, .key = on_key, .partial = on_partial, .ctx = &count
    };
    int fd;
    int rc;

    fd = fuzz_file(data, size, path);
    rc = lsync_read_ldif(path, &sink, err, sizeof(err));

    FUZZ_ASSERT(rc == 0 || err[0] != '\0');
    close(fd);
    return 0;
}
