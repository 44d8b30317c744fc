/*
 * qemu-epc: a PCI endpoint controller for guest 1.
 *
 * The endpoint function driver in guest 1 (through pcie-qemu-ep) programs
 * the function's header, BARs, MSI/MSI-X and outbound windows in BAR0; the
 * host (epf-bridge in guest 2) reaches the function over the socket.  The
 * register map is docs/qemu-epc.md and qemu-epc-regs.h; the DMA engine is
 * epc-dma.c.
 *
 *   -device qemu-epc,socket=PATH|chardev=ID[,window-size=64M][,timeout-ms=300]
 *                   [,inbound-windows=16][,barN=KIND][,dma-rate=0]
 *                   [,vendor-id=0x1234][,device-id=0xe9c0][,functions=1]
 *
 * With functions=N each function has its own header, BARs, inbound entries,
 * MSI/MSI-X, config space and link: function 0 listens on PATH, function K
 * on PATH.K.  FUNC_SEL selects the function the per-function registers
 * show; windows and DMA channels name the function whose link they use.
 *
 * The device's files, each with one job (qemu-epc-int.h is what they share):
 *   qemu-epc.c           interrupts to guest 1, each function's link state
 *                        (LINK up/down, START), QOM
 *   qemu-epc-regs.c      BAR0: the registers, a block over them per model
 *   qemu-epc-shm.c       direct windows onto host RAM, BAR pieces (MAP)
 *   qemu-epc-outbound.c  interrupts to the host, the window BAR, DMA's link
 *   qemu-epc-inbound.c   requests and messages from the host
 * Everything runs under the BQL, in the main loop or a vCPU (epc-link.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bitops.h"
#include "qapi/error.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "qemu/cutils.h"
#include "qemu/host-utils.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "hw/qdev-properties-system.h"
#include "epc-module.h"
#include "qemu-epc-int.h"
#include QEP_TRACE_H

/* a function's BARs in the register map and on the wire: PCI's six */
QEMU_BUILD_BUG_ON(QEPC_NUM_BARS != QEP_NUM_BARS);

/* ---- interrupts to guest 1 ----------------------------------------------- */

void epc_update_irq(QemuEpcState *s, uint32_t new_bits)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint32_t pending = s->irq_status & s->irq_enable;

    if (msix_enabled(pdev)) {
        if (new_bits & s->irq_enable) {
            msix_notify(pdev, QEPC_VEC_EVENTS);
        }
    } else if (msi_enabled(pdev)) {
        if (new_bits & s->irq_enable) {
            msi_notify(pdev, 0);
        }
    } else {
        pci_set_irq(pdev, pending != 0);
    }
}

void epc_event(QemuEpcState *s, uint32_t bits)
{
    trace_qemu_epc_event(bits);
    s->irq_status |= bits;
    epc_update_irq(s, bits);
}

void epc_error(QemuEpcState *s, uint32_t code, const char *fmt, ...)
{
    va_list ap;

    s->error = code;
    va_start(ap, fmt);
    if (qemu_loglevel_mask(LOG_GUEST_ERROR) ||
        trace_event_get_state_backends(TRACE_QEMU_EPC_ERROR)) {
        char *msg = g_strdup_vprintf(fmt, ap);

        trace_qemu_epc_error(code, msg);
        qemu_log_mask(LOG_GUEST_ERROR, "qemu-epc: %s\n", msg);
        g_free(msg);
    }
    va_end(ap);
}

/*
 * The doorbell: with MSI-X enabled it has a vector of its own and is not
 * latched in IRQ_STATUS; otherwise it is an IRQ_STATUS event like others.
 */
void epc_doorbell(QemuEpcState *s, uint32_t val)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    trace_qemu_epc_doorbell(val);
    qep_capture_event(s->capture, 0, QEP_NOTE_DOORBELL,
                      "doorbell rung with 0x%08x", val);
    s->doorbell_data = val;
    if (msix_enabled(pdev)) {
        msix_notify(pdev, QEPC_VEC_DOORBELL);
    } else {
        epc_event(s, QEPC_IRQ_DOORBELL);
    }
}

/* ---- link state ---------------------------------------------------------- */

