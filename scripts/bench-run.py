#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-epc-bench run: boot guest 1 (qemu-epc, pcie-qemu-ep, an EPF) and
guest 2 (epf-bridge, the host driver), run the host-side suite, print KTAP
and a summary table.  Exit status 0 only if every case passed (a skip is
reported as a skip, not as a pass).

By default three guest pairs run in turn.  On Linux 6.12: the first with
pcie-qemu-ep's slave DMA channels (the kernel's pcitest.sh, then pcitest -d
read and write), the second with memcpy channels only (slave_dma=0:
pcitest -d read, write and copy, the path pci-epf-test takes for copy).  On
Linux 7.3: the kernel's own pci_endpoint kselftest, every case (doorbell and
BAR subranges included).  --series runs one series only.  --bench runs 1 MiB
read/write/copy with and without DMA instead and prints their times.
--functions N runs one pair per series whose controller has N functions,
each a pci-epf-test of its own (other IDs, interrupt pins and, on 6.12,
vector counts), and the pcitest cases (6.12) or the kselftest (7.3) against
each function's device in guest 2."""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, 'harness'))
import guests        # noqa: E402
import initramfs     # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(prog='qemu-epc-bench run', description=__doc__)
    p.add_argument('--series', choices=guests.SERIES + ('all',), default='all',
                   help='which of the project\'s guest kernels to run: 6.12 (pcitest.sh '
                   'and the DMA cases), 7.3 (the pci_endpoint kselftest) or all '
                   '(default); not with --kernel')
    p.add_argument('--epf', choices=('test', 'vntb', 'nvme'), default='test',
                   help='the endpoint function of the project\'s pairs: test '
                   '(pci-epf-test against pcitest.sh or the kselftest, default) or '
                   'vntb (pci-epf-vntb in guest 1, ntb_hw_epf in guest 2, a network '
                   'between them through ntb_transport and ntb_netdev: ping, TCP '
                   'transfers with checksums, link down and up) or nvme (Linux 7.3 '
                   'only: nvmet-pci-epf in guest 1 serving a ramdisk, the nvme driver '
                   'in guest 2: data and filesystem round trips, fio with verify, '
                   'link down and up idle and during I/O)')
    p.add_argument('--kernel', help='guest kernel image for both guests '
                   '(default: the project\'s kernels, built by setup)')
    p.add_argument('--modules', metavar='DIR', help='directory of .ko files for '
                   'the guests (with --kernel: your pcie-qemu-ep.ko, EPF and host '
                   'drivers built for that kernel); every .ko below DIR goes in '
                   '/lib/modules of the image')
    p.add_argument('--epf-script', help='guest-1 set-up script run after the '
                   'controller is bound, $EPC names it (default: '
                   'guest/epf-test.sh, pci-epf-test through configfs)')
    p.add_argument('--host-script', help='guest-2 script run once the function is '
                   'present; print "ok N name"/"not ok N name" lines; a script '
                   'that prints none or exits non-zero fails '
                   '(default: the kernel\'s pcitest.sh or kselftest)')
    p.add_argument('--accel', default='tcg', choices=('tcg', 'kvm'),
                   help='accelerator of both guests (default tcg)')
    p.add_argument('--host-smp', type=int, default=16,
                   help='vCPUs of guest 2 where MSI-X is tested; x86 fits about '
                   '200 MSI-X vectors per CPU and pcitest asks for 2048 (default '
                   '16); the pairs without MSI-X cases use at most 2')
    p.add_argument('--boot-timeout', type=int, default=240,
                   help='seconds for each guest to boot and set up (default 240)')
    p.add_argument('--case-timeout', type=int, default=120,
                   help='seconds for one test case (default 120)')
    p.add_argument('--rundir', help='where logs go (default a new build/runs/<time>-XXXX)')
    p.add_argument('-q', '--quiet', action='store_true',
                   help='no KTAP stream, only the summary')
    p.add_argument('--bench', action='store_true',
                   help='pcitest read/write/copy of 1 MiB and of the largest size, '
                   'on the shared path, through messages and with DMA, and the '
                   'BAR tests, each timed several times, beside baselines of the '
                   'same run (what `qemu-epc-bench bench` runs)')
    p.add_argument('--functions', type=int, default=1, metavar='N',
                   help='2 to 8: one pair per series instead of the default ones: '
                   'qemu-epc with N functions, each a pci-epf-test with its own ID, '
                   'class and interrupt pin (guest/epf-test.sh), guest 2 with N '
                   'epf-bridges in one multi-function slot (04.0-04.N-1); on 6.12 '
                   'the functions also differ in MSI/MSI-X counts (hence BAR0 size) '
                   'and BAR, INTx, MSI, MSI-X, read/write/copy and DMA cases run '
                   'against each /dev/pci-endpoint-test.K; on 7.3 the pci_endpoint '
                   'kselftest runs against each function in turn; case names and '
                   'summary groups carry fnK (default 1: the usual pairs). With '
                   '--epf vntb (6.12, N = 2): function 1 is a pci-epf-test beside '
                   'pci-epf-vntb, its pcitest cases run with the network up')
    p.add_argument('--runs', type=int, default=guests.BENCH_RUNS,
                   help='with --bench: runs of each row (default %d)' % guests.BENCH_RUNS)
    a = p.parse_args(argv)
    if a.runs < 1:
        p.error('--runs must be at least 1')
    if not 1 <= a.functions <= 8:
        p.error('--functions must be 1 to 8')
    if a.functions > 1 and (a.bench or a.kernel or a.epf_script or a.host_script):
        p.error('--functions runs the project\'s kernels with the default scripts; '
                'not with --bench, --kernel, --epf-script or --host-script')
    if a.epf == 'vntb' and a.functions > 1 and (a.functions != 2 or a.series != '6.12'):
        p.error('--epf vntb --functions 2 (pci-epf-test beside pci-epf-vntb) runs on '
                '--series 6.12 only, with two functions')
    if a.epf == 'nvme' and a.functions > 1:
        p.error('--epf nvme runs one function (nvmet-pci-epf); not with --functions')
    if a.bench and (a.host_script or a.kernel):
        p.error('--bench runs the project\'s own kernel and cases; not with '
                '--host-script or --kernel')
    if a.epf != 'test' and (a.kernel or a.bench or a.epf_script or a.host_script):
        p.error('--epf %s brings its own scripts and runs the project\'s kernels; '
                'not with --kernel, --bench, --epf-script or --host-script' % a.epf)
    if a.kernel and a.series != 'all':
        p.error('--series picks one of the project\'s kernels; --kernel is your own')
    return a


