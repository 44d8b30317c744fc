// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The bench's socket baseline, on the host: a 32-byte ping-pong over a Unix
 * stream socket pair between two processes, ROUNDS round trips (after 100
 * untimed ones); prints the median and the minimum in microseconds:
 *   sock-rtt 32 bytes: median 41.2 us, min 38.0 us
 * usage: sock-rtt [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int xfer(int fd, char *buf, int send_first)
{
	size_t got = 0;

	if (send_first && write(fd, buf, 32) != 32)
		return -1;
	while (got < 32) {
		ssize_t n = read(fd, buf + got, 32 - got);

		if (n <= 0)
			return -1;
		got += n;
	}
	if (!send_first && write(fd, buf, 32) != 32)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 10000, sv[2], i;
	double *t;
	char buf[32] = { 0 };
	pid_t pid;

	if (rounds <= 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("sock-rtt");
		return 1;
	}
	t = calloc(rounds, sizeof(*t));
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		while (xfer(sv[1], buf, 0) == 0)
			;
		_exit(0);
	}
	close(sv[1]);
	for (i = -100; i < rounds; i++) {
		double t0 = now();

		if (xfer(sv[0], buf, 1) < 0) {
			perror("sock-rtt");
			return 1;
		}
		if (i >= 0)
			t[i] = now() - t0;
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	qsort(t, rounds, sizeof(*t), cmp);
	printf("sock-rtt 32 bytes: median %.1f us, min %.1f us\n",
	       t[rounds / 2] * 1e6, t[0] * 1e6);
	return 0;
}
