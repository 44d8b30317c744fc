/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-epc-tsan-setjmp.so: preloaded ahead of the ThreadSanitizer runtime
 * when the modules are a -Dtsan=true build (qemu-epc-launch reads the list
 * from qemu-epc-preload).
 *
 * The QEMU binary is not instrumented.  Its coroutines (the QMP dispatcher
 * exists in every QEMU) switch stacks with sigsetjmp()/siglongjmp(), and
 * the runtime's interceptors for those keep a per-thread list of jump
 * buffers that a jump to another stack never finds: the runtime stops the
 * process with "can't find longjmp buf".  An instrumented QEMU tells the
 * runtime about each switch; this one cannot, so these two symbols go
 * straight to the C library and the runtime does not see the jumps.  Only
 * QEMU's own code jumps: the modules never call either.
 *
 * Not instrumented itself, and built only for the ThreadSanitizer build.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

/* __sigsetjmp must return into its caller's frame: a jump, not a call */
__attribute__((visibility("hidden"))) void *qep_libc_sigsetjmp;
__asm__(".globl __sigsetjmp\n"
        ".type __sigsetjmp, @function\n"
        "__sigsetjmp:\n"
        "\tjmp *qep_libc_sigsetjmp(%rip)\n"
        ".size __sigsetjmp, . - __sigsetjmp\n");

static void (*libc_siglongjmp)(sigjmp_buf env, int val);

static void __attribute__((constructor)) qep_tsan_setjmp_init(void)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);

    qep_libc_sigsetjmp = libc ? dlsym(libc, "__sigsetjmp") : NULL;
    libc_siglongjmp = libc ? dlsym(libc, "siglongjmp") : NULL;
    if (!qep_libc_sigsetjmp || !libc_siglongjmp) {
        fprintf(stderr, "qemu-epc-tsan-setjmp: "
                "no __sigsetjmp/siglongjmp in libc.so.6\n");
        abort();
    }
}

void siglongjmp(sigjmp_buf env, int val)
{
    libc_siglongjmp(env, val);
    __builtin_unreachable();
}