class Results:
    def __init__(self, out, quiet):
        self.cases = []         # (name, series, group, status, seconds, detail)
        self.baselines = {}     # (what, size): [seconds] measured in a guest
        self.measures = []      # (phase label, what, "value unit") from a host script
        self.out = out
        self.quiet = quiet

    def emit(self, line):
        if not self.quiet:
            self.out.write(line + '\n')
            self.out.flush()

    def add(self, name, series, group, ok, secs, detail='', skip=None):
        """ok: passed; skip: the reason a case was skipped (ok or not)."""
        status = 'skip' if skip is not None else 'ok' if ok else 'fail'
        self.cases.append((name, series, group, status, secs, detail))
        n = len(self.cases)
        if skip is not None:
            d = ' # SKIP ' + skip
        else:
            d = ' # ' + detail if detail else ''
        self.emit('%s %d %s%s' % ('not ok' if status == 'fail' else 'ok', n, name, d))

    def count(self, status):
        return sum(1 for c in self.cases if c[3] == status)


def mode_tag(dma_mode):
    """What a case name of the memcpy-only pair carries after its args."""
    return '' if dma_mode == 'slave' else ' [slave_dma=0]'


class Phase:
    """One guest pair: its kernel series, host suite and what it plans."""

    def __init__(self, series, suite, dma_mode, kind, planned, shmem=True, label=None):
        self.series = series        # '6.12', '7.3', or '' for --kernel
        self.suite = suite          # qepc.suite= of the guests
        self.dma_mode = dma_mode    # DMA channels pcie-qemu-ep offers
        self.kind = kind            # 'pcitest', 'kselftest' or 'script'
        # case names, None for a user's script (a suite's "!" lines are
        # programs of the image, not cases)
        self.planned = planned if planned is None else \
            [c for c in planned if not c.startswith('!')]
        self.shmem = shmem          # the shared-memory path, else messages
        self.label = label          # what case names carry, if not the DMA mode
        self.suite_args = None      # lines of the suite's case list, if ours
        self.epf_script = None      # guest 1's set-up, if not the default
        self.extra = []             # more (path in the image, file) pairs
        self.epc_props = ''         # more qemu-epc properties, ",name=value..."
        self.env = {}               # QEPC_NAME=VALUE for both guests' scripts
        self.epf_smp = 1            # vCPUs of guest 1
        self.ctl = False            # a serial line between the guests
        self.kernel = self.initrd = self.rundir = None
        self.functions = 1          # the controller's functions (run --functions)
        self.function_setup = guests.FUNCTION_SETUP     # what each function offers
        self.more_suites = {}       # more case lists of the image: {name: lines}

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

    def group(self, what):
        if self.kind == 'vntb' and what.startswith('-'):
            return 'fn1 ' + guests.case_group(what, self.dma_mode)
        if self.kind == 'pcitest':
            return guests.case_group(what, self.dma_mode)
        if self.kind == 'kselftest':
            return guests.kselftest_group(what)
        if self.kind == 'vntb':
            return guests.vntb_group(what) + (' (%s)' % self.label.split()[-1]
                                              if self.label else '')
        if self.kind == 'nvme':
            return guests.nvme_group(what) + (' (%s)' % self.label.split()[-1]
                                              if self.label else '')
        return 'host script'


KTAP = re.compile(r'^(ok|not ok) \d+ (.*?)(?: # (SKIP|TODO)\b ?(.*))?$')


