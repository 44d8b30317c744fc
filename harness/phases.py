# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest pairs of `qemu-epc-bench run`: for each, its kernel, the
endpoint function and host suite, what the image carries and the cases it
plans (by name: harness/cases.py).

A Phase is one pair.  series_phases() gives the project's pairs of a kernel
series (pci-epf-test against pcitest.sh on 6.12, against the kselftest on
7.3, several functions, the bench's pairs), vntb_phase() and nvme_phase()
those of the other functions, own_kernel_phases() the pairs for a user's
own kernel, picked by its version."""
import os

import artefacts
import cases
import initramfs
from artefacts import GUEST_DIR, ArtefactError


def mode_tag(dma_mode):
    """What a case name of the memcpy-only pair carries after its args."""
    return '' if dma_mode == 'slave' else ' [slave_dma=0]'


# pci-epf-test copies with DMA only over a memcpy channel (with a private
# slave channel it asks for a transfer without its source): the kselftest's
# slave pair runs every case but that one, its memcpy pair the DMA cases
KSFT_DMA_COPY = 'pci_ep_data_transfer.dma.COPY_TEST'
# the first version whose pci_endpoint_test ioctls the kselftest speaks
# (they return 0 on success from then on; pcitest.sh is older kernels')
KSELFTEST_SINCE = (6, 14)


class Phase:
    """One guest pair: its kernel series, host suite and what it plans."""

    def __init__(self, series, suite, dma_mode, kind, shmem=True, label=None):
        self.series = series        # '6.12', '7.3', or '' for --kernel
        self.suite = suite          # qepc.suite= of the guests
        self.dma_mode = dma_mode    # DMA channels pcie-qemu-ep offers
        # 'pcitest', 'kselftest', 'vntb', 'nvme', 'mhi' or 'script' (a user's)
        self.kind = kind
        self.planned = None         # case names, None for a user's script
        self.shmem = shmem          # the shared-memory path, else messages
        self.label = label          # what case names carry, if not the DMA mode
        self.suite_args = None      # lines of the suite's case list, if ours
        self.epf_script = os.path.join(GUEST_DIR, 'epf-test.sh')
        self.host_script = None
        self.extra = []             # more (path in the image, file) pairs
        self.epc_props = ''         # more qemu-epc properties, ",name=value..."
        self.env = {}               # QEPC_NAME=VALUE for both guests' scripts
        self.epf_smp = 1            # vCPUs of guest 1
        self.ctl = False            # a serial line between the guests
        self.msix = False           # MSI-X cases: guest 2 needs many vCPUs
        self.kernel = self.initrd = self.rundir = None
        self.mods = []
        self.pcitest = self.pcitest_sh = None
        self.functions = 1          # the controller's functions (run --functions)
        self.hosts = 1              # host guests: 2 for a controller each (run --epf ntb)
        self.timing = False         # trace events with the host's time (harness/timing.py)
        self.function_setup = cases.FUNCTION_SETUP   # what each function offers
        self.more_suites = {}       # more case lists of the image: {name: lines}
        self.plans = {}             # plan files of the image: {name: lines}

    def tag(self):
        return ' [%s]' % self.label if self.label else mode_tag(self.dma_mode)

    def case_name(self, what):
        if self.kind == 'vntb' and what.startswith('-'):
            # pcitest against the pci-epf-test beside vNTB (function 1)
            return 'pcitest ' + what + ' [fn1 pci-epf-test beside vntb]'
        if self.kind == 'pcitest':
            return 'pcitest ' + what + self.tag()
        if self.kind == 'kselftest':
            return 'kselftest ' + what + self.tag()
        if self.kind in ('vntb', 'nvme') and self.label:
            return what + self.tag()
        return what

    def case_what(self, name):
        """The inverse of case_name(): what a case name says to run."""
        if self.kind == 'vntb' and name.endswith(' [fn1 pci-epf-test beside vntb]'):
            return name[len('pcitest '):-len(' [fn1 pci-epf-test beside vntb]')]
        if self.kind in ('pcitest', 'kselftest'):
            name = name.split(' ', 1)[-1]
        if self.tag() and name.endswith(self.tag()):
            name = name[:-len(self.tag())]
        return name

    def group(self, what):
        if self.kind == 'vntb' and what.startswith('-'):
            return 'fn1 ' + cases.case_group(what, self.dma_mode)
        if self.kind == 'pcitest':
            return cases.case_group(what, self.dma_mode)
        if self.kind == 'kselftest':
            return cases.kselftest_group(what)
        if self.kind == 'vntb':
            return cases.vntb_group(what) + (' (%s)' % self.label.split()[-1]
                                             if self.label else '')
        if self.kind == 'nvme':
            return cases.nvme_group(what) + (' (%s)' % self.label.split()[-1]
                                             if self.label else '')
        if self.kind == 'mhi':
            return 'mhi states'
        return 'host script'

    def image_key(self):
        """Pairs with the same key boot the same image (the vNTB network and
        the NTB clients differ by host script)."""
        return (self.series, self.kind if self.kind in ('vntb', 'nvme') else '',
                self.functions, self.kernel, self.host_script, self.epf_script)

    def set_plan(self, whats):
        self.planned = [self.case_name(w) for w in whats]


def kselftest_binary(series='7.3'):
    return os.path.join(artefacts.kernel_dir(series), 'pci_endpoint_test')


def _test_modules(kdir, series):
    found = initramfs.find_modules(os.path.join(kdir, 'modules'),
                                   {'pci-epf-test', 'pci_endpoint_test'})
    mods = list(found.values()) + [artefacts.kmod_path(series)]
    for m in mods:
        if not os.path.exists(m):
            raise ArtefactError('%s missing (./qemu-epc-bench setup builds it)' % m)
    return mods


class BenchSpec:
    """What the bench runs: each row `runs` times, pcitest transfers of
    `sizes` bytes, iperf3 and fio jobs for `seconds` (None: their default
    5 and 4 s), vNTB TCP transfers of `mib` MiB on the shared path."""

    def __init__(self, runs=cases.BENCH_RUNS, sizes=cases.BENCH_SIZES, seconds=None,
                 mib=None):
        self.runs = runs
        self.sizes = tuple(sizes)
        self.seconds = seconds
        self.mib = dict(cases.VNTB_BENCH_MIB)
        if mib:
            self.mib['shared'] = mib


def pcitest_phases(series, pcitest, pcitest_sh, bench=None, functions=1):
    """The pairs of a kernel with pcitest.sh: the kernel's pcitest.sh and
    the DMA cases over slave channels, then the memcpy-channel pair; or
    the functions pair; or the bench's pcitest pairs (bench: a
    BenchSpec)."""
    if functions > 1:
        suite = 'functions%d' % functions
        ph = Phase(series, suite, 'slave', 'pcitest', label='%d functions' % functions)
        ph.suite_args = cases.functions_suite(functions)
        ph.functions = functions
        ph.msix = True
        phases = [ph]
    elif bench:
        suites = cases.bench_suites(bench.runs, bench.sizes)
        phases = [Phase(series, 'bench-shared', 'slave', 'pcitest', label='shared'),
                  Phase(series, 'bench-memcpy', 'memcpy', 'pcitest',
                        label='shared, memcpy DMA'),
                  Phase(series, 'bench-messages', 'slave', 'pcitest', shmem=False,
                        label='messages')]
        for ph in phases:
            ph.suite_args = suites[ph.suite]
    else:
        phases = [Phase(series, 'full', 'slave', 'pcitest'),
                  Phase(series, 'memcpy', 'memcpy', 'pcitest')]
        phases[0].msix = True
        for ph in phases:
            ph.suite_args = cases.SUITES[ph.suite]
    for ph in phases:
        ph.pcitest, ph.pcitest_sh = pcitest, pcitest_sh
        ph.host_script = os.path.join(GUEST_DIR, 'host-pcitest.sh')
        plan = cases.pcitest_plan(pcitest_sh if ph.suite == 'full' else None, ph.suite,
                                  ph.suite_args)
        ph.plans = {'plan-' + ph.suite: plan}
        ph.set_plan(plan)
    return phases


def kselftest_phases(series, binary, functions=1):
    """The pairs of a kernel with the pci_endpoint kselftest: every case but
    the DMA copy over slave channels, then the DMA cases over memcpy
    channels; or each function's run of it (functions > 1)."""
    all_cases = cases.kselftest_cases(binary)
    phases = []
    for suite, mode, mine in (
            ('kselftest', 'slave', [c for c in all_cases if c != KSFT_DMA_COPY]),
            ('kselftest-memcpy', 'memcpy', [c for c in all_cases if '.dma.' in c])):
        if functions > 1:
            # the slave pair's cases against each function in turn
            if mode != 'slave':
                continue
            # Linux 7.3 gives a doorbell to the first EPF of a controller
            # only (pci_epf_alloc_doorbell(): "Doorbell doesn't support
            # multiple EPF"): the others run without the doorbell case
            others = [c for c in mine if not c.endswith('.DOORBELL_TEST')]
            ph = Phase(series, 'kselftest-functions%d' % functions, mode, 'kselftest',
                       label='%d functions' % functions)
            ph.suite_args = ['-r ' + c for c in mine]
            lists = {'': ph.suite_args}
            lists.update({'.fn%d' % k: ['-r ' + c for c in others]
                          for k in range(1, functions)})
            ph.more_suites = {ph.suite + k: v for k, v in lists.items() if k}
            ph.functions = functions
            ph.function_setup = cases.FUNCTION_SETUP_KSELFTEST
        else:
            ph = Phase(series, suite, mode, 'kselftest')
            ph.suite_args = ['-r ' + c for c in mine]
            lists = {'': ph.suite_args}
        ph.msix = mode == 'slave'
        ph.host_script = os.path.join(GUEST_DIR, 'host-kselftest.sh')
        ph.extra = [('usr/local/bin/pci_endpoint_test', binary)]
        ph.set_plan(cases.kselftest_plan(ph.suite, lists, ph.functions))
        phases.append(ph)
    return phases