static void epc_params(EpcFunc *f, EpcCfgParams *p)
{
    memset(p, 0, sizeof(*p));
    p->hdr.vendor_id = f->hdr_id;
    p->hdr.device_id = f->hdr_id >> 16;
    p->hdr.revision = f->hdr_class;
    p->hdr.progif = f->hdr_class >> 8;
    p->hdr.subclass = f->hdr_class >> 16;
    p->hdr.baseclass = f->hdr_class >> 24;
    p->hdr.subsys_vendor_id = f->hdr_subsys;
    p->hdr.subsys_id = f->hdr_subsys >> 16;
    p->hdr.intx_pin = f->hdr_intpin & 7;
    for (int i = 0; i < QEPC_NUM_BARS; i++) {
        if (epc_bars_enabled(&f->bars, i)) {
            p->bar[i].size = f->bars.bar[i].size;
            p->bar[i].flags = f->bars.bar[i].flags & 0xf;
        }
    }
    p->msi_log2 = f->msi_cfg & QEPC_MSI_CFG_PRESENT ? (int)(f->msi_cfg & 7)
                                                    : -1;
    p->msix_count = f->msix_cfg;
    p->msix_table = f->msix_table;
    p->msix_pba = f->msix_pba;
}

/*
 * LINK up or down; up carries the BAR layout, and with CFG_STATE every
 * parameter the config space is built from, so that the host builds the
 * same and answers its config reads itself
 */
static void epc_send_link(EpcFunc *f, bool up)
{
    uint8_t buf[QEP_MSG_BUF(sizeof(struct qep_link) +
                            sizeof(struct qep_link_cfg))];
    struct qep_link l = { .up = up };
    const EpcCfgParams *p = &f->cfg.p;
    struct qep_link_cfg c = {
        .vendor_id = p->hdr.vendor_id, .device_id = p->hdr.device_id,
        .revision = p->hdr.revision, .progif = p->hdr.progif,
        .subclass = p->hdr.subclass, .baseclass = p->hdr.baseclass,
        .subsys_vendor_id = p->hdr.subsys_vendor_id,
        .subsys_id = p->hdr.subsys_id, .msi_log2 = p->msi_log2,
        .msix_count = p->msix_count, .msix_table = p->msix_table,
        .msix_pba = p->msix_pba,
    };

    if (!up) {
        qep_link_send(&f->link, buf, qep_enc_link(buf, &l));
        return;
    }
    l.intx_pin = p->hdr.intx_pin;
    memcpy(l.bar, p->bar, sizeof(l.bar));
    qep_link_send(&f->link, buf,
                  qep_link_has(&f->link, QEP_FEAT_CFG_STATE)
                  ? qep_enc_link_cfg(buf, &l, &c) : qep_enc_link(buf, &l));
}

/*
 * Does START start function @f?  Function 0 always; another function when
 * its header is set up (a vendor ID written).
 */
static bool epc_func_used(EpcFunc *f)
{
    return f->n == 0 || (f->hdr_id & 0xffff);
}

/*
 * A function's link is up when the EPF started the controller, the function
 * is used and its bridge is connected.  LINK_UP and LINK_DOWN are raised
 * when any function's link changes; STATUS tells which.
 */
void epc_link_update(EpcFunc *f)
{
    QemuEpcState *s = f->s;
    bool up = (s->ctrl & QEPC_CTRL_START) && epc_func_used(f) &&
              qep_link_up(&f->link);

    if (up == f->link_up) {
        return;
    }
    trace_qemu_epc_link(f->n, up);
    if (up) {
        EpcCfgParams p;

        f->link_up = true;
        /* a fresh link: the host starts from reset state */
        epc_params(f, &p);
        epc_cfg_build(&f->cfg, &p);
        epc_send_link(f, true);
        for (int i = 0; i < QEPC_NUM_BARS; i++) {
            epc_bar_announce(f, i);
        }
        epc_event(s, QEPC_IRQ_LINK_UP);
    } else {
        /*
         * (with too many withdrawals outstanding it asks nothing more: the
         * LINK down that follows takes every mapping away too)
         */
        epc_bar_withdraw(f, QEP_MAP_ALL_BARS);
        memset(f->bar_mapped, 0, sizeof(f->bar_mapped));
        f->link_up = false;
        epc_windows_update(s);
        epc_send_link(f, false);
        epc_event(s, QEPC_IRQ_LINK_DOWN);
    }
}