def run_host_suite(pair, res, ph, case_timeout):
    """Turn the host guest's lines into results until QEPC-HOST-DONE;
    returns the reason it stopped early, or None."""
    idx = 0
    first = len(res.cases)
    last = time.monotonic()
    wait = case_timeout + 30
    diag = []            # the host side's '# ' lines since the last case
    while True:
        # liveness first, lines second: what a guest wrote just before it
        # exited is still read on this round
        host_alive, epf_alive = pair.host.alive(), pair.epf.alive()
        lines = pair.host.new_lines()
        now = time.monotonic()
        for line in lines:
            m = KTAP.match(line)
            if line.startswith('QEPC-CASE '):
                rc, secs, args, out = (line[10:].split('|', 3) + ['', '', ''])[:4]
                ok = rc == '0' and 'NOT OKAY' not in out and 'FAILED' not in out
                detail = ''
                if not ok:
                    detail = ('timed out after %d s' % case_timeout if rc in ('124', '143')
                              else 'exit %s: %s' % (rc, out.strip()))
                try:
                    took = float(secs)
                except ValueError:
                    took = now - last
                res.add(ph.case_name(args), ph.series, ph.group(args), ok, took, detail)
                idx += 1
                last = now
            elif m and ph.kind in ('kselftest', 'script', 'vntb', 'nvme'):
                ok = m.group(1) == 'ok'
                skip = (m.group(4) or 'skipped') if m.group(3) == 'SKIP' else None
                detail = '' if ok else '; '.join(diag[-3:])
                res.add(ph.case_name(m.group(2)), ph.series, ph.group(m.group(2)), ok,
                        now - last, detail, skip)
                diag = []
                idx += 1
                last = now
            elif line.startswith('# Totals: '):
                res.emit('# %s reports: %s' % (ph.kind, line[2:]))
            elif line.startswith('# '):
                diag.append(line[2:].strip())
            elif line.startswith('QEPC-MEASURE '):
                what, _, value = line[13:].rpartition(': ')
                res.emit('# %s%s: %s' % (what, ph.tag() if ph.label else
                                         ' [Linux %s]' % ph.series, value))
                res.measures.append((ph.label, what, value))
            elif line.startswith('QEPC-BASE '):
                what, size, secs = line.split()[1:4]
                res.baselines.setdefault((what, int(size)), []).append(float(secs))
            elif line.startswith('QEPC-FUNCTIONS '):
                res.emit('# also FUNCTION ' + line[15:])
            elif line.startswith('QEPC-BOUND'):
                # the first case's time starts when the host driver is bound
                res.emit('# host driver: ' + line[11:])
                last = now
            elif line.startswith('QEPC-ERROR'):
                return line[11:]
            elif line.startswith('QEPC-HOST-DONE'):
                rc = line.split('rc=', 1)[-1].strip()
                mine = res.cases[first:]
                if not mine:
                    res.add('host side printed test results', ph.series, 'host script',
                            False, 0, 'no case at all (exit status %s)' % rc)
                elif rc != '0' and not any(c[3] == 'fail' for c in mine):
                    res.add('host side exit status is 0', ph.series, 'host script',
                            False, 0, 'exit status %s' % rc)
                return None
        if not host_alive:
            return 'guest 2 exited before the suite finished (see %s)' % pair.host.console
        if not epf_alive:
            return 'guest 1 exited during the suite (see %s)' % pair.epf.console
        if now - last > wait:
            nxt = ph.planned[idx] if ph.planned and idx < len(ph.planned) else 'the next case'
            return 'timed out after %d s waiting for "%s" to finish' % (wait, nxt)
        time.sleep(0.05)


def summary(res, out, rundir, elapsed):
    rows = []
    stats = {}
    for name, series, group, status, secs, _ in res.cases:
        key = (series, group)
        if key not in stats:
            rows.append(key)
            stats[key] = {'ok': 0, 'fail': 0, 'skip': 0, 'secs': 0.0}
        stats[key][status] += 1
        stats[key]['secs'] += secs
    out.write('\n%-7s %-22s %6s %6s %6s %9s\n' % ('series', 'group', 'pass', 'fail',
                                                 'skip', 'time (s)'))
    # series in the order they ran, each one's kernel-log checks last
    order = []
    for series, _ in rows:
        if series not in order:
            order.append(series)
    rows.sort(key=lambda k: (order.index(k[0]), k[1] == 'kernel logs'))
    for key in rows:
        s = stats[key]
        out.write('%-7s %-22s %6d %6d %6d %9.1f\n' % (key[0] or '-', key[1], s['ok'],
                                                     s['fail'], s['skip'], s['secs']))
    out.write('%-7s %-22s %6d %6d %6d %9.1f\n' % ('', 'total', res.count('ok'),
                                                 res.count('fail'), res.count('skip'),
                                                 elapsed))
    out.write('logs: %s\n' % rundir)


def kernel_release(bzimage):
    """The release string a bzImage carries (x86 boot header)."""
    with open(bzimage, 'rb') as f:
        data = f.read(0x10000)
    if len(data) < 0x210 or data[0x202:0x206] != b'HdrS':
        raise ValueError('%s is not an x86 bzImage' % bzimage)
    off = int.from_bytes(data[0x20e:0x210], 'little') + 0x200
    return data[off:off + 256].split(b' ', 1)[0].decode(errors='replace')


def check_own_modules(a, mods):
    """Refuse, in one line, a --kernel/--modules pair that cannot work:
    what the scripts load must be there, built for that kernel."""
    if not os.path.isfile(a.kernel):
        sys.exit('run: --kernel %s: no such file' % a.kernel)
    try:
        release = kernel_release(a.kernel)
    except (OSError, ValueError) as e:
        sys.exit('run: --kernel: %s' % e)
    names = {os.path.basename(m)[:-3].replace('-', '_'): m for m in mods}
    need = ['pcie_qemu_ep']
    if not a.epf_script:
        need.append('pci_epf_test')
    if not a.host_script:
        need.append('pci_endpoint_test')
    missing = [n for n in need if n not in names]
    if missing:
        sys.exit('run: --modules %s lacks %s (built for %s); the default scripts '
                 'load them' % (a.modules, ', '.join(n.replace('_', '-') + '.ko'
                                                    for n in missing), release))
    for name, path in sorted(names.items()):
        vm = subprocess.run(['modinfo', '-F', 'vermagic', path], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True).stdout.split()
        if not vm or vm[0] != release:
            sys.exit('run: %s is built for %s, --kernel is %s'
                     % (path, vm[0] if vm else 'no kernel (not a module)', release))