def series_phases(series, bench=None, epf='test', functions=1):
    """The guest pairs of one of the project's kernel series (bench: a
    BenchSpec, the bench's pairs)."""
    if epf == 'vntb':
        if functions > 1:
            return [vntb_phase(series, functions=functions)]
        return [vntb_phase(series), ntb_clients_phase(series)]
    if epf == 'nvme':
        return [nvme_phase(series)]
    if epf == 'mhi':
        return [mhi_phase(series)]
    if epf == 'ntb':
        return [ntb_phase(series), ntb_clients_phase(series, topology='ntb')]
    kdir = artefacts.kernel_dir(series)
    more = []
    if series == '6.12':
        phases = pcitest_phases(series, os.path.join(kdir, 'pcitest'),
                                os.path.join(kdir, 'pcitest.sh'), bench, functions)
        if bench:
            # the vNTB network on the shared path (every check: it is the
            # vNTB pair of the test suite too) and through messages
            # (measures only)
            more = [vntb_phase(series, shmem=path == 'shared', label='vntb ' + path,
                               runs=bench.runs, mib=mib, measure_only=path != 'shared',
                               seconds=bench.seconds)
                    for path, mib in bench.mib.items()]
            # the kernel's NTB test clients over the same function: every
            # check, and ntb_perf's figures
            more.append(ntb_clients_phase(series))
            # the NVMe drive (a 7.3 pair) on both paths, likewise
            more += [nvme_phase('7.3', shmem=path == 'shared', label='nvme ' + path,
                                runs=bench.runs, measure_only=path != 'shared',
                                seconds=bench.seconds)
                     for path in ('shared', 'messages')]
    else:
        if bench:
            return []
        phases = kselftest_phases(series, os.path.join(kdir, 'pci_endpoint_test'),
                                  functions)
    mods = _test_modules(kdir, series)
    for ph in phases:
        ph.kernel = os.path.join(kdir, 'bzImage')
        ph.mods = mods
    return phases + more


