/*
 * callbridge-webhook: the FastCGI responder that answers Twilio's webhooks.
 *
 * The main thread loads the configuration, opens the listening socket
 * (fd 0 from a FastCGI manager, or -l ADDRESS), starts the worker threads
 * and then only waits for signals.  Each worker accepts requests itself
 * (one at a time under accept_lock, as libfcgi's threaded example does)
 * with its own database connection.  SIGTERM/SIGINT: the main thread
 * interrupts the worker blocked in accept() with SIGUSR2 (never shutdown()
 * on the socket: with socket activation it is shared with systemd and
 * must stay usable for the next instance); workers busy with a request
 * finish it and exit; then the process exits 0.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <mysql.h>

#include "conf.h"
#include "db.h"
#include "log.h"
#include "notify.h"
#include "request.h"
#include "routes.h"
#include "store.h"

#define LISTEN_BACKLOG		128
#define ACCEPT_FAILURES_MAX	10	/* in a row, before a worker gives up */

struct worker {
	int			 id;
	pthread_t		 thread;
	const struct conf	*cf;
	int			 listen_fd;
	atomic_bool		 in_accept;	/* blocked (or about to be) in accept() */
	atomic_bool		 done;
};

static pthread_mutex_t	 accept_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int	 stopping;
static atomic_int	 workers_alive;
static atomic_int	 log_crit_exit;	/* every worker died: exit 1 */

/* SIGUSR2 only interrupts accept(); the handler has nothing to do. */
static void
wake_handler(int sig)
{
	(void)sig;
}

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: callbridge-webhook [-dhtV] [-c file] [-l address] [-n threads]\n"
	    "  -c file     configuration file (default %s)\n"
	    "  -d          debug logging\n"
	    "  -h          this help\n"
	    "  -l address  listen on unix:/path or host:port instead of fd 0\n"
	    "  -n threads  worker threads (overrides [webhook] threads)\n"
	    "  -t          check the configuration and exit\n"
	    "  -V          print the version and exit\n", conf_default_path());
}