def vntb_phase(series, shmem=True, label=None, runs=1, mib=64, functions=1):
    """The vNTB pair of a kernel series: guest/epf-vntb.sh in guest 1,
    guest/host-vntb.sh in guest 2; each ping and transfer `runs` times,
    transfers of `mib` MiB.  functions=2: a pci-epf-test as function 1
    beside it, its pcitest cases run with the network up (6.12)."""
    kdir = guests.kernel_dir(series)
    ph = Phase(series, 'vntb' + ('-' + label.split()[-1] if label else ''), 'slave', 'vntb',
               [], shmem=shmem, label=label)
    ph.planned = [ph.case_name(c) for c in guests.vntb_cases(mib)]
    if functions > 1:
        beside = [guests.beside_case(c) for c in guests.beside_cases()]
        ph.suite = 'vntb-beside'
        ph.suite_args = beside
        ph.functions = functions
        # after the transfers, before the link goes down and up
        ph.planned[6:6] = [ph.case_name(c) for c in beside]
    if runs != 1 or mib != 64:
        ph.env = {'RUNS': runs, 'MIB': mib}
    ph.epf_script = os.path.join(guests.GUEST_DIR, 'epf-vntb.sh')
    # ntb_hw_epf knows the BAR layouts of two boards; this is the i.MX8's:
    # 64-bit BARs 0, 2 and 4 (config and scratchpads, doorbells, window)
    ph.epc_props = ',bar0=64bit,bar2=64bit,bar4=64bit'
    ph.host_script = os.path.join(guests.GUEST_DIR, 'host-vntb.sh')
    ph.extra = [('usr/local/share/qemu-epc/vntb-agent.sh',
                 os.path.join(guests.GUEST_DIR, 'vntb-agent.sh'))]
    try:
        ph.extra += guests.iperf3_files()
    except (guests.GuestError, RuntimeError) as e:
        sys.exit('run: %s' % e)
    names = {'ntb', 'ntb_hw_epf', 'ntb_transport', 'ntb_netdev', 'ntb_perf',
             'pci-epf-vntb'}
    found = initramfs.find_modules(os.path.join(kdir, 'modules'), names)
    missing = names - set(found)
    if missing:
        sys.exit('run: the %s guest kernel lacks %s (guest/kernel.config enables '
                 'them; ./qemu-epc-bench setup rebuilds it)'
                 % (series, ', '.join(sorted(missing))))
    ph.kernel = os.path.join(kdir, 'bzImage')
    ph.mods = list(found.values()) + [guests.kmod_path(series)]
    ph.tools = (None, None, [])
    if functions > 1:
        test = initramfs.find_modules(os.path.join(kdir, 'modules'),
                                      {'pci-epf-test', 'pci_endpoint_test'})
        ph.mods += list(test.values())
        ph.tools = (os.path.join(kdir, 'pcitest'), os.path.join(kdir, 'pcitest.sh'), [])
        ph.extra.append(('usr/local/share/qemu-epc/host-beside.sh',
                         os.path.join(guests.GUEST_DIR, 'host-beside.sh')))
    return [ph]


def nvme_phase(series, shmem=True, label=None, runs=1):
    """The NVMe pair (7.3): guest/epf-nvme.sh in guest 1 (two vCPUs:
    nvmet gives a controller an I/O queue per CPU), guest/host-nvme.sh in
    guest 2; the guests coordinate link down and up over the pair's serial
    line, not through the device; fio's measured jobs `runs` times."""
    kdir = guests.kernel_dir(series)
    ph = Phase(series, 'nvme' + ('-' + label.split()[-1] if label else ''), 'slave', 'nvme',
               [], shmem=shmem, label=label)
    ph.planned = [ph.case_name(c) for c in guests.NVME_CASES]
    if runs != 1:
        ph.env = {'RUNS': runs}
    ph.epf_script = os.path.join(guests.GUEST_DIR, 'epf-nvme.sh')
    ph.host_script = os.path.join(guests.GUEST_DIR, 'host-nvme.sh')
    ph.epf_smp, ph.ctl = 2, True
    try:
        ph.extra = guests.fio_files()
    except guests.GuestError as e:
        sys.exit('run: %s' % e)
    names = {'brd', 'nvmet', 'nvmet-pci-epf'}
    found = initramfs.find_modules(os.path.join(kdir, 'modules'), names)
    missing = names - set(found)
    if missing:
        sys.exit('run: the %s guest kernel lacks %s (guest/kernel-7.3.config enables '
                 'them; ./qemu-epc-bench setup rebuilds it)'
                 % (series, ', '.join(sorted(missing))))
    ph.kernel = os.path.join(kdir, 'bzImage')
    ph.mods = list(found.values()) + [guests.kmod_path(series)]
    ph.tools = (None, None, [])
    return [ph]