def _need_modules(kdir, series, names, fragment):
    found = initramfs.find_modules(os.path.join(kdir, 'modules'), names)
    missing = names - set(found)
    if missing:
        raise ArtefactError('the %s guest kernel lacks %s (%s enables them; '
                            './qemu-epc-bench setup rebuilds it)'
                            % (series, ', '.join(sorted(missing)), fragment))
    return list(found.values())


def vntb_phase(series, shmem=True, label=None, runs=1, mib=64, functions=1,
               measure_only=False, seconds=None):
    """The vNTB pair of a kernel series: guest/epf-vntb.sh in guest 1,
    guest/host-vntb.sh in guest 2; each ping and transfer `runs` times,
    transfers of `mib` MiB, iperf3 for `seconds` (default 5).
    functions=2: a pci-epf-test as function 1 beside it, its pcitest cases
    run with the network up (6.12).  measure_only: the figures, without the
    link down and up."""
    seconds = seconds or 5
    kdir = artefacts.kernel_dir(series)
    ph = Phase(series, 'vntb' + ('-' + label.split()[-1] if label else ''), 'slave', 'vntb',
               shmem=shmem, label=label)
    beside = None
    ph.extra = [('usr/local/share/qemu-epc/vntb-agent.sh',
                 os.path.join(GUEST_DIR, 'vntb-agent.sh'))]
    ph.extra += artefacts.iperf3_files()
    ph.mods = _need_modules(kdir, series, {'ntb', 'ntb_hw_epf', 'ntb_transport',
                                           'ntb_netdev', 'ntb_perf', 'pci-epf-vntb'},
                            'guest/kernel-pair.config')
    ph.mods.append(artefacts.kmod_path(series))
    if functions > 1:
        beside = cases.beside_cases()
        ph.suite = 'vntb-beside'
        ph.suite_args = beside
        ph.functions = functions
        ph.mods += _need_modules(kdir, series, {'pci-epf-test', 'pci_endpoint_test'},
                                 'guest/kernel-pair.config')
        ph.pcitest = os.path.join(kdir, 'pcitest')
        ph.extra.append(('usr/local/share/qemu-epc/host-beside.sh',
                         os.path.join(GUEST_DIR, 'host-beside.sh')))
    ph.env = {'RUNS': runs, 'MIB': mib, 'SECONDS': seconds}
    if measure_only:
        ph.env['MEASURE_ONLY'] = 1
    ph.epf_script = os.path.join(GUEST_DIR, 'epf-vntb.sh')
    # ntb_hw_epf knows the BAR layouts of two boards; this is the i.MX8's:
    # 64-bit BARs 0, 2 and 4 (config and scratchpads, doorbells, window)
    ph.epc_props = ',bar0=64bit,bar2=64bit,bar4=64bit'
    ph.host_script = os.path.join(GUEST_DIR, 'host-vntb.sh')
    ph.kernel = os.path.join(kdir, 'bzImage')
    ph.set_plan(cases.vntb_plan(mib, beside, ph.suite, measure_only, seconds))
    return ph


