// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pcitest as pcitest.sh sees it in the qemu-epc guest images: the real one
 * (/usr/local/bin/pcitest), bounded by $QEPC_CASE_TIMEOUT seconds (default
 * 60), timed with the monotonic clock, and its result printed on one line
 * for the harness:
 *   QEPC-CASE <rc>|<seconds>|<arguments>|<output>
 * rc is pcitest's exit status, 124 when it ran out of time, 125 + signal
 * number when a signal ended it.  One process besides pcitest itself, so
 * that the 2048 MSI-X cases of pcitest.sh do not pay for a shell pipeline
 * each under TCG.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PCITEST "/usr/local/bin/pcitest"
#define OUT_MAX 4096

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *t = getenv("QEPC_CASE_TIMEOUT");
	double limit = t ? atof(t) : 60, t0, t1;
	char out[OUT_MAX];
	size_t len = 0;
	int pfd[2], status = 0, rc, i;
	pid_t pid;

	if (limit <= 0)
		limit = 60;
	if (pipe(pfd) < 0) {
		perror("pipe");
		return 1;
	}
	t0 = now();
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		argv[0] = PCITEST;
		execv(PCITEST, argv);
		perror(PCITEST);
		_exit(127);
	}
	close(pfd[1]);
	/* read its output until it closes, or the time is up */
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int left = (int)((t0 + limit - now()) * 1000);
		char buf[512];
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, left) <= 0)
			continue;
		n = read(pfd[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		if (len + n > sizeof(out) - 1)
			n = sizeof(out) - 1 - len;
		memcpy(out + len, buf, n);
		len += n;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	t1 = now();
	if (WIFSIGNALED(status))
		rc = now() - t0 >= limit ? 124 : 125 + WTERMSIG(status);
	else
		rc = WEXITSTATUS(status);
	out[len] = 0;
	for (i = 0; out[i]; i++)
		if (out[i] == '\n' || out[i] == '\t')
			out[i] = ' ';
	printf("QEPC-CASE %d|%.6f|", rc, t1 - t0);
	for (i = 1; i < argc; i++)
		printf("%s%s", i > 1 ? " " : "", argv[i]);
	printf("|%s\n", out);
	return rc;
}