def series_phases(series, bench, epf='test', functions=1):
    """The guest pairs of one of the project's kernel series."""
    if epf == 'vntb':
        return vntb_phase(series, functions=functions)
    if epf == 'nvme':
        return nvme_phase(series)
    kdir = guests.kernel_dir(series)
    more = []
    if series == '6.12':
        pcitest_sh = os.path.join(kdir, 'pcitest.sh')
        if functions > 1:
            suite = 'functions%d' % functions
            phases = [Phase(series, suite, 'slave', 'pcitest',
                            guests.functions_suite(functions),
                            label='%d functions' % functions)]
            phases[0].suite_args = guests.functions_suite(functions)
            phases[0].functions = functions
        elif bench:
            suites = guests.bench_suites(bench)
            phases = [Phase(series, 'bench-shared', 'slave', 'pcitest',
                            suites['bench-shared'], label='shared'),
                      Phase(series, 'bench-memcpy', 'memcpy', 'pcitest',
                            suites['bench-memcpy'], label='shared, memcpy DMA'),
                      Phase(series, 'bench-messages', 'slave', 'pcitest',
                            suites['bench-messages'], shmem=False, label='messages')]
            for ph in phases:
                ph.suite_args = suites[ph.suite]
            # the vNTB network on the shared path and through messages
            more = [vntb_phase(series, shmem=path == 'shared', label='vntb ' + path,
                               runs=bench, mib=mib)[0]
                    for path, mib in guests.VNTB_BENCH_MIB.items()]
            # the NVMe drive (a 7.3 pair) on both paths
            more += [nvme_phase('7.3', shmem=path == 'shared', label='nvme ' + path,
                                runs=bench)[0] for path in ('shared', 'messages')]
        else:
            phases = [Phase(series, 'full', 'slave', 'pcitest',
                            guests.pcitest_cases(pcitest_sh) + guests.SUITES['full']),
                      Phase(series, 'memcpy', 'memcpy', 'pcitest', guests.SUITES['memcpy'])]
        for ph in phases:
            ph.planned = [ph.case_name(c) for c in ph.planned]
        host_script = os.path.join(guests.GUEST_DIR, 'host-pcitest.sh')
        tools = (os.path.join(kdir, 'pcitest'), pcitest_sh, [])
    else:
        # pci-epf-test copies with DMA only over a memcpy channel (with a
        # private slave channel it asks for a transfer without its source):
        # the slave pair runs every case but that one, the memcpy pair the
        # DMA cases, as on 6.12
        ksft = os.path.join(kdir, 'pci_endpoint_test')
        cases = guests.kselftest_cases(ksft)
        dma_copy = 'pci_ep_data_transfer.dma.COPY_TEST'
        phases = []
        for suite, mode, mine in (
                ('kselftest', 'slave', [c for c in cases if c != dma_copy]),
                ('kselftest-memcpy', 'memcpy', [c for c in cases if '.dma.' in c])):
            if bench:
                continue
            if functions > 1:
                # the slave pair's cases against each function in turn
                if mode != 'slave':
                    continue
                # Linux 7.3 gives a doorbell to the first EPF of a
                # controller only (pci_epf_alloc_doorbell(): "Doorbell
                # doesn't support multiple EPF"): the others run without
                # the doorbell case
                others = [c for c in mine if not c.endswith('.DOORBELL_TEST')]
                ph = Phase(series, 'kselftest-functions%d' % functions, mode, 'kselftest',
                           [], label='%d functions' % functions)
                ph.planned = [ph.case_name('fn%d %s' % (k, c))
                              for k in range(functions) for c in (others if k else mine)]
                ph.suite_args = ['-r ' + c for c in mine]
                ph.more_suites = {'%s.fn%d' % (ph.suite, k): ['-r ' + c for c in others]
                                  for k in range(1, functions)}
                ph.functions = functions
                ph.function_setup = guests.FUNCTION_SETUP_KSELFTEST
                phases.append(ph)
                continue
            ph = Phase(series, suite, mode, 'kselftest', [])
            ph.planned = [ph.case_name(c) for c in mine]
            ph.suite_args = ['-r ' + c for c in mine]
            phases.append(ph)
        host_script = os.path.join(guests.GUEST_DIR, 'host-kselftest.sh')
        tools = (None, None, [('usr/local/bin/pci_endpoint_test', ksft)])
    found = initramfs.find_modules(os.path.join(kdir, 'modules'),
                                   {'pci-epf-test', 'pci_endpoint_test'})
    mods = list(found.values()) + [guests.kmod_path(series)]
    for m in mods:
        if not os.path.exists(m):
            sys.exit('run: %s missing (./qemu-epc-bench setup builds it)' % m)
    for ph in phases:
        ph.kernel = os.path.join(kdir, 'bzImage')
        ph.mods, ph.tools, ph.host_script = mods, tools, host_script
    return phases + more


