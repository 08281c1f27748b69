/*
 * routes: the webhook's route handlers, one per route of the contract.
 */
#ifndef CALLBRIDGE_ROUTES_H
#define CALLBRIDGE_ROUTES_H

#include "request.h"
#include "store.h"

/* Answer a request that request_read() accepted. */
void	 routes_dispatch(struct request *, struct store *);

#endif
