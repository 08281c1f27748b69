/*
 * test_notify: notify_send() does nothing without $NOTIFY_SOCKET, sends
 * one datagram with the exact state to a socket path and to an abstract
 * "@name", refuses relative and over-long names, reports a socket nobody
 * listens on, and notify_sendf() formats and cuts at NOTIFY_MSG_MAX.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "tap.h"

/* A datagram socket bound to name ('@' = abstract); -1 on error. */
static int
listener(const char *name)
{
	struct sockaddr_un	sun;
	socklen_t		len;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strncpy(sun.sun_path, name, sizeof(sun.sun_path) - 1);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	else
		len++;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, len) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static const char *
received(int fd)
{
	static char	buf[2048];
	ssize_t		n;

	n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return "(nothing)";
	buf[n] = '\0';
	return buf;
}

int
main(void)
{
	char	dir[] = "/tmp/test_notify.XXXXXX", path[256], name[64];
	char	big[NOTIFY_MSG_MAX * 2], longname[200];
	int	fd;

	unsetenv("NOTIFY_SOCKET");
	is_int(notify_send("READY=1"), 0, "no NOTIFY_SOCKET: nothing to do");
	setenv("NOTIFY_SOCKET", "", 1);
	is_int(notify_send("READY=1"), 0, "an empty NOTIFY_SOCKET: nothing to do");

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = listener(path);
	ok(fd >= 0, "a datagram socket at a path");
	setenv("NOTIFY_SOCKET", path, 1);
	is_int(notify_send("READY=1\nSTATUS=serving"), 0, "sent to the path");
	is_str(received(fd), "READY=1\nSTATUS=serving", "  ... one datagram, exactly the state");
	is_int(notify_sendf("STATUS=%d calls", 7), 0, "notify_sendf");
	is_str(received(fd), "STATUS=7 calls", "  ... formatted");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(notify_sendf("STATUS=%s", big), 0, "an over-long state");
	is_int(strlen(received(fd)), NOTIFY_MSG_MAX - 1, "  ... cut at NOTIFY_MSG_MAX");
	close(fd);
	unlink(path);
	errno = 0;
	is_int(notify_send("READY=1"), -1, "nobody listening: an error");
	ok(errno == ENOENT || errno == ECONNREFUSED, "  ... with the reason in errno");

	snprintf(name, sizeof(name), "@callbridge-test-notify-%ld", (long)getpid());
	fd = listener(name);
	ok(fd >= 0, "a datagram socket in the abstract namespace");
	setenv("NOTIFY_SOCKET", name, 1);
	is_int(notify_send("STOPPING=1"), 0, "sent to @name");
	is_str(received(fd), "STOPPING=1", "  ... received");
	close(fd);

	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	errno = 0;
	is_int(notify_send("READY=1"), -1, "a relative path is refused");
	is_int(errno, EINVAL, "  ... EINVAL");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longname, 1);
	is_int(notify_send("READY=1"), -1, "a path longer than sun_path is refused");

	rmdir(dir);
	done_testing();
}
