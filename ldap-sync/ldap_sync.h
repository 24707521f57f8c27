/*
 * ldap-sync: reads each ministry's LDAP directory or LDIF export and
 * reconciles it into the annuaire (`annuaire sync`). Sources, the LDIF reader
 * and reconciliation arrive with the sync capability.
 */
#ifndef ANN_LDAP_SYNC_LDAP_SYNC_H
#define ANN_LDAP_SYNC_LDAP_SYNC_H

#endif