void epc_start(QemuEpcState *s, bool start)
{
    EpcCfgParams p;
    const char *why;

    if (start && !(s->ctrl & QEPC_CTRL_START)) {
        for (unsigned i = 0; i < s->functions; i++) {
            if (!epc_func_used(&s->fn[i])) {
                continue;
            }
            epc_params(&s->fn[i], &p);
            why = epc_cfg_check(&p);
            if (why) {
                epc_error(s, QEPC_ERR_CONFIG, "START refused: function %u: "
                          "%s", i, why);
                return;
            }
        }
    }
    trace_qemu_epc_start(start);
    s->ctrl = start ? QEPC_CTRL_START : 0;
    for (unsigned i = 0; i < s->functions; i++) {
        epc_link_update(&s->fn[i]);
    }
}

/* ---- QOM ----------------------------------------------------------------- */

/*
 * A barN property: "" or "programmable", "disabled", "fixed-SIZE" (SIZE a
 * power of two from 16 bytes, with QEMU's size suffixes), each optionally
 * followed by "-64bit"; or "64bit" alone.  NULL and *kind, or why not.
 */
static const char *epc_parse_bar_kind(const char *s, uint32_t *kind)
{
    g_autofree char *str = g_strdup(s ? s : "");
    char *rest = str;
    uint32_t k = QEPC_BAR_PROGRAMMABLE;
    size_t len = strlen(str);

    if (len >= 6 && !strcmp(str + len - 6, "-64bit")) {
        str[len - 6] = 0;
        k |= QEPC_BAR_KIND_64BIT;
    } else if (!strcmp(str, "64bit")) {
        *kind = QEPC_BAR_KIND_64BIT;
        return NULL;
    }
    if (!*rest || !strcmp(rest, "programmable")) {
        /* k as it is */
    } else if (!strcmp(rest, "disabled") && !(k & QEPC_BAR_KIND_64BIT)) {
        k = QEPC_BAR_DISABLED;
    } else if (g_str_has_prefix(rest, "fixed-")) {
        uint64_t size;

        struct qep_bar_desc d = {
            .flags = k & QEPC_BAR_KIND_64BIT ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0,
        };

        /* the rules of any memory BAR (epc-cfgspace.c), up to 1T */
        if (qemu_strtosz(rest + 6, NULL, &size) < 0) {
            size = 0;
        }
        d.size = size;
        if (!size || size > (1ull << 40) || epc_cfg_check_bar(&d)) {
            return "fixed size must be a power of two from 16 bytes to 1T "
                   "(2G for a 32-bit BAR)";
        }
        k |= QEPC_BAR_FIXED | (uint32_t)ctz64(size) << 8;
    } else {
        return "expected programmable, disabled, fixed-SIZE, 64bit or "
               "fixed-SIZE-64bit";
    }
    *kind = k;
    return NULL;
}