def main(argv):
    a = parse_args(argv)
    t0 = time.monotonic()
    build = os.environ.get('QEMU_EPC_BUILD', os.path.join(TOP, 'build'))
    if a.rundir:
        rundir = a.rundir
        os.makedirs(rundir, exist_ok=True)
    else:
        # unique: runs started in the same second keep apart
        os.makedirs(os.path.join(build, 'runs'), exist_ok=True)
        rundir = tempfile.mkdtemp(prefix=time.strftime('%Y%m%d-%H%M%S-'),
                                  dir=os.path.join(build, 'runs'))
    epf_script = a.epf_script or os.path.join(guests.GUEST_DIR, 'epf-test.sh')
    if a.kernel:
        if not a.modules:
            sys.exit('run: --kernel needs --modules (pcie-qemu-ep.ko and the drivers '
                     'built for that kernel), unless they are all built in')
        mods = [os.path.join(d, f) for d, _, fs in os.walk(a.modules)
                for f in sorted(fs) if f.endswith('.ko')]
        check_own_modules(a, mods)
        if a.host_script:
            phases = [Phase('', 'full', 'slave', 'script', None)]
            tools = (None, None, [])
        else:
            # a kernel with the kselftest in --modules' tree is not known:
            # the default host side of one's own kernel is the 6.12 pcitest
            kdir = guests.kernel_dir('6.12')
            pcitest_sh = os.path.join(kdir, 'pcitest.sh')
            ph = Phase('', 'full', 'slave', 'pcitest', [])
            ph.planned = [ph.case_name(c) for c in
                          guests.pcitest_cases(pcitest_sh) + guests.SUITES['full']]
            phases = [ph]
            tools = (os.path.join(kdir, 'pcitest'), pcitest_sh, [])
        for ph in phases:
            ph.kernel, ph.mods, ph.tools = a.kernel, mods, tools
            ph.host_script = a.host_script or os.path.join(guests.GUEST_DIR,
                                                           'host-pcitest.sh')
    else:
        phases = []
        for series in (guests.SERIES if a.series == 'all' else (a.series,)):
            if a.bench and series != '6.12':
                continue
            if a.epf == 'nvme' and series != '7.3':
                if a.series != 'all':
                    sys.exit('run: --epf nvme needs --series 7.3 (nvmet-pci-epf is '
                             'in Linux from 6.14 on)')
                continue
            mine = series_phases(series, a.runs if a.bench else 0, a.epf, a.functions)
            if a.host_script:
                # the user's host script, once per kernel series, with the
                # pair's default set-up (slave DMA channels, shared memory)
                ph = mine[0]
                ph.kind, ph.planned, ph.label = 'script', None, None
                ph.host_script = a.host_script
                mine = [ph]
            phases += mine
    # one image per series and function: its modules, scripts and tools
    images = {}
    for n, ph in enumerate(phases):
        ph.rundir = rundir if n == 0 else os.path.join(rundir, ph.suite)
        os.makedirs(ph.rundir, exist_ok=True)
        key = (ph.series, ph.kind if ph.kind in ('vntb', 'nvme') else '', ph.functions)
        if key not in images:
            pcitest, pcitest_sh, extra = ph.tools
            suites = dict(guests.SUITES)
            suites.update({p.suite: p.suite_args for p in phases
                           if p.series == ph.series and p.suite_args})
            for p in phases:
                if p.series == ph.series:
                    suites.update(p.more_suites)
            images[key] = initramfs.build(
                os.path.join(rundir, 'initramfs%s%s%s.cpio.gz'
                             % (ph.series and '-' + ph.series, key[1] and '-' + key[1],
                                '-fn%d' % ph.functions if ph.functions > 1 else '')),
                ph.mods, pcitest, pcitest_sh, ph.epf_script or epf_script,
                ph.host_script, suites, list(extra) + ph.extra)
        ph.initrd = images[key]

    res = Results(sys.stdout, a.quiet)
    res.emit('TAP version 13')
    if all(ph.planned is not None for ph in phases):
        res.emit('1..%d' % sum(len(ph.planned) + 2 for ph in phases))
    res.emit('# qemu-epc-bench run: logs in %s' % rundir)
    stopped_any = False
    failed_up = {}       # series -> why its guests did not come up
    rtt = sock_rtt() if a.bench else None
    for n, ph in enumerate(phases):
        if len(phases) > 1:
            res.emit('# guest pair %d of %d: Linux %s, pcie-qemu-ep with %s DMA channels, '
                     '%s, logs in %s' % (n + 1, len(phases), ph.series or 'of --kernel',
                                         ph.dma_mode, ph.kind, ph.rundir))
        if ph.series in failed_up:
            # the same kernel and image would fail the same way
            not_run(res, ph, 'not run: an earlier pair on this kernel did not come up: '
                    + failed_up[ph.series])
            stopped_any = True
            continue
        stopped, came_up = run_pair(a, res, ph)
        if stopped and not came_up:
            failed_up[ph.series] = stopped
        stopped_any = stopped_any or bool(stopped)
    if any(ph.planned is None for ph in phases):
        res.emit('1..%d' % len(res.cases))
    fails = res.count('fail')
    res.emit('# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0'
             % (res.count('ok'), fails, res.count('skip')))
    summary(res, sys.stdout, rundir, time.monotonic() - t0)
    if a.bench and not bench_table(res, rtt, sys.stdout, a.runs):
        stopped_any = True
    return 1 if fails or stopped_any else 0


def case_what(ph, name):
    """What a planned case name says to run (its pcitest arguments or
    kselftest case), for its group."""
    what = name.split(' ', 1)[-1] if ph.kind != 'script' else name
    if ph.kind == 'pcitest' and ph.tag():
        what = what[:-len(ph.tag())]
    return what


def log_cases(res, ph, check):
    """The two kernel-log cases of a pair; check(who) gives the problems
    found, or a string when the pair did not run."""
    for who, label in (('epf', '1 (epf)'), ('host', '2 (host)')):
        probs = check(who)
        if isinstance(probs, str):
            ok, detail = False, probs
        else:
            ok, detail = not probs, '; '.join(probs[:3])
        res.add('guest %s kernel log has no oops, BUG or unexpected WARNING%s'
                % (label, ph.tag()), ph.series, 'kernel logs', ok, 0, detail)


def not_run(res, ph, why):
    """Every planned case of a pair that was not started, as failed."""
    for name in ph.planned or []:
        res.add(name, ph.series, ph.group(case_what(ph, name)), False, 0, why)
    log_cases(res, ph, lambda who: why)


