/*
 * session_id: per-call session ids, random UUIDs (version 4) drawn from
 * the kernel's CSPRNG with getrandom(2): 122 random bits, written as the
 * 36-character lower-case form the database and the relay's URL use.
 */
#ifndef CALLBRIDGE_SESSION_ID_H
#define CALLBRIDGE_SESSION_ID_H

#include <stdbool.h>

#define SESSION_ID_LEN	36

/* Fill out with a new id; returns -1 (errno set) if the kernel fails. */
int	 session_id_new(char out[SESSION_ID_LEN + 1]);
/* True when s has exactly the shape session_id_new() produces. */
bool	 session_id_valid(const char *s);

#endif