def _three_guests(ph):
    """ph on run --epf ntb's three guests: guest 1's two controllers carry
    pci-epf-ntb (guest/epf-ntb.sh), guest 3 runs guest/ntb-peer.sh, the
    host scripts see QEPC_TOPOLOGY=ntb."""
    ph.hosts = 2
    ph.env['TOPOLOGY'] = 'ntb'
    ph.extra.append(('usr/local/share/qemu-epc/ntb-peer.sh',
                     os.path.join(GUEST_DIR, 'ntb-peer.sh')))
    ph.epf_script = os.path.join(GUEST_DIR, 'epf-ntb.sh')


def ntb_phase(series='7.3', runs=1, mib=16, seconds=3):
    """pci-epf-ntb across three guests: guest 1 with two qemu-epc
    controllers (guest/epf-ntb.sh puts the function's primary interface on
    the first, its secondary on the second), guest 2 and guest 3 each with
    an epf-bridge to one of them and ntb_hw_epf; the network between guests
    2 and 3 (guest/host-vntb.sh with QEPC_TOPOLOGY=ntb in guest 2,
    guest/ntb-peer.sh in guest 3).  Linux 7.3, with the project's fix to
    the endpoint core (guest/patches/7.3)."""
    kdir = artefacts.kernel_dir(series)
    ph = Phase(series, 'ntb', 'slave', 'vntb')
    ph.extra = [('usr/local/share/qemu-epc/vntb-agent.sh',
                 os.path.join(GUEST_DIR, 'vntb-agent.sh'))]
    ph.extra += artefacts.iperf3_files()
    ph.mods = _need_modules(kdir, series, {'ntb', 'ntb_hw_epf', 'ntb_transport',
                                           'ntb_netdev', 'pci-epf-ntb'},
                            'guest/kernel-pair.config')
    ph.mods.append(artefacts.kmod_path(series))
    ph.env = {'RUNS': runs, 'MIB': mib, 'SECONDS': seconds}
    _three_guests(ph)
    ph.host_script = os.path.join(GUEST_DIR, 'host-vntb.sh')
    ph.kernel = os.path.join(kdir, 'bzImage')
    ph.set_plan(cases.vntb_plan(mib, suite='ntb', seconds=seconds, topology='ntb'))
    return ph