def run_pair(a, res, ph):
    """Boot one guest pair, run its suite; returns (why it stopped early
    or None, whether both guests came up)."""
    first = len(res.cases)
    # the MSI-X cases (2048 vectors) need many vCPUs in guest 2; the
    # suites without them boot faster with two
    smp = a.host_smp if ph.suite in ('full', 'kselftest') or ph.kind == 'script' or \
        (ph.functions > 1 and ph.kind != 'vntb') else min(a.host_smp, 2)
    pair = guests.Pair(ph.rundir, ph.kernel, ph.initrd, accel=a.accel, host_smp=smp,
                       boot_timeout=a.boot_timeout, suite=ph.suite, dma_mode=ph.dma_mode,
                       case_timeout=a.case_timeout, series=ph.series, shmem=ph.shmem,
                       epc_props=ph.epc_props, env=ph.env, epf_smp=ph.epf_smp, ctl=ph.ctl,
                       functions=ph.functions, function_setup=ph.function_setup)
    stopped = None
    came_up = False
    t0 = time.monotonic()
    try:
        try:
            fn = pair.bring_up()
            came_up = True
            t1 = time.monotonic()
            res.emit('# ' + fn)
            stopped = run_host_suite(pair, res, ph, a.case_timeout)
            res.emit('# guests up in %.1f s, host side done in %.1f s more'
                     % (t1 - t0, time.monotonic() - t1))
        except guests.GuestError as e:
            stopped = str(e)
    finally:
        pair.stop()
    if stopped:
        res.emit('# stopped early: ' + stopped)
    if ph.planned is not None:
        done = len(res.cases) - first
        for name in ph.planned[done:]:
            res.add(name, ph.series, ph.group(case_what(ph, name)), False, 0,
                    'not run: ' + (stopped or 'no result'))
    problems = pair.kernel_problems()
    log_cases(res, ph, lambda who: [p for w, p in problems if w == who])
    return stopped, came_up


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def sock_rtt():
    """The host's Unix-socket round trip (build/sock-rtt): median and
    minimum in microseconds, or None."""
    build = os.environ.get('QEMU_EPC_BUILD', os.path.join(TOP, 'build'))
    try:
        out = subprocess.run([os.path.join(build, 'sock-rtt'), '20000'],
                             stdout=subprocess.PIPE, universal_newlines=True,
                             timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'median ([\d.]+) us, min ([\d.]+) us', out)
    return (float(m.group(1)), float(m.group(2))) if m else None


BENCH_CASE = re.compile(r'pcitest (-d )?-([rwcb]) (?:-s )?(\d+) \[(.*)\]$')
PATHS = {('shared', False): 'shared, no DMA', ('messages', False): 'messages, no DMA',
         ('shared', True): 'DMA, slave channel',
         ('shared, memcpy DMA', True): 'DMA, memcpy channel'}