static void epc_realize(PCIDevice *pdev, Error **errp)
{
    QemuEpcState *s = QEMU_EPC(pdev);

    if (s->window_size < EPC_WIN_ALIGN ||
        (s->window_size & (s->window_size - 1))) {
        error_setg(errp, "window-size must be a power of two of at least "
                   "4 KiB");
        return;
    }
    if (s->inbound_windows > QEPC_MAX_INBOUND) {
        error_setg(errp, "inbound-windows must be at most %d",
                   QEPC_MAX_INBOUND);
        return;
    }
    if (!s->functions || s->functions > QEPC_MAX_FUNCS) {
        error_setg(errp, "functions must be 1 to %d", QEPC_MAX_FUNCS);
        return;
    }
    s->wins.bar_size = s->window_size;
    s->wins.functions = s->functions;
    if (qemu_chr_fe_backend_connected(&s->chr) && s->functions > 1) {
        error_setg(errp, "chardev= carries one function; with functions=N "
                   "use socket=PATH (function K on PATH.K)");
        return;
    }
    for (int i = 0; i < QEPC_NUM_BARS; i++) {
        uint32_t kind;
        const char *why = epc_parse_bar_kind(s->bar_kind[i], &kind);

        if (why) {
            error_setg(errp, "bar%d=%s: %s", i, s->bar_kind[i], why);
            return;
        }
        for (unsigned k = 0; k < QEPC_MAX_FUNCS; k++) {
            s->fn[k].bars.kind[i] = kind;
        }
    }
    if (s->max_requests <= QEP_LINK_RESERVED ||
        s->max_requests > QEP_LINK_MAX_PENDING) {
        error_setg(errp, "x-requests must be %d to %d", QEP_LINK_RESERVED + 1,
                   QEP_LINK_MAX_PENDING);
        return;
    }
    for (unsigned k = 0; k < QEPC_MAX_FUNCS; k++) {
        s->fn[k].s = s;
        s->fn[k].n = k;
        s->fn[k].bars.n_ib = s->inbound_windows;
    }
    pci_config_set_vendor_id(pdev->config, s->vendor_id);
    pci_config_set_device_id(pdev->config, s->device_id);
    pdev->config[PCI_INTERRUPT_PIN] = 1;
    if (msi_init(pdev, 0, 1, true, false, errp)) {
        return;
    }
    if (msix_init_exclusive_bar(pdev, QEPC_NUM_VECTORS, QEPC_MSIX_BAR, errp)) {
        msi_uninit(pdev);
        return;
    }
    for (int v = 0; v < QEPC_NUM_VECTORS; v++) {
        msix_vector_use(pdev, v);
    }
    if (s->capture_path) {
        s->capture = qep_capture_open(s->capture_path, TYPE_QEMU_EPC,
                                      s->shmem, s->capture_limit, errp);
        if (!s->capture) {
            msix_uninit_exclusive_bar(pdev);
            msi_uninit(pdev);
            return;
        }
    }
    epc_regs_init(s);
    memory_region_init_io(&s->window, OBJECT(s), &epc_window_ops, s,
                          "qemu-epc-window", s->window_size);
    /*
     * A window access waits for its completion without the BQL, so other
     * vCPUs may access the device meanwhile: QEMU's re-entrancy guard
     * would refuse them (it is per device).  The handlers never touch
     * guest memory, so they cannot recurse; concurrent waits each have
     * their own tag.
     */
    s->window.disable_reentrancy_guard = true;
    pci_register_bar(pdev, QEPC_REG_BAR, PCI_BASE_ADDRESS_SPACE_MEMORY,
                     &s->regs);
    pci_register_bar(pdev, QEPC_WINDOW_BAR, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->window);
    if (s->mhi_on) {
        epc_mhi_realize(s);
    }

    for (unsigned k = 0; k < s->functions; k++) {
        EpcFunc *f = &s->fn[k];

        f->path = k && s->socket ? g_strdup_printf("%s.%u", s->socket, k)
                    : g_strdup(s->socket);
        f->link = (QepLink) {
            .name = TYPE_QEMU_EPC,
            .path = f->path,
            .chr = &s->chr,
            .owner = OBJECT(s),
            .server = true,
            .role = QEP_ROLE_ENDPOINT,
            .features = QEP_FEAT_RESET | QEP_FEAT_CFG_STATE |
                        QEP_FEAT_POISON | (s->shmem ? QEP_FEAT_SHMEM : 0),
            .dma_as = pci_get_address_space(pdev),
            .timeout_ms = s->timeout_ms,
            .max_requests = s->max_requests,
            .ops = &epc_link_ops,
            .opaque = f,
            .capture = s->capture,
            .fn = k,
        };
        if (qep_link_start(&f->link, errp) < 0) {
            while (k--) {
                qep_link_stop(&s->fn[k].link);
            }
            for (unsigned i = 0; i < s->functions; i++) {
                g_free(s->fn[i].path);
                s->fn[i].path = NULL;
            }
            qep_capture_unref(s->capture);
            s->capture = NULL;
            msix_uninit_exclusive_bar(pdev);
            msi_uninit(pdev);
            return;
        }
    }
    for (unsigned k = 0; k < s->functions && s->inject; k++) {
        qep_link_set_faults(&s->fn[k].link, s->inject, &error_abort);
    }
    epc_dma_init(&s->dma, pdev, &s->regs, s->functions, &epc_dma_ops, s);
}

