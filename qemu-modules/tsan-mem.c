/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ThreadSanitizer build only (-Dtsan=true): the modules' memcpy(),
 * memmove(), memset() and g_free(), checked.
 *
 * qemu-epc-launch runs the build with ignore_noninstrumented_modules=1:
 * the runtime's interceptors then keep QEMU's and GLib's mutexes and
 * condition variables (the happens-before edges) but record no memory
 * access for them, since QEMU hands objects between its threads through
 * atomics and futexes the runtime cannot see in an uninstrumented binary
 * and every such object would be reported.  On Linux that holds for the
 * modules' calls too, so these hidden definitions (the modules are built
 * with -fvisibility=hidden: only their own calls bind here) tell the runtime
 * what each call reads and writes before doing it: a copy into a buffer
 * another thread uses without ordering, or a free of an object another
 * thread still touches, is reported like any other racing access.
 *
 * Built with the modules' flags (osdep.h's _GNU_SOURCE among them).
 */
#include <dlfcn.h>
#include <glib.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*libc_memcpy)(void *, const void *, size_t);
static void *(*libc_memmove)(void *, const void *, size_t);
static void *(*libc_memset)(void *, int, size_t);

static void __attribute__((constructor)) qep_tsan_mem_init(void)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);

    libc_memcpy = libc ? dlsym(libc, "memcpy") : NULL;
    libc_memmove = libc ? dlsym(libc, "memmove") : NULL;
    libc_memset = libc ? dlsym(libc, "memset") : NULL;
    if (!libc_memcpy || !libc_memmove || !libc_memset) {
        fprintf(stderr, "qemu-epc: no memcpy/memmove/memset in libc.so.6\n");
        abort();
    }
}

void *memcpy(void *dst, const void *src, size_t n)
{
    if (n) {
        __builtin___tsan_read_range((void *)src, n);
        __builtin___tsan_write_range(dst, n);
    }
    return libc_memcpy(dst, src, n);
}

void *memmove(void *dst, const void *src, size_t n)
{
    if (n) {
        __builtin___tsan_read_range((void *)src, n);
        __builtin___tsan_write_range(dst, n);
    }
    return libc_memmove(dst, src, n);
}

void *memset(void *dst, int c, size_t n)
{
    if (n) {
        __builtin___tsan_write_range(dst, n);
    }
    return libc_memset(dst, c, n);
}

/* a free writes the whole block */
void g_free(gpointer p)
{
    if (p) {
        __builtin___tsan_write_range(p, malloc_usable_size(p));
    }
    free(p);
}
