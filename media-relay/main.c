/*
 * callbridge-relay: carries every call's audio between Twilio's Media
 * Streams and the OpenAI Realtime API (DESIGN.md).
 *
 * This thread is the ctl thread: it loads the configuration, starts the
 * ws thread (ws.c) and then runs the libevent loop: signals, the mailbox
 * from the ws thread (woken by an eventfd), MariaDB and DNS (ctl.c).
 * SIGTERM/SIGINT: stop accepting streams, let calls finish for up to
 * [relay] drain_time, then end them; a second signal ends them at once.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <mysql.h>

#include "conf.h"
#include "db.h"
#include "db_async.h"
#include "log.h"
#include "notify.h"
#include "relay.h"

#define SHUTDOWN_DB_MS	5000	/* to store what the last calls produced */

struct relay {
	const struct conf	*cf;
	struct event_base	*base;
	struct mailbox		*to_ws, *to_ctl;
	struct ws		*ws;
	struct ctl		*ctl;
	int			 efd;
	struct event		*ev_mail, *ev_term, *ev_int, *ev_hup;
	int			 signals;
	bool			 ws_done;
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: callbridge-relay [-dhtV] [-c file]\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -d       debug logging\n"
	    "  -h       this help\n"
	    "  -t       check the configuration and exit\n"
	    "  -V       print the version and exit\n", conf_default_path());
}

/* From the ws thread: make the ctl loop look at its mailbox. */
static void
wake_ctl(void *arg)
{
	struct relay	*r = arg;
	uint64_t	 one = 1;

	if (write(r->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_err("eventfd write: %s", strerror(errno));
}

static void
db_closed(void *arg)
{
	struct relay *r = arg;

	event_base_loopexit(r->base, NULL);
}

static void
on_mail(evutil_socket_t fd, short what, void *arg)
{
	struct relay	*r = arg;
	struct msg	*m, *next;
	uint64_t	 n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_err("eventfd read: %s", strerror(errno));
	for (m = mailbox_take_all(r->to_ctl); m != NULL; m = next) {
		next = m->next;
		if (m->type == M_WS_DONE) {
			msg_free(m);
			r->ws_done = true;
			log_notice("every call has ended; storing what is left");
			db_async_shutdown(ctl_db(r->ctl), SHUTDOWN_DB_MS,
			    db_closed, r);
			continue;
		}
		ctl_handle(r->ctl, m);
	}
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct relay	*r = arg;
	struct msg	*m;

	(void)what;
	if (sig == SIGHUP) {
		log_info("SIGHUP: logs go to standard error; nothing to reopen");
		return;
	}
	if (r->ws_done)
		return;
	r->signals++;
	if (r->signals == 1) {
		log_notice("signal %d: no new streams; calls in progress may "
		    "go on for %d s", (int)sig, r->cf->relay_drain_time);
		(void)notify_sendf("STOPPING=1\nSTATUS=draining: calls in "
		    "progress may go on for %d s", r->cf->relay_drain_time);
		m = msg_new(M_DRAIN, 0, NULL);
		if (m != NULL)
			m->n1 = r->cf->relay_drain_time;
	} else {
		log_notice("signal %d again: ending every call now", (int)sig);
		m = msg_new(M_STOP, 0, NULL);
	}
	if (m != NULL && mailbox_put(r->to_ws, m) == 0)
		ws_wake(r->ws);
}

int
main(int argc, char *argv[])
{
	struct relay	 r;
	struct conf	 cf;
	const char	*path = conf_default_path();
	char		*cause = NULL, err[DB_ERR_MAX], advice[256];
	bool		 check_only = false, debug = false;
	int		 ch, version;
	MYSQL		*db;

	while ((ch = getopt(argc, argv, "c:dhtV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 't':
			check_only = true;
			break;
		case 'V':
			printf("callbridge-relay %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	log_init("callbridge-relay", LOG_INFO);
	conf_startup(&cf, path, CONF_RELAY, check_only);
	log_set_level(debug ? LOG_DEBUG : cf.log_level);
	signal(SIGPIPE, SIG_IGN);

	if (mysql_library_init(0, NULL, NULL) != 0)
		fatalx("MariaDB client library initialisation failed");
	/* A schema we do not know is fatal; a database that is down is not. */
	if ((db = db_connect(&cf, err)) != NULL) {
		version = db_schema_version(db, err);
		mysql_close(db);
		if (version >= 0 && version != DB_SCHEMA_VERSION) {
			db_schema_advice(version, advice, sizeof(advice));
			fatalx("%s", advice);
		}
	} else
		log_warn("database not reachable at start-up (%s); streams are "
		    "refused until it is", err);

	memset(&r, 0, sizeof(r));
	r.cf = &cf;
	if ((r.base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	r.to_ws = mailbox_new(MAILBOX_MAX);
	r.to_ctl = mailbox_new(MAILBOX_MAX);
	if ((r.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    r.to_ws == NULL || r.to_ctl == NULL)
		fatalx("cannot create the mailboxes");
	if ((r.ws = ws_new(&cf, r.to_ws, r.to_ctl, wake_ctl, &r, &cause)) == NULL)
		fatalx("%s", cause);
	if ((r.ctl = ctl_new(r.base, &cf, r.to_ws, r.ws, &cause)) == NULL)
		fatalx("%s", cause);
	r.ev_mail = event_new(r.base, r.efd, EV_READ | EV_PERSIST, on_mail, &r);
	r.ev_term = evsignal_new(r.base, SIGTERM, on_signal, &r);
	r.ev_int = evsignal_new(r.base, SIGINT, on_signal, &r);
	r.ev_hup = evsignal_new(r.base, SIGHUP, on_signal, &r);
	event_add(r.ev_mail, NULL);
	event_add(r.ev_term, NULL);
	event_add(r.ev_int, NULL);
	event_add(r.ev_hup, NULL);

	/* Signals are the ctl thread's: the ws thread inherits them blocked. */
	{
		sigset_t all, old;

		sigemptyset(&all);
		sigaddset(&all, SIGTERM);
		sigaddset(&all, SIGINT);
		sigaddset(&all, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		if (ws_start(r.ws) == -1)
			fatalx("cannot start the ws thread");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	log_notice("callbridge-relay %s ready: streams on %s, up to %d calls",
	    PACKAGE_VERSION, cf.relay_listen, cf.relay_max_calls);
	/* The listener exists since ws_new(): Type=notify units may go on. */
	if (notify_sendf("READY=1\nSTATUS=streams on %s, up to %d calls",
	    cf.relay_listen, cf.relay_max_calls) == -1)
		log_warn("cannot notify the service manager: %s",
		    strerror(errno));

	event_base_dispatch(r.base);

	ws_join(r.ws);
	event_free(r.ev_mail);
	event_free(r.ev_term);
	event_free(r.ev_int);
	event_free(r.ev_hup);
	ctl_free(r.ctl);
	ws_free(r.ws);
	mailbox_free(r.to_ws);
	mailbox_free(r.to_ctl);
	close(r.efd);
	event_base_free(r.base);
	mysql_library_end();
	conf_free(&cf);
	log_notice("stopped");
	return 0;
}