def ntb_clients_phase(series, topology=None):
    """The kernel's NTB test clients over pci-epf-vntb (guest 1, as
    epf-vntb.sh sets it up) and ntb_hw_epf (guest 2): ntb_perf, ntb_tool and
    ntb_pingpong, guest/host-ntb-clients.sh asking guest/ntb-clients.sh in
    guest 1 over the pair's serial line (a client takes the NTB device on
    both sides, so these cannot share the network pair).  topology 'ntb':
    the same between guests 2 and 3 across pci-epf-ntb (as ntb_phase()),
    guest 3 answering on the serial line between them."""
    kdir = artefacts.kernel_dir(series)
    ph = Phase(series, 'ntb-clients' if not topology else 'ntb3-clients', 'slave', 'vntb')
    ph.extra = [('usr/local/share/qemu-epc/ntb-clients.sh',
                 os.path.join(GUEST_DIR, 'ntb-clients.sh'))]
    epf = 'pci-epf-vntb' if not topology else 'pci-epf-ntb'
    ph.mods = _need_modules(kdir, series, {'ntb', 'ntb_hw_epf', 'ntb_perf', 'ntb_tool',
                                           'ntb_pingpong', epf},
                            'guest/kernel-pair.config')
    ph.mods.append(artefacts.kmod_path(series))
    ph.env = {'NTB_CLIENTS': 1}
    ph.ctl = True
    ph.host_script = os.path.join(GUEST_DIR, 'host-ntb-clients.sh')
    if topology:
        _three_guests(ph)
    else:
        ph.epf_script = os.path.join(GUEST_DIR, 'epf-vntb.sh')
        ph.epc_props = ',bar0=64bit,bar2=64bit,bar4=64bit'
    ph.kernel = os.path.join(kdir, 'bzImage')
    ph.set_plan(cases.ntb_clients_plan(topology))
    return ph


