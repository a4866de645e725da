/*
 * store-internal.h — for the store's own tests only: the SQLite handle behind
 * a connection, to inject failures the store never causes itself (a full
 * disk through `PRAGMA max_page_count`, a schema written behind its back).
 * Nothing outside core/store.c and tests/test_store.c includes this.
 */
#ifndef RIPPLE_CORE_STORE_INTERNAL_H
#define RIPPLE_CORE_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store.h"

/* The connection's handle, owned by `st`; never close it. */
sqlite3 *store__handle(struct store *st);

#endif