/*
 * inject: each function's link takes the rules (a count is per function);
 * reading it gives function 0's rules still to act.
 */
static char *epc_get_inject(Object *obj, Error **errp)
{
    QemuEpcState *s = QEMU_EPC(obj);

    if (!DEVICE(obj)->realized) {
        return g_strdup(s->inject ? s->inject : "");
    }
    return qep_link_get_faults(&s->fn[0].link);
}

static void epc_set_inject(Object *obj, const char *value, Error **errp)
{
    QemuEpcState *s = QEMU_EPC(obj);

    if (!qep_faults_valid(value, errp)) {
        return;
    }
    g_free(s->inject);
    s->inject = g_strdup(value);
    for (unsigned k = 0; DEVICE(obj)->realized && k < s->functions; k++) {
        qep_link_set_faults(&s->fn[k].link, value, &error_abort);
    }
}

static void epc_exit(PCIDevice *pdev)
{
    QemuEpcState *s = QEMU_EPC(pdev);

    /* the links first: they may hold the DMA engine's bottom half */
    for (unsigned k = 0; k < s->functions; k++) {
        epc_withdraw_forget(&s->fn[k]);
        qep_link_stop(&s->fn[k].link);
        g_free(s->fn[k].path);
        s->fn[k].path = NULL;
    }
    epc_dma_fini(&s->dma);
    qep_capture_unref(s->capture);
    s->capture = NULL;
    for (int i = 0; i < QEPC_NUM_WINDOWS; i++) {
        qep_direct_clear(&s->win_direct[i], &s->window);
    }
    msix_uninit_exclusive_bar(pdev);
    msi_uninit(pdev);
}

static void epc_reset(DeviceState *dev)
{
    QemuEpcState *s = QEMU_EPC(dev);

    epc_start(s, false);
    epc_dma_reset(&s->dma);
    s->irq_status = s->irq_enable = s->error = 0;
    s->func_sel = 0;
    for (unsigned k = 0; k < QEPC_MAX_FUNCS; k++) {
        EpcFunc *f = &s->fn[k];

        epc_withdraw_forget(f);
        f->hdr_id = f->hdr_class = f->hdr_subsys = f->hdr_intpin = 0;
        f->msi_cfg = f->msix_cfg = f->msix_table = f->msix_pba = 0;
        epc_bars_reset(&f->bars);
    }
    s->doorbell_data = 0;
    epc_mhi_reset(&s->mhi);
    for (int i = 0; i < QEPC_NUM_WINDOWS; i++) {
        qep_direct_clear(&s->win_direct[i], &s->window);
    }
    epc_windows_reset(&s->wins);
}

static QepProperty epc_properties[] = {
    DEFINE_PROP_STRING("socket", QemuEpcState, socket),
    DEFINE_PROP_CHR("chardev", QemuEpcState, chr),
    DEFINE_PROP_UINT16("vendor-id", QemuEpcState, vendor_id, QEPC_VENDOR_ID),
    DEFINE_PROP_UINT16("device-id", QemuEpcState, device_id, QEPC_DEVICE_ID),
    DEFINE_PROP_SIZE("window-size", QemuEpcState, window_size, 64 * MiB),
    DEFINE_PROP_UINT32("timeout-ms", QemuEpcState, timeout_ms, 300),
    /* request slots of each link, fewer only to test what happens at the end */
    DEFINE_PROP_UINT32("x-requests", QemuEpcState, max_requests,
                       QEP_LINK_MAX_PENDING),
    DEFINE_PROP_UINT64("dma-rate", QemuEpcState, dma.rate, 0),
    DEFINE_PROP_UINT32("inbound-windows", QemuEpcState, inbound_windows, 16),
    DEFINE_PROP_BOOL("shmem", QemuEpcState, shmem, true),
    DEFINE_PROP_BOOL("mhi", QemuEpcState, mhi_on, false),
    DEFINE_PROP_STRING("capture", QemuEpcState, capture_path),
    DEFINE_PROP_SIZE("capture-limit", QemuEpcState, capture_limit,
                     QEP_CAPTURE_LIMIT),
    DEFINE_PROP_UINT32("functions", QemuEpcState, functions, 1),
    DEFINE_PROP_STRING("bar0", QemuEpcState, bar_kind[0]),
    DEFINE_PROP_STRING("bar1", QemuEpcState, bar_kind[1]),
    DEFINE_PROP_STRING("bar2", QemuEpcState, bar_kind[2]),
    DEFINE_PROP_STRING("bar3", QemuEpcState, bar_kind[3]),
    DEFINE_PROP_STRING("bar4", QemuEpcState, bar_kind[4]),
    DEFINE_PROP_STRING("bar5", QemuEpcState, bar_kind[5]),
    QEP_PROPERTIES_END
};

