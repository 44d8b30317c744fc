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
 *
 * When setting a device's IRQ type to MSI-X ("-i 2") fails, its MSI-X
 * cases ("-x N") are not run until a later "-i 2" succeeds: each fails at
 * once (rc 126) saying so, instead of 2048 cases each failing on their own.
 * $QEPC_PCITEST and $QEPC_STATE_DIR (where that is noted, default /tmp)
 * let the tests run it outside a guest.
 */
#include <errno.h>
#include <fcntl.h>
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
#define NO_MSIX "qepc-no-msix"
#define NOT_RUN 126

/* $NAME, or @def without it (the tests run the wrapper outside a guest) */
static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

/* the value of option @opt in @argv, or NULL */
static const char *opt_arg(int argc, char **argv, const char *opt)
{
	int i;

	for (i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], opt))
			return argv[i + 1];
	return NULL;
}

static int has_opt(int argc, char **argv, const char *opt)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], opt))
			return 1;
	return 0;
}

/* the marker that MSI-X could not be set on the device @argv names */
static void marker(char *path, size_t len, int argc, char **argv)
{
	const char *dev = opt_arg(argc, argv, "-D");
	const char *dir = env_or("QEPC_STATE_DIR", "/tmp");
	size_t i, n;

	snprintf(path, len, "%s/%s-%s", dir, NO_MSIX,
		 dev ? dev : "/dev/pci-endpoint-test.0");
	n = strlen(dir) + strlen(NO_MSIX) + 2;
	for (i = n; path[i]; i++)
		if (path[i] == '/')
			path[i] = '_';
}

static void print_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		printf("%s%s", i > 1 ? " " : "", argv[i]);
}

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
	const char *irq = opt_arg(argc, argv, "-i");
	char out[OUT_MAX], mark[256];
	size_t len = 0;
	int pfd[2], status = 0, rc, i;
	pid_t pid;

	if (limit <= 0)
		limit = 60;
	marker(mark, sizeof(mark), argc, argv);
	if (has_opt(argc, argv, "-x") && access(mark, F_OK) == 0) {
		printf("QEPC-CASE %d|0|", NOT_RUN);
		print_args(argc, argv);
		printf("|not run: setting the IRQ type to MSI-X failed (pcitest -i 2)\n");
		return NOT_RUN;
	}
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
		argv[0] = (char *)env_or("QEPC_PCITEST", PCITEST);
		execv(argv[0], argv);
		perror(argv[0]);
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
	if (irq && !strcmp(irq, "2")) {
		if (rc || strstr(out, "NOT OKAY"))
			close(open(mark, O_CREAT | O_WRONLY, 0644));
		else
			unlink(mark);
	}
	printf("QEPC-CASE %d|%.6f|", rc, t1 - t0);
	print_args(argc, argv);
	printf("|%s\n", out);
	return rc;
}
