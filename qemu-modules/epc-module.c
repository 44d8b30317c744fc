/*
 * Loading qemu-epc modules into a stock QEMU.
 *
 * A module is built without BUILD_DSO, so type_init() registers with
 * register_module_init() when the library is loaded: preloading it with
 * LD_PRELOAD makes its types known before main() runs.  The module's data
 * layout matches only the QEMU it was compiled against, so it refuses any
 * other.  It also removes itself from LD_PRELOAD so that programs QEMU
 * starts (helpers, scripts) do not load it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-control.h"
#include "qapi/qapi-types-control.h"
#include "qemu-version.h"
#include "epc-module.h"

#ifndef QEP_BUILT_FOR_PKGVERSION
#error "QEP_BUILT_FOR_PKGVERSION must name the QEMU package built against"
#endif

bool qep_module_check_qemu(const char *type)
{
    VersionInfo *v = qmp_query_version(&error_abort);
    bool ok = v->qemu->major == QEMU_VERSION_MAJOR &&
              v->qemu->minor == QEMU_VERSION_MINOR &&
              v->qemu->micro == QEMU_VERSION_MICRO &&
              !strcmp(v->package, QEP_BUILT_FOR_PKGVERSION);

    if (!ok) {
        /* error_report() is not usable this early: plain stderr */
        fprintf(stderr, "%s: this module was built for QEMU %d.%d.%d (%s) "
                "but is loaded into QEMU %" PRId64 ".%" PRId64 ".%" PRId64
                " (%s); rebuild it against this QEMU (./qemu-epc-bench "
                "setup). Device '%s' is not available.\n", type,
                QEMU_VERSION_MAJOR, QEMU_VERSION_MINOR, QEMU_VERSION_MICRO,
                QEP_BUILT_FOR_PKGVERSION, v->qemu->major, v->qemu->minor,
                v->qemu->micro, v->package, type);
    }
    qapi_free_VersionInfo(v);
    return ok;
}

/* Drop every qemu-epc module from LD_PRELOAD (space or colon separated). */
static void __attribute__((constructor)) qep_module_unpreload(void)
{
    const char *pre = getenv("LD_PRELOAD");
    GString *keep;
    char **parts;

    if (!pre || !strstr(pre, "hw-misc-")) {
        return;
    }
    keep = g_string_new(NULL);
    parts = g_strsplit_set(pre, " :", -1);
    for (char **p = parts; *p; p++) {
        g_autofree char *base = g_path_get_basename(*p);

        if (**p && !g_str_has_prefix(base, "hw-misc-")) {
            g_string_append_printf(keep, "%s%s", keep->len ? ":" : "", *p);
        }
    }
    if (keep->len) {
        setenv("LD_PRELOAD", keep->str, 1);
    } else {
        unsetenv("LD_PRELOAD");
    }
    g_strfreev(parts);
    g_string_free(keep, true);
}
