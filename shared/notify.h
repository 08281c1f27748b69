/*
 * notify: the service manager's readiness protocol (sd_notify(3)) without
 * libsystemd.  Under systemd with Type=notify, $NOTIFY_SOCKET names a
 * datagram socket (a path, or "@name" in the abstract namespace) and a
 * state change is one datagram of "KEY=value" lines: READY=1 once the
 * program serves, STOPPING=1 when it begins to shut down, STATUS=... for
 * "systemctl status".  Without $NOTIFY_SOCKET these calls do nothing.
 */
#ifndef CALLBRIDGE_NOTIFY_H
#define CALLBRIDGE_NOTIFY_H

#define NOTIFY_MSG_MAX	512	/* longest state string sent */

/* Send state; 0 when sent or when there is no manager, -1 on error. */
int	 notify_send(const char *state);
/* printf-style notify_send(); the formatted text is cut at NOTIFY_MSG_MAX. */
int	 notify_sendf(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

#endif
