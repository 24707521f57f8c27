/*
 * The audit log: an entry written on the action's own connection (core/audit.h); its
 * statement is core's store's (store_audit_insert).
 */
#include "core/audit.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/store.h"

enum db_status
audit_record(struct db_conn *c, const struct audit_entry *e)
{
    char *details = e->details != NULL ? json_dumps(e->details, JSON_COMPACT) : NULL;
    enum db_status st = store_audit_insert(c, e->actor_kind, e->actor, e->action, e->object_kind,
                                           e->object_id, e->outcome, details);

    free(details);
    return st;
}

void
audit_cli_actor(char *out, size_t size)
{
    const struct passwd *pw = getpwuid(getuid());

    if (pw != NULL && pw->pw_name != NULL) {
        snprintf(out, size, "cli:%s", pw->pw_name);
    } else {
        snprintf(out, size, "cli:uid%ld", (long)getuid());
    }
}
