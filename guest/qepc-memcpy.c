// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The bench's memcpy baseline, run in a guest: copy SIZE bytes between two
 * buffers RUNS times (after one untimed run) and print each time:
 *   QEPC-BASE memcpy <size> <seconds>
 * usage: qepc-memcpy SIZE RUNS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t size;
	int runs, i;
	char *a, *b;

	if (argc != 3 || (size = strtoul(argv[1], NULL, 0)) == 0 ||
	    (runs = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: qepc-memcpy SIZE RUNS\n");
		return 2;
	}
	a = malloc(size);
	b = malloc(size);
	if (!a || !b) {
		perror("malloc");
		return 1;
	}
	memset(a, 0x5a, size);
	memcpy(b, a, size);		/* pages in, caches warm */
	for (i = 0; i < runs; i++) {
		double t0 = now();

		memcpy(b, a, size);
		printf("QEPC-BASE memcpy %zu %.9f\n", size, now() - t0);
		a[i % size] ^= b[(i * 7) % size];	/* the copy is used */
	}
	return 0;
}