static const char *const epc_property_help[][2] = {
    { "socket", "Unix socket to listen on for the epf-bridge (this or "
      "chardev= is required; created mode 0600)" },
    { "chardev", "a Unix socket chardev (-chardev socket,id=ID,path=P,"
      "server=on,wait=off) whose connections carry the link, instead of "
      "socket= (one function)" },
    { "vendor-id", "PCI vendor ID of the controller itself" },
    { "device-id", "PCI device ID of the controller itself" },
    { "window-size", "size of the outbound window BAR (power of two, at "
      "least 4 KiB)" },
    { "timeout-ms", "longest wait for a completion from the host side" },
    { "dma-rate", "DMA engine pace in bytes per second of guest time (0: "
      "unpaced)" },
    { "inbound-windows", "inbound translation entries for BAR subranges "
      "(0-64)" },
    { "shmem", "offer and use shared guest RAM, so windows, BARs and DMA "
      "reach the other guest's memory without messages (on/off)" },
    { "capture", "write every link message of every function, and link "
      "events, to this pcapng file (docs/protocol.md)" },
    { "capture-limit", "largest size of the capture file (0: no bound)" },
    { "inject", "faults to inject, settable at run time with qom-set: rules "
      "KIND[:MATCH][:COUNT][:MS] separated by ';' (docs/qemu-epc.md, "
      "\"Fault injection\"); reads back the rules still to act" },
    { "functions", "number of endpoint functions (1-8); function K>0 "
      "listens on SOCKET.K" },
    { "bar0", "what function BAR0 may be: programmable, disabled, "
      "fixed-SIZE, 64bit, fixed-SIZE-64bit" },
    { "bar1", "what function BAR1 may be (see bar0)" },
    { "bar2", "what function BAR2 may be (see bar0)" },
    { "bar3", "what function BAR3 may be (see bar0)" },
    { "bar4", "what function BAR4 may be (see bar0)" },
    { "bar5", "what function BAR5 may be (see bar0)" },
};

static void epc_class_init(ObjectClass *oc, QepClassData *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(oc);

    k->realize = epc_realize;
    k->exit = epc_exit;
    k->vendor_id = QEPC_VENDOR_ID;
    k->device_id = QEPC_DEVICE_ID;
    k->class_id = PCI_CLASS_OTHERS;
    k->revision = 1;
    dc->desc = "qemu-epc PCI endpoint controller (endpoint side)";
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    device_class_set_legacy_reset(dc, epc_reset);
    device_class_set_props(dc, epc_properties);
    object_class_property_add_str(oc, "inject", epc_get_inject, epc_set_inject);
    for (int i = 0; i < ARRAY_SIZE(epc_property_help); i++) {
        object_class_property_set_description(oc, epc_property_help[i][0],
                                              epc_property_help[i][1]);
    }
}

static const TypeInfo epc_info = {
    .name = TYPE_QEMU_EPC,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(QemuEpcState),
    .class_init = epc_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { },
    },
};

static void epc_register_types(void)
{
    if (qep_module_check_qemu(TYPE_QEMU_EPC)) {
        type_register_static(&epc_info);
    }
}

type_init(epc_register_types)