def bench_table(res, rtt, out, runs):
    """Every transfer of the bench pairs: min and median of its runs, MB/s,
    against the memcpy baseline of the same run; the BAR tests' time; the
    shared path against DMA.  A row with a failed run has no figures, and
    no ratio is computed from it."""
    rows, bars = {}, {}
    for name, _, _, status, secs, _ in res.cases:
        m = BENCH_CASE.match(name)
        if not m:
            continue
        dma, op, n, label = bool(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
        if op == 'b':
            sets = bars.setdefault(label, [])
            if n == 0:
                sets.append([])
            if sets:
                sets[-1].append(secs if status == 'ok' else None)
            continue
        rows.setdefault((op, n, PATHS.get((label, dma), label)), []).append(
            secs if status == 'ok' else None)

    def stats(xs):
        return None if not xs or None in xs else (min(xs), median(xs))

    ops = {'r': 'read', 'w': 'write', 'c': 'copy'}
    out.write('\npcitest transfers in guest 2, %d runs each (monotonic clock; '
              'MB = 10^6 bytes; x memcpy: median time over guest 2\'s memcpy of '
              'the same size)\n' % runs)
    out.write('%-6s %8s %-20s %9s %10s %9s %10s\n' % ('op', 'bytes', 'path', 'min (s)',
                                                    'median (s)', 'MB/s', 'x memcpy'))
    order = ['shared, no DMA', 'messages, no DMA', 'DMA, slave channel',
             'DMA, memcpy channel']
    table = {}
    for (op, n, path) in sorted(rows, key=lambda k: ('rwc'.index(k[0]), k[1],
                                                     order.index(k[2]) if k[2] in order else 9)):
        st = stats(rows[(op, n, path)])
        if not st:
            out.write('%-6s %8d %-20s   failed\n' % (ops[op], n, path))
            continue
        table[(op, n, path)] = st[1]
        base = res.baselines.get(('memcpy', n))
        x = '%10.1f' % (st[1] / median(base)) if base and median(base) > 0 else '%10s' % '-'
        out.write('%-6s %8d %-20s %9.4f %10.4f %9.1f %s\n'
                  % (ops[op], n, path, st[0], st[1], n / st[1] / 1e6, x))
    out.write('\nBAR tests (pcitest -b 0..5, six in a row), %d runs\n' % runs)
    out.write('%-20s %9s %10s\n' % ('path', 'min (s)', 'median (s)'))
    for label in sorted(bars):
        st = stats([sum(r) if len(r) == 6 and None not in r else None
                    for r in bars[label]])
        out.write('%-20s %s\n' % (label, '%9.3f %10.3f' % st if st else '  failed'))
    vntb_table(res, out, runs)
    nvme_table(res, out, runs)
    base = ', '.join('%d B %.6f s (%.0f MB/s)' % (n, median(v), n / median(v) / 1e6)
                     for (w, n), v in sorted(res.baselines.items()) if w == 'memcpy')
    out.write('\nbaselines of this run: memcpy in guest 2 (median of %d): %s; '
              'Unix socket round trip, 32 bytes: %s\n'
              % (runs, base or 'none measured',
                 'median %.1f us, min %.1f us' % rtt if rtt else 'not measured'))
    for n in (guests.BENCH_SIZE, guests.BENCH_MAX):
        sp = []
        for op in 'rwc':
            a, b = table.get((op, n, 'messages, no DMA')), table.get((op, n, 'shared, no DMA'))
            sp.append('%s %s' % (ops[op], '%.1fx' % (a / b) if a and b else 'failed'))
        out.write('shared path speed-up over messages, %d B, median: %s\n' % (n, ', '.join(sp)))
    vals = []
    for op in 'rwc':
        dma = table.get((op, guests.BENCH_SIZE, 'DMA, memcpy channel' if op == 'c'
                         else 'DMA, slave channel'))
        shared = table.get((op, guests.BENCH_SIZE, 'shared, no DMA'))
        vals.append('%.3f' % (shared / dma) if shared and dma else 'failed')
    out.write('shared/DMA time ratio, 1 MiB, median: read %s write %s copy %s\n' % tuple(vals))
    return 'failed' not in vals


def nvme_table(res, out, runs):
    """The NVMe pairs of the bench: fio's sequential MB/s and 4 KiB IOPS on
    the drive per path, beside the same jobs on a ramdisk of guest 2; min
    and median of the runs; a path whose checks failed has no figures."""
    figs, bad = {}, set()
    for label, what, value in res.measures:
        if label and label.startswith('nvme '):
            figs.setdefault((label.split()[-1], what), []).append(float(value.split()[0]))
    for _, _, group, status, _, _ in res.cases:
        if group.startswith('nvme ') and status != 'ok':
            bad.add(group.rsplit('(', 1)[-1].rstrip(')'))
    jobs = (('seq read 1M', 'MB/s'), ('seq write 1M', 'MB/s'),
            ('rand read 4k', 'IOPS'), ('rand write 4k', 'IOPS'))
    out.write('\nNVMe drive (nvmet-pci-epf over a ramdisk of guest 1, nvme in guest 2, '
              'Linux 7.3), fio, 2 jobs, psync, O_DIRECT, 4 s each, %d runs; ramdisk: '
              'the same jobs on a ramdisk of guest 2\n' % runs)
    out.write('%-9s %-22s %12s %12s %5s %10s\n'
              % ('path', 'what', 'min', 'median', 'unit', 'x ramdisk'))
    for path in ('shared', 'messages'):
        for what, unit in jobs:
            xs = figs.get((path, 'nvme fio %s, drive' % what))
            ram = figs.get((path, 'nvme fio %s, ramdisk' % what))
            if path in bad or not xs or len(xs) < runs:
                out.write('%-9s %-22s   failed\n' % (path, what))
                continue
            x = '%10.3f' % (median(xs) / median(ram)) if ram else '%10s' % '-'
            out.write('%-9s %-22s %12.2f %12.2f %5s %s\n'
                      % (path, what, min(xs), median(xs), unit, x))


def vntb_table(res, out, runs):
    """The vNTB pairs of the bench: TCP throughput each way and ping round
    trips, min and median of the runs, per path; a path with a failed check
    has no figures."""
    figs, bad = {}, set()
    for label, what, value in res.measures:
        if label and label.startswith('vntb '):
            figs.setdefault((label.split()[-1], what), []).append(float(value.split()[0]))
    for _, _, group, status, _, _ in res.cases:
        if group.startswith('vntb ') and status != 'ok':
            bad.add(group.rsplit('(', 1)[-1].rstrip(')'))
    rows = (('tcp guest 2 to guest 1', 'vntb tcp guest 2 to guest 1', 'MB/s'),
            ('tcp guest 1 to guest 2', 'vntb tcp guest 1 to guest 2', 'MB/s'),
            ('iperf3 guest 2 to guest 1', 'vntb iperf3 guest 2 to guest 1', 'MB/s'),
            ('iperf3 guest 1 to guest 2', 'vntb iperf3 guest 1 to guest 2', 'MB/s'),
            ('ping guest 2 to guest 1', 'vntb ping guest 2 to guest 1, 100 packets, rtt avg', 'ms'),
            ('ping guest 1 to guest 2', 'vntb ping guest 1 to guest 2, 100 packets, rtt avg', 'ms'))
    out.write('\nvNTB network (ntb_netdev over pci-epf-vntb, Linux 6.12), %d runs each; '
              'TCP: %s; iperf3: 5 s; ping: average round trip of 100\n'
              % (runs, ', '.join('%d MiB %s' % (m, p)
                                 for p, m in guests.VNTB_BENCH_MIB.items())))
    out.write('%-9s %-24s %10s %10s %5s\n' % ('path', 'what', 'min', 'median', 'unit'))
    med = {}
    for path in guests.VNTB_BENCH_MIB:
        for name, what, unit in rows:
            xs = figs.get((path, what))
            if path in bad or not xs or len(xs) < runs:
                out.write('%-9s %-24s   failed\n' % (path, name))
                continue
            med[(path, name)] = median(xs)
            out.write('%-9s %-24s %10.2f %10.2f %5s\n' % (path, name, min(xs), median(xs), unit))
    sp = []
    for name, _, unit in rows:
        a, b = med.get(('shared', name)), med.get(('messages', name))
        if a and b:
            sp.append('%s %.1fx' % (name, a / b if unit == 'MB/s' else b / a))
        else:
            sp.append('%s failed' % name)
    out.write('vNTB shared path over messages, median: %s\n' % ', '.join(sp))


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