static void
set_io_timeout(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/*
 * The web server asked to keep the connection for more requests
 * (FCGI_KEEP_CONN: mod_proxy_fcgi with enablereuse=on, nginx with
 * fastcgi_keep_conn on), but a worker serves one connection at a time:
 * waiting on an idle kept connection would pin the worker there while new
 * connections queue up unaccepted until request_timeout.  So the
 * connection is closed after every request; the web server notices before
 * it reuses it and connects again.
 *
 * libfcgi closes with a "lingering" close (shutdown, then read until EOF
 * for up to 2 seconds) so that unread input cannot reset the connection
 * under the response.  A server that keeps connections never sends the
 * EOF, so every request would cost the worker 2 seconds.  Instead, read
 * what is left of the request's input (normally only the empty FCGI_STDIN
 * record) and, once at its end, close without lingering.
 */
#define DRAIN_MAX	(64 * 1024)

static void
close_kept_connection(FCGX_Request *fcgi)
{
	char	 chunk[4096];
	size_t	 drained = 0;
	int	 n;

	fcgi->keepConnection = 0;
	while (drained < DRAIN_MAX &&
	    (n = FCGX_GetStr(chunk, sizeof(chunk), fcgi->in)) > 0)
		drained += (size_t)n;
	if (FCGX_HasSeenEOF(fcgi->in) == EOF && FCGX_GetError(fcgi->in) == 0)
		(void)FCGX_Detach(fcgi);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	FCGX_Request	 fcgi;
	struct store	 st;
	struct request	 rq;
	bool		 keep;
	int		 rc, failures = 0;

	mysql_thread_init();
	store_init(&st, w->cf);
	if (FCGX_InitRequest(&fcgi, w->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_err("worker %d: FCGX_InitRequest failed", w->id);
		goto out;
	}
	while (!stopping) {
		pthread_mutex_lock(&accept_lock);
		atomic_store(&w->in_accept, true);
		rc = stopping ? -1 : FCGX_Accept_r(&fcgi);
		atomic_store(&w->in_accept, false);
		pthread_mutex_unlock(&accept_lock);
		if (rc < 0) {
			if (stopping)
				break;
			/* EMFILE and the like: say so, wait, try again. */
			log_err("worker %d: accept failed (%s)", w->id,
			    strerror(-rc > 0 ? -rc : errno));
			if (++failures == ACCEPT_FAILURES_MAX) {
				log_err("worker %d: %d accept failures in a row; "
				    "worker stops", w->id, failures);
				break;
			}
			sleep(1);
			continue;
		}
		failures = 0;
		keep = fcgi.keepConnection;
		/* A web server that stalls mid-request frees us after this. */
		set_io_timeout(fcgi.ipcFd, w->cf->webhook_request_timeout);
		if (request_read(&rq, &fcgi, w->cf))
			routes_dispatch(&rq, &st);
		request_free(&rq);
		log_clear_tag();
		if (keep)
			close_kept_connection(&fcgi);
		FCGX_Finish_r(&fcgi);
	}
	FCGX_Free(&fcgi, 1);
out:
	store_close(&st);
	mysql_thread_end();
	atomic_store(&w->done, true);
	/* The last worker standing, unasked to stop: the process is useless. */
	if (atomic_fetch_sub(&workers_alive, 1) == 1 && !stopping) {
		log_crit_exit = 1;
		kill(getpid(), SIGTERM);
	}
	return NULL;
}

/* Open -l ADDRESS: "unix:/path" or "host:port" ("*:port" for all). */
static int
open_listener(const char *addr)
{
	const char	*path = addr;
	struct stat	 sb;
	int		 fd;

	if (strncmp(addr, "unix:", 5) == 0) {
		path = addr + 5;
		/*
		 * libfcgi unlinks the path before bind(); never let that
		 * remove anything but a socket left by an earlier run.
		 */
		if (lstat(path, &sb) == 0 && !S_ISSOCK(sb.st_mode)) {
			errno = EEXIST;
			return -1;
		}
	} else if (strchr(addr, ':') == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (strncmp(path, "*:", 2) == 0)
		path++;
	fd = FCGX_OpenSocket(path, LISTEN_BACKLOG);
	if (fd >= 0 && strncmp(addr, "unix:", 5) == 0)
		chmod(path, 0660);
	return fd;
}

int
main(int argc, char *argv[])
{
	struct conf	 cf;
	struct worker	*workers;
	const char	*path = conf_default_path(), *listen_addr = NULL;
	bool		 check_only = false, debug = false;
	int		 ch, threads = 0, listen_fd = 0, i, sig, version;
	sigset_t	 sigs;
	struct store	 probe;

	while ((ch = getopt(argc, argv, "c:dhl:n:tV")) != -1) {
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
		case 'l':
			listen_addr = optarg;
			break;
		case 'n':
			threads = atoi(optarg);
			if (threads < 1 || threads > 256) {
				fprintf(stderr, "callbridge-webhook: -n: 1 to 256 threads\n");
				return 2;
			}
			break;
		case 't':
			check_only = true;
			break;
		case 'V':
			printf("callbridge-webhook %s\n", PACKAGE_VERSION);
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

	log_init("callbridge-webhook", LOG_INFO);
	conf_startup(&cf, path, CONF_WEBHOOK, check_only);
	log_set_level(debug ? LOG_DEBUG : cf.log_level);
	if (threads == 0)
		threads = cf.webhook_threads;

	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");
	if (listen_addr != NULL) {
		if ((listen_fd = open_listener(listen_addr)) < 0)
			fatalx("cannot listen on %s: %s (unix:/path or "
			    "host:port; an existing file that is not a socket "
			    "is never replaced)", listen_addr, strerror(errno));
	} else if (FCGX_IsCGI())
		fatalx("not started by a FastCGI manager (fd 0 is not a "
		    "listening socket); use -l ADDRESS to listen yourself");

	if (mysql_library_init(0, NULL, NULL) != 0)
		fatalx("MariaDB client library initialisation failed");

	/*
	 * Refuse to run against a schema we do not know.  A database that is
	 * down is no reason to refuse: calls then get the fallback until it
	 * is back.
	 */
	store_init(&probe, &cf);
	version = store_connect(&probe);
	if (version >= 0 && version != DB_SCHEMA_VERSION) {
		char advice[256];

		db_schema_advice(version, advice, sizeof(advice));
		fatalx("%s", advice);
	}
	if (version < 0)
		log_warn("database not reachable at start-up (%s); calls get "
		    "the fallback until it is", probe.err);
	store_close(&probe);

	/* Signals go to the main thread only, which waits for them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = wake_handler;	/* no SA_RESTART: accept() returns EINTR */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR2, &sa, NULL);
	}
	atomic_store(&workers_alive, threads);

	if ((workers = calloc((size_t)threads, sizeof(*workers))) == NULL)
		fatalx("out of memory");
	for (i = 0; i < threads; i++) {
		workers[i].id = i;
		workers[i].cf = &cf;
		workers[i].listen_fd = listen_fd;
		if (pthread_create(&workers[i].thread, NULL, worker_main,
		    &workers[i]) != 0)
			fatalx("cannot start worker thread %d", i);
	}
	log_notice("callbridge-webhook %s ready: %d thread%s on %s", PACKAGE_VERSION,
	    threads, threads == 1 ? "" : "s",
	    listen_addr != NULL ? listen_addr : "fd 0");
	if (notify_sendf("READY=1\nSTATUS=serving on %s with %d threads",
	    listen_addr != NULL ? listen_addr : "fd 0", threads) == -1)
		log_warn("cannot notify the service manager: %s",
		    strerror(errno));

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("SIGHUP: nothing to reopen (logs go to stderr)");
			continue;
		}
		break;
	}
	log_notice("signal %d: finishing requests in progress, then exiting", sig);
	(void)notify_send("STOPPING=1\nSTATUS=finishing requests in progress");
	stopping = 1;
	FCGX_ShutdownPending();
	/*
	 * Wake whoever waits in accept(), again and again: a signal sent just
	 * before the worker entered accept() would be lost.  Workers busy
	 * with a request are left alone to finish it.
	 */
	for (;;) {
		bool all_done = true;

		for (i = 0; i < threads; i++) {
			if (atomic_load(&workers[i].done))
				continue;
			all_done = false;
			if (atomic_load(&workers[i].in_accept))
				pthread_kill(workers[i].thread, SIGUSR2);
		}
		if (all_done)
			break;
		usleep(20 * 1000);
	}
	for (i = 0; i < threads; i++)
		pthread_join(workers[i].thread, NULL);
	free(workers);
	if (listen_addr != NULL) {
		close(listen_fd);
		if (strncmp(listen_addr, "unix:", 5) == 0)
			unlink(listen_addr + 5);
	}
	mysql_library_end();
	conf_free(&cf);
	if (log_crit_exit) {
		log_msg(LOG_CRIT, "every worker stopped; exiting");
		return 1;
	}
	log_notice("stopped");
	return 0;
}
