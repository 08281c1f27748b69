/*
 * svc-run: start a program the way its systemd unit would, for tests on
 * machines where systemd is not PID 1 (containers, CI).
 *
 *   svc-run [-u user] [-g group] [-S path:mode:owner:group] [-N file] \
 *       [--] program [args...]
 *
 * -S  create a listening unix socket (a .socket unit's ListenStream=, with
 *     SocketMode=, SocketUser=, SocketGroup=) and hand it to the program
 *     as fd 0 (StandardInput=socket);
 * -N  provide $NOTIFY_SOCKET (Type=notify) and append every datagram the
 *     program sends to file, one line each, its newlines shown as " | ";
 * -u, -g  run the program as that user and group (User=, Group=), with the
 *     user's supplementary groups.
 *
 * svc-run forwards SIGTERM, SIGINT and SIGHUP to the program and exits
 * with its status (128 + signal when it was killed).
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOTIFY_DGRAM_MAX	4096

static volatile sig_atomic_t	pending_sig;

static void
on_signal(int sig)
{
	pending_sig = sig;
}

static void
die(const char *what)
{
	fprintf(stderr, "svc-run: %s: %s\n", what, strerror(errno));
	exit(125);
}

static void
usage(void)
{
	fprintf(stderr, "usage: svc-run [-u user] [-g group] "
	    "[-S path:mode:owner:group] [-N file] [--] program [args...]\n");
	exit(125);
}

static int
unix_socket(const char *path, int type, struct sockaddr_un *sun)
{
	int fd;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		die(path);
	}
	strcpy(sun->sun_path, path);
	if ((fd = socket(AF_UNIX, type, 0)) == -1)
		die("socket");
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)sun, sizeof(*sun)) == -1)
		die(path);
	return fd;
}

static uid_t
user_id(const char *name, gid_t *gid)
{
	struct passwd *pw;

	if ((pw = getpwnam(name)) == NULL) {
		fprintf(stderr, "svc-run: no user %s\n", name);
		exit(125);
	}
	if (gid != NULL)
		*gid = pw->pw_gid;
	return pw->pw_uid;
}

static gid_t
group_id(const char *name)
{
	struct group *gr;

	if ((gr = getgrnam(name)) == NULL) {
		fprintf(stderr, "svc-run: no group %s\n", name);
		exit(125);
	}
	return gr->gr_gid;
}

/* -S path:mode:owner:group, each of owner and group may be empty. */
static int
listen_socket(char *spec)
{
	struct sockaddr_un	 sun;
	char			*path, *mode, *owner, *group;
	uid_t			 uid = (uid_t)-1;
	gid_t			 gid = (gid_t)-1;
	int			 fd;

	path = strsep(&spec, ":");
	mode = strsep(&spec, ":");
	owner = strsep(&spec, ":");
	group = spec;
	if (path == NULL || path[0] != '/' || mode == NULL)
		usage();
	fd = unix_socket(path, SOCK_STREAM, &sun);
	if (chmod(path, (mode_t)strtol(mode, NULL, 8)) == -1)
		die("chmod");
	if (owner != NULL && owner[0] != '\0')
		uid = user_id(owner, NULL);
	if (group != NULL && group[0] != '\0')
		gid = group_id(group);
	if (chown(path, uid, gid) == -1)
		die("chown");
	if (listen(fd, SOMAXCONN) == -1)
		die("listen");
	return fd;
}

/* Log every datagram waiting on fd, one line each. */
static void
notify_drain(int fd, FILE *log)
{
	char	buf[NOTIFY_DGRAM_MAX];
	ssize_t	n, i;

	while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n')
				fputs(" | ", log);
			else
				fputc(buf[i], log);
		}
		fputc('\n', log);
		fflush(log);
	}
}

int
main(int argc, char *argv[])
{
	struct sockaddr_un	 sun;
	struct sigaction	 sa;
	const char		*user = NULL, *group = NULL, *notify_log = NULL;
	char			*sock_spec = NULL, dir[] = "/tmp/svc-run.XXXXXX";
	char			 npath[sizeof(sun.sun_path)];
	FILE			*log = NULL;
	pid_t			 pid;
	uid_t			 uid = 0;
	gid_t			 gid = 0;
	int			 ch, lfd = -1, nfd = -1, status;

	while ((ch = getopt(argc, argv, "+g:N:S:u:")) != -1) {
		switch (ch) {
		case 'g':
			group = optarg;
			break;
		case 'N':
			notify_log = optarg;
			break;
		case 'S':
			sock_spec = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	if (user != NULL)
		uid = user_id(user, &gid);
	if (group != NULL)
		gid = group_id(group);

	if (sock_spec != NULL)
		lfd = listen_socket(sock_spec);
	if (notify_log != NULL) {
		if ((log = fopen(notify_log, "a")) == NULL)
			die(notify_log);
		if (mkdtemp(dir) == NULL)
			die("mkdtemp");
		snprintf(npath, sizeof(npath), "%s/notify", dir);
		nfd = unix_socket(npath, SOCK_DGRAM, &sun);
		if (user != NULL && (chown(dir, uid, gid) == -1 ||
		    chown(npath, uid, gid) == -1))
			die("chown");
		if (setenv("NOTIFY_SOCKET", npath, 1) == -1)
			die("setenv");
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if ((pid = fork()) == -1)
		die("fork");
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		if (lfd != -1) {
			if (dup2(lfd, 0) == -1)
				die("dup2");
			if (lfd != 0)
				close(lfd);
		}
		if (nfd != -1)
			close(nfd);
		if (user != NULL) {
			if (initgroups(user, gid) == -1 || setgid(gid) == -1 ||
			    setuid(uid) == -1)
				die("cannot become the service user");
		} else if (group != NULL && setgid(gid) == -1)
			die("setgid");
		execvp(argv[optind], argv + optind);
		die(argv[optind]);
	}
	if (lfd != -1)
		close(lfd);

	for (;;) {
		struct pollfd pfd = { .fd = nfd, .events = POLLIN };

		if (pending_sig != 0) {
			kill(pid, pending_sig);
			pending_sig = 0;
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (poll(&pfd, nfd != -1 ? 1 : 0, 50) > 0)
			notify_drain(nfd, log);
	}
	if (nfd != -1) {
		notify_drain(nfd, log);
		close(nfd);
		unlink(npath);
		rmdir(dir);
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
