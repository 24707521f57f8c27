#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lber.h>
#include <ldap.h>
#include <ldif.h>

#include "ldap-sync/internal.h"

/* Attributes of one LDIF record, gathered from its "add" modifications. */
#define MAX_ATTRS 256

/* A file cut short in the middle of a line is a truncated export, not a smaller directory. */
static bool
ends_with_newline(const char *path)
{
    FILE *f = fopen(path, "rb");
    bool ok = false;

    if (f != NULL) {
        if (fseek(f, -1, SEEK_END) == 0) {
            ok = fgetc(f) == '\n';
        }
        fclose(f);
    }
    return ok;
}

int
lsync_read_ldif(const char *path, struct lsync_sink *sink, char *err, size_t err_size)
{
    LDIFFP *fp;
    unsigned long lineno = 0;
    char *buf = NULL;
    int buflen = 0;
    int rc;
    int ret = 0;

    if (!ends_with_newline(path)) {
        snprintf(err, err_size, "%s: missing, empty or truncated (no final line break)", path);
        return -1;
    }
    fp = ldif_open(path, "r");
    if (fp == NULL) {
        snprintf(err, err_size, "%s: cannot open", path);
        return -1;
    }
    while ((rc = ldif_read_record(fp, &lineno, &buf, &buflen)) > 0) {
        struct berval bv = { strlen(buf), buf };
        LDIFRecord lr;
        struct lsync_attr attrs[MAX_ATTRS];
        size_t n = 0;
        unsigned long first_line = lineno;

        memset(&lr, 0, sizeof(lr));
        if (ldap_parse_ldif_record(&bv, lineno, &lr, "annuaire",
                                   LDIF_DEFAULT_ADD | LDIF_ENTRIES_ONLY | LDIF_NO_CONTROLS) != 0) {
            snprintf(err, err_size, "%s: line %lu: not a valid LDIF record", path, first_line);
            ret = -1;
            break;
        }
        if (lr.lr_op != LDAP_REQ_ADD) {
            ldap_ldif_record_done(&lr); /* "version: 1", or a change record: not an entry */
            continue;
        }
        for (int i = 0; lr.lrop_mods != NULL && lr.lrop_mods[i] != NULL && n < MAX_ATTRS; i++) {
            attrs[n].name = lr.lrop_mods[i]->mod_type;
            attrs[n].values = (const struct berval *const *)lr.lrop_mods[i]->mod_bvalues;
            n++;
        }
        rc = sink->entry(sink->ctx, lr.lr_dn.bv_val, NULL, attrs, n);
        ldap_ldif_record_done(&lr);
        if (rc != 0) {
            ret = -1;
            break;
        }
    }
    if (rc < 0 && ret == 0) {
        snprintf(err, err_size, "%s: line %lu: cannot read the record", path, lineno);
        ret = -1;
    }
    ber_memfree(buf);
    ldif_close(fp);
    return ret;
}