def nvme_phase(series, shmem=True, label=None, runs=1, measure_only=False, seconds=None):
    """The NVMe pair (7.3): guest/epf-nvme.sh in guest 1, guest/host-nvme.sh
    in guest 2 (its I/O queues are the host's: one per guest-2 vCPU).
    Guest 1 has one vCPU, as the other pairs: a second one on this 2-core
    machine mostly spins nvmet-pci-epf's queue poller, and the host CPU it
    takes is guest 2's (at queue depth 32, 15-28% fewer IOPS with two; at
    depth 1, 10-30% more, the poller not sharing its vCPU).  The guests
    coordinate link down and up over the pair's serial line, not through
    the device; fio's measured jobs `runs` times, for
    `seconds` each (default 4).  measure_only: the drive found and fio's
    figures, no other check."""
    kdir = artefacts.kernel_dir(series)
    ph = Phase(series, 'nvme' + ('-' + label.split()[-1] if label else ''), 'slave', 'nvme',
               shmem=shmem, label=label)
    ph.env = {'RUNS': runs}
    if seconds:
        ph.env['SECONDS'] = seconds
    if measure_only:
        ph.env['MEASURE_ONLY'] = 1
    ph.epf_script = os.path.join(GUEST_DIR, 'epf-nvme.sh')
    ph.host_script = os.path.join(GUEST_DIR, 'host-nvme.sh')
    ph.ctl, ph.timing = True, True
    ph.extra = artefacts.fio_files()
    ph.mods = _need_modules(kdir, series, {'brd', 'nvmet', 'nvmet-pci-epf'},
                            'guest/kernel-7.3.config')
    ph.mods.append(artefacts.kmod_path(series))
    ph.kernel = os.path.join(kdir, 'bzImage')
    ph.set_plan(cases.nvme_plan(measure_only))
    return ph


def mhi_phase(series):
    """The MHI pair (7.3): guest/epf-mhi.sh in guest 1 (pci-epf-mhi on a
    qemu-epc with its MHI register block), guest/host-mhi.sh in guest 2
    (mhi_pci_generic); the guests coordinate restarts and the switch of
    configuration over the pair's serial line."""
    kdir = artefacts.kernel_dir(series)
    ph = Phase(series, 'mhi', 'slave', 'mhi')
    ph.epc_props = ',mhi=on'
    ph.epf_script = os.path.join(GUEST_DIR, 'epf-mhi.sh')
    ph.host_script = os.path.join(GUEST_DIR, 'host-mhi.sh')
    ph.ctl = True
    ph.mods = _need_modules(kdir, series, {'mhi', 'mhi_pci_generic', 'mhi_ep', 'pci-epf-mhi'},
                            'guest/kernel-7.3.config')
    ph.mods.append(artefacts.kmod_path(series))
    ph.kernel = os.path.join(kdir, 'bzImage')
    ph.set_plan(cases.script_plan(ph.host_script))
    return ph


def own_kernel_phases(kernel, mods, release, host_script=None, kselftest=None):
    """The pairs for a user's own kernel: their host script, else the
    suite that matches the kernel's version: the pci_endpoint kselftest
    from 6.14 on (the user's build, or the project's), pcitest.sh before.
    Raises ArtefactError, in one line, when that cannot work."""
    version = artefacts.release_version(release)
    if host_script:
        ph = Phase('', 'full', 'slave', 'script')
        ph.host_script = host_script
        phases = [ph]
        ph.msix = True
    elif version is None:
        raise ArtefactError('cannot tell the version of --kernel (release "%s"): the '
                            'suite to run depends on it' % release)
    elif version >= KSELFTEST_SINCE:
        binary = kselftest or kselftest_binary('7.3')
        if not os.access(binary, os.X_OK):
            raise ArtefactError('--kselftest %s: not an executable' % binary)
        phases = kselftest_phases('', binary)
    else:
        if kselftest:
            raise ArtefactError('--kselftest: Linux %s has no pci_endpoint kselftest '
                                'interface (it is pcitest.sh\'s, before 6.14)' % release)
        kdir = artefacts.kernel_dir('6.12')
        phases = pcitest_phases('', os.path.join(kdir, 'pcitest'),
                                os.path.join(kdir, 'pcitest.sh'))
    for ph in phases:
        ph.kernel, ph.mods = kernel, mods
    return phases
