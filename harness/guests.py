# SPDX-License-Identifier: GPL-2.0-or-later
"""Two booted guests linked by qemu-epc and epf-bridge: the end-to-end
harness behind `qemu-epc-bench run` and the end-to-end tests.

Guest 1 ("epf") runs the endpoint side, guest 2 ("host") the host side;
both boot the same kernel and initramfs (guest/init picks the role
from the command line).  Each guest writes kernel messages to ttyS0 and
"QEPC-..." progress lines to ttyS1, both kept as files in the run
directory.  Every wait has a timeout and names what it waited for."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import initramfs

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUEST_DIR = os.path.join(TOP, 'guest')
# the tree's launcher, or another (tests/pkg: the installed one)
LAUNCH = os.environ.get('QEMU_EPC_LAUNCH', os.path.join(TOP, 'qemu-epc-launch'))
QEMU = os.environ.get('QEMU', 'qemu-system-x86_64')
FUNCTION = '0000:00:04.0'       # where guest 2 gets the epf-bridge


class GuestError(Exception):
    pass


SERIES = ('6.12', '7.3')      # the kernel series the bench boots


def kernel_dir(series='6.12'):
    """Build (or find cached) the project's guest kernel of a series;
    returns its dir."""
    r = subprocess.run([os.path.join(TOP, 'scripts', 'guest-kernel.sh'), '--series', series],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    if r.returncode:
        raise GuestError('guest kernel build failed:\n' + r.stderr)
    return r.stdout.strip().splitlines()[-1]


def kmod_path(series='6.12'):
    """pcie-qemu-ep built for a series' guest kernel: kmod/ itself for
    6.12, a copy under BUILD/kmod-SERIES for the others."""
    if series == '6.12':
        return os.path.join(TOP, 'kmod', 'pcie-qemu-ep.ko')
    build = os.environ.get('QEMU_EPC_BUILD', os.path.join(TOP, 'build'))
    return os.path.join(build, 'kmod-' + series, 'kmod', 'pcie-qemu-ep.ko')


def iperf3_files():
    """iperf3 and its libraries for a guest image: (path in the image,
    file) pairs; setup unpacks bookworm's packages and names the root in
    BUILD/iperf3-root."""
    build = os.environ.get('QEMU_EPC_BUILD', os.path.join(TOP, 'build'))
    try:
        with open(os.path.join(build, 'iperf3-root')) as f:
            root = f.read().strip()
    except OSError:
        raise GuestError('%s/iperf3-root missing: ./qemu-epc-bench setup fetches iperf3'
                         % build)
    return initramfs.program_files(os.path.join(root, 'usr', 'bin', 'iperf3'),
                                   os.path.join(root, 'usr', 'lib', 'x86_64-linux-gnu'))


def kselftest_cases(binary):
    """The cases of a kselftest_harness binary, in the order it runs them
    ("fixture.variant.test"), from its own -l listing: a table of fixture,
    variant and test columns, one section per fixture."""
    out = subprocess.run([binary, '-l'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=60).stdout
    lines = out.splitlines()
    head = next((l for l in lines if 'FIXTURE' in l and 'VARIANT' in l), None)
    if head is None:
        raise GuestError('%s -l printed no table:\n%s' % (binary, out))
    vcol, tcol = head.index('VARIANT'), head.index('TEST')
    sections, cur = [], None
    for l in lines:
        if l is head or not l.strip():
            continue
        if l.startswith('---'):
            cur = None
            continue
        fixture, variant, test = l[:vcol].strip(), l[vcol:tcol].strip(), l[tcol:].strip()
        if fixture:
            cur = (fixture, [], [])
            sections.append(cur)
        if cur is None:
            continue
        if variant:
            cur[1].append(variant)
        if test:
            cur[2].append(test)
    return ['.'.join(x for x in (f, v, t) if x)
            for f, variants, tests in sections for v in (variants or ['']) for t in tests]


def kselftest_group(case):
    """Summary-table group of a pci_endpoint kselftest case ("fnK CASE":
    of function K, run --functions)."""
    fn = ''
    if re.match(r'fn\d+ ', case):
        fn, case = case.split(' ', 1)
        fn += ' '
    test = case.rsplit('.', 1)[-1]
    dma = ' (DMA)' if '.dma.' in case else ''
    return fn + {'BAR_TEST': 'BAR', 'CONSECUTIVE_BAR_TEST': 'BAR',
            'BAR_SUBRANGE_TEST': 'BAR subrange', 'LEGACY_IRQ_TEST': 'INTx',
            'MSI_TEST': 'MSI', 'MSIX_TEST': 'MSI-X', 'READ_TEST': 'read' + dma,
            'WRITE_TEST': 'write' + dma, 'COPY_TEST': 'copy' + dma,
            'DOORBELL_TEST': 'doorbell'}.get(test, 'other')


# the checks of guest/host-vntb.sh, in order (run --epf vntb)
VNTB_CASES = (
    'vntb ntb_hw_epf bound, interface eth0 up',
    'vntb link up: guest 1 answers',
    'vntb ping guest 2 to guest 1, 100 packets',
    'vntb ping guest 1 to guest 2, 100 packets',
    'vntb tcp 64 MiB guest 2 to guest 1, sha256 matches',
    'vntb tcp 64 MiB guest 1 to guest 2, sha256 matches',
    'vntb iperf3 guest 2 to guest 1, 5 s',
    'vntb iperf3 guest 1 to guest 2, 5 s',
    'vntb link down and up: function gone and back, ntb_hw_epf bound again',
    'vntb ping after link down and up, 100 packets',
)
# what `run --epf nvme` checks (guest/host-nvme.sh), in order
NVME_CASES = (
    'nvme controller and namespace: model and size as guest 1 set them',
    'nvme more than one I/O queue, an MSI-X vector each',
    'nvme 64 MiB pattern written and read back with O_DIRECT, byte-exact',
    'nvme filesystem: made, mounted, a file tree copied, checksums after remount',
    'nvme fio verify=crc32c sequential and random, 4 jobs, 0 errors',
    'nvme link down and up while idle: controller reset, I/O works again',
    'nvme link down during I/O: the I/O ends with errors, no hang',
)


def nvme_group(case):
    """The summary row of an NVMe check."""
    for word in ('fio', 'link down', 'filesystem'):
        if word in case:
            return 'nvme ' + word
    return 'nvme I/O' if 'MiB' in case else 'nvme set-up'


def fio_files():
    """fio for a guest image (built static by setup, path in BUILD/fio)."""
    build = os.environ.get('QEMU_EPC_BUILD', os.path.join(TOP, 'build'))
    try:
        with open(os.path.join(build, 'fio')) as f:
            path = f.read().strip()
    except OSError:
        raise GuestError('%s/fio missing: ./qemu-epc-bench setup builds fio' % build)
    return [('usr/bin/fio', path)]


# the bench's vNTB transfers: MiB each way on the shared path, and through
# messages (where each access is a socket round trip)
VNTB_BENCH_MIB = {'shared': 64, 'messages': 1}


def vntb_cases(mib=64):
    return [c.replace('64 MiB', '%d MiB' % mib) for c in VNTB_CASES]


def vntb_group(case):
    """The summary row of a vNTB check."""
    for word in ('ping', 'tcp', 'iperf3', 'link down'):
        if word in case:
            return 'vntb ' + word
    return 'vntb set-up'


def pcitest_cases(pcitest_sh):
    """The pcitest invocations of pcitest.sh, in order, found by running
    the script on this machine with a pcitest that only records them."""
    tmp = tempfile.mkdtemp(prefix='qepc-dry-')
    try:
        fake = os.path.join(tmp, 'pcitest')
        with open(fake, 'w') as f:
            f.write('#!/bin/sh\necho "CASE $*"\n')
        os.chmod(fake, 0o755)
        out = subprocess.run(['sh', pcitest_sh], stdout=subprocess.PIPE,
                             env=dict(os.environ, PATH=tmp + ':' + os.environ['PATH']),
                             universal_newlines=True, timeout=60).stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [l[5:] for l in out.splitlines() if l.startswith('CASE ')]


SIZES = (1, 1024, 1025, 1024000, 1024001)     # pcitest.sh's transfer sizes
BENCH_SIZE = 1 << 20
# the largest transfer pcitest makes: pci_endpoint_test allocates size +
# its 4 KiB alignment with kmalloc, at most 4 MiB in the guest kernels
BENCH_MAX = (4 << 20) - 4096
BENCH_RUNS = 5


def _dma(ops, sizes=SIZES):
    return ['-d -%s -s %d' % (op, n) for op in ops for n in sizes]


# What the default host script runs in guest 2 for qepc.suite=NAME, after
# the kernel's pcitest.sh for "full".  pci-epf-test (6.12) moves data with
# private slave channels for read and write, but copies with DMA only over
# a memcpy channel: the "memcpy" suites run with the driver's
# slave_dma=0, where it takes the memcpy path for all three.
SUITES = {
    'full': _dma('rw'),
    'memcpy': ['-i 1'] + _dma('rwc'),
}

# run --functions N: what guest/epf-test.sh gives function K (pci-epf-test
# configfs attributes), and the pcitest cases run against each function's
# /dev/pci-endpoint-test.K.  Function 0 is the default one; the others get
# another ID pci_endpoint_test knows (TI DRA72x, then DRA74x again with other
# subsystem IDs), INTB/C/D, fewer MSI and MSI-X vectors and another class.
FUNCTION_SETUP = [
    # (device ID, MSI vectors, MSI-X vectors, interrupt pin)
    (0xb500, 32, 2048, 1), (0xb501, 8, 64, 2), (0xb500, 4, 16, 3),
    (0xb501, 2, 8, 4), (0xb500, 1, 4, 1), (0xb501, 1, 2, 2),
    (0xb500, 1, 1, 3), (0xb501, 1, 1, 4),
]


# on 7.3 the pci_endpoint kselftest runs against each function unchanged: it
# tests every MSI and MSI-X vector up to 32 and 2048 (and skips from the
# first one a function lacks), so there every function offers all of them
FUNCTION_SETUP_KSELFTEST = [(dev, 32, 2048, pin) for dev, _, _, pin in FUNCTION_SETUP]


def function_cases(k):
    """pcitest.sh's kinds of case against function k: every BAR, INTx, the
    first, second and last MSI and MSI-X vector, read/write/copy of
    pcitest.sh's sizes, and DMA read and write."""
    _, msi, msix, _ = FUNCTION_SETUP[k]
    d = '-D /dev/pci-endpoint-test.%d ' % k
    return ([d + '-b %d' % b for b in range(6)] + [d + '-i 0', d + '-l', d + '-i 1'] +
            [d + '-m %d' % v for v in sorted({1, 2, msi})] + [d + '-i 2'] +
            [d + '-x %d' % v for v in sorted({1, 2, msix})] + [d + '-i 1'] +
            [d + '-%s -s %d' % (op, n) for op in 'rwc' for n in SIZES] +
            [d + '-d -%s -s %d' % (op, n) for op in 'rw' for n in SIZES])


def functions_suite(n):
    return [c for k in range(n) for c in function_cases(k)]


def beside_cases():
    """run --epf vntb --functions 2: the pcitest cases against function 1,
    a pci-epf-test beside pci-epf-vntb (function 0), its only
    /dev/pci-endpoint-test.  The controller's BARs 0, 2 and 4 are 64-bit
    only for ntb_hw_epf, so pci-epf-test has those three."""
    return [c for c in function_cases(1) if '-b ' not in c or
            c.endswith(('-b 0', '-b 2', '-b 4'))]


def beside_case(args):
    """pcitest arguments of function_cases(1) as host-beside.sh runs them
    (the one device: no -D)."""
    return args.replace('-D /dev/pci-endpoint-test.1 ', '')


def bench_suites(runs=BENCH_RUNS):
    """The suites of `qemu-epc-bench bench`: each transfer `runs` times,
    then the BAR tests as many times; on the shared path, through messages
    (shmem off), and with DMA (copy over a memcpy channel).  "!" lines run
    the memcpy baseline of each size in guest 2."""
    sizes = (BENCH_SIZE, BENCH_MAX)
    rep = range(runs)
    bars = ['-b %d' % b for _ in rep for b in range(6)]
    return {
        'bench-shared': ['-i 1'] + ['!qepc-memcpy %d %d' % (n, runs) for n in sizes] +
                        ['-%s -s %d' % (op, n) for n in sizes for op in 'rwc' for _ in rep] +
                        ['-d -%s -s %d' % (op, n) for n in sizes for op in 'rw' for _ in rep] +
                        bars,
        'bench-memcpy': ['-i 1'] + ['-d -c -s %d' % n for n in sizes for _ in rep],
        'bench-messages': ['-i 1'] + ['-%s -s %d' % (op, n) for n in sizes
                                      for op in 'rwc' for _ in rep] + bars,
    }


def case_group(args, dma_mode='slave'):
    """Summary-table group of a pcitest invocation."""
    a = args.split()
    dma = (' (DMA)' if dma_mode == 'slave' else ' (DMA memcpy)') if '-d' in a else ''
    # a case against one function of several: its group is the function's
    fn = ''
    if '-D' in a and a.index('-D') + 1 < len(a):
        fn = 'fn%s ' % a[a.index('-D') + 1].rsplit('.', 1)[-1]
    for opt, name in (('-b', 'BAR'), ('-l', 'INTx'), ('-m', 'MSI'),
                      ('-x', 'MSI-X'), ('-i', 'set IRQ type'),
                      ('-r', 'read'), ('-w', 'write'), ('-c', 'copy')):
        if opt in a:
            return fn + name + dma
    return fn + 'other'


class Guest:
    def __init__(self, name, rundir, kernel, initrd, append, qemu_args,
                 accel='tcg', smp=1, mem='512M', machine='q35', shared_ram=True):
        """shared_ram: the guest's RAM is a shared memfd, which the devices
        offer each other (their shmem property is on by default)."""
        self.name = name
        self.console = os.path.join(rundir, name + '-console.log')
        self.results = os.path.join(rundir, name + '-ttyS1.log')
        self.qemu_log = os.path.join(rundir, name + '-qemu.log')
        for p in (self.console, self.results):
            open(p, 'w').close()
        ram = []
        if shared_ram:
            ram = ['-object', 'memory-backend-memfd,id=ram,size=%s,share=on' % mem]
            machine += ',memory-backend=ram'
        accel_opt = accel + os.environ.get('QEPC_ACCEL_OPT_' + name.upper(), '')
        args = [LAUNCH, QEMU, '-machine', machine, '-accel', accel_opt] + ram + [
                '-smp', str(smp), '-m', mem, '-nodefaults', '-display', 'none',
                '-no-reboot', '-kernel', kernel, '-initrd', initrd,
                '-append', append,
                '-chardev', 'file,id=con,path=' + self.console,
                '-serial', 'chardev:con',
                '-chardev', 'file,id=res,path=' + self.results,
                '-serial', 'chardev:res'] + list(qemu_args)
        if accel == 'kvm':
            args += ['-cpu', 'max']
        with open(self.qemu_log, 'w') as log:
            log.write(' '.join(args) + '\n')
            log.flush()
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        self.pos = 0
        self.pending = ''
        self.unread = []     # lines read past the one wait_for returned

    def alive(self):
        return self.proc.poll() is None

    def new_lines(self):
        """QEPC- and KTAP result lines written since the last call."""
        with open(self.results, 'rb') as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        text = self.pending + data.decode('utf-8', 'replace').replace('\r', '')
        lines = text.split('\n')
        self.pending = lines.pop()
        out, self.unread = self.unread, []
        for l in lines:
            if 'QEPC-' in l:
                out.append(l[l.index('QEPC-'):])
            elif re.match(r'(not )?ok \d+ ', l):      # a host script's KTAP
                out.append(l.strip())
            elif l.startswith('# Totals: '):         # and its totals
                out.append(l.strip())
        return out

    def wait_for(self, prefix, timeout, what):
        """Wait for a line starting with QEPC-<prefix>; an ERROR line, the
        guest's exit or the timeout ends the wait with GuestError."""
        end = time.monotonic() + timeout
        while True:
            alive = self.alive()     # before reading: no line is lost at exit
            lines = self.new_lines()
            for i, line in enumerate(lines):
                if line.startswith('QEPC-ERROR'):
                    raise GuestError('%s guest: %s' % (self.name, line[11:]))
                if line.startswith('QEPC-' + prefix):
                    # what followed is the next reader's
                    self.unread = lines[i + 1:]
                    return line
            if not alive:
                raise GuestError('%s guest: QEMU exited (status %s) while waiting for %s; '
                                 'see %s and %s' % (self.name, self.proc.returncode, what,
                                                    self.qemu_log, self.console))
            if time.monotonic() > end:
                raise GuestError('%s guest: timed out after %d s waiting for %s; see %s'
                                 % (self.name, timeout, what, self.console))
            time.sleep(0.05)

    def stop(self, timeout=10):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kernel_problems(self, expected=()):
        """Oops, BUG, WARNING or KASAN lines in the console, minus the
        expected ones (regexps)."""
        try:
            with open(self.console, errors='replace') as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        bad = re.compile(r'(Oops|BUG:|WARNING:|KASAN|kmemleak:|general protection|'
                         r'Kernel panic|hung_task|blocked for more than|soft lockup)')
        out = []
        for l in lines:
            if bad.search(l) and not any(re.search(e, l) for e in expected):
                out.append(l.strip())
        return out


# 6.12 and 7.3 warn once on x86 at the first EPC registration: the
# architecture has no generic PCI domains (pci-epc-core.c, __pci_epc_create;
# 7.3 words the WARNING line differently)
EPF_EXPECTED = (r'WARNING: .*drivers/pci/endpoint/pci-epc-core\.c:\d+ (at )?__pci_epc_create',)


class Pair:
    """Guest 1 with qemu-epc and guest 2 with epf-bridge, linked by a
    Unix socket in the run directory."""

    def __init__(self, rundir, kernel, initrd, accel='tcg', host_smp=16,
                 boot_timeout=240, suite='full', dma_mode='slave',
                 case_timeout=120, epc_props='', series='6.12', shmem=True, env=None,
                 epf_smp=1, ctl=False, functions=1, function_setup=FUNCTION_SETUP):
        """suite: the case list guest 2's default host script runs (SUITES);
        dma_mode: "slave" or "memcpy", the DMA channels pcie-qemu-ep offers;
        epc_props: more qemu-epc properties, ",name=value...";
        series: the kernel series booted ('' for a user's kernel);
        shmem: both guests' RAM shared and offered (the direct data path),
        else every access goes through messages; env: {NAME: VALUE} for
        both guests' scripts, as QEPC_NAME; epf_smp: vCPUs of guest 1;
        ctl: a serial line between the guests (ttyS2 in both, a socket in
        the run directory) for scripts that coordinate, not through the
        device under test; functions: qemu-epc's functions=, and as many
        epf-bridges in guest 2 (04.0 with multifunction=on, 04.1, ...),
        QEPC_FUNCTIONS for the scripts, and QEPC_FUNCk from function_setup
        for guest/epf-test.sh."""
        self.shmem = shmem
        dev = '' if shmem else ',shmem=off'
        if functions > 1:
            env = dict(env or {}, FUNCTIONS=functions)
            for k in range(1, functions):
                env['FUNC%d' % k] = '%#x,%d,%d,%d' % function_setup[k]
            epc_props += ',functions=%d' % functions
        self.series = series
        self.rundir = rundir
        self.sock = os.path.join(rundir, 'epc.sock')
        self.boot_timeout = boot_timeout
        # no_timer_check: under TCG on a busy machine the boot-time check
        # of the IO-APIC timer can miss its ticks and panic ("timer doesn't
        # work through Interrupt-remapped IO-APIC"); the timer is emulated
        common = ('console=ttyS0 panic=-1 printk.time=1 no_timer_check '
                  'qepc.wait=%d qepc.suite=%s '
                  'qepc.dma=%s qepc.case_timeout=%d'
                  % (boot_timeout, suite, dma_mode, case_timeout))
        common += ''.join(' qepc.env.%s=%s' % kv for kv in sorted((env or {}).items()))
        ctl_sock = os.path.join(rundir, 'ctl.sock')
        ctl1 = ['-chardev', 'socket,id=ctl,path=%s,server=on,wait=off' % ctl_sock,
                '-serial', 'chardev:ctl'] if ctl else []
        ctl2 = ['-chardev', 'socket,id=ctl,path=%s,reconnect-ms=200' % ctl_sock,
                '-serial', 'chardev:ctl'] if ctl else []
        self.epf = Guest('epf', rundir, kernel, initrd,
                         common + ' qepc.role=epf',
                         ['-device', 'qemu-epc,socket=' + self.sock + epc_props + dev] + ctl1,
                         accel=accel, smp=epf_smp, shared_ram=shmem)
        # interrupt remapping: x86 gives a function more than one MSI
        # vector only behind it; no DMA translation: bus addresses are
        # guest-physical, so the bridge offers guest 2's RAM as it is
        self.host = Guest('host', rundir, kernel, initrd,
                          common + ' qepc.role=host intremap=on',
                          ['-device', 'intel-iommu,intremap=on,eim=off,dma-translation=off'] +
                          [a for k in range(functions) for a in (
                              '-device', 'epf-bridge,socket=%s,addr=04.%d%s%s'
                              % (self.sock, k, ',multifunction=on' if functions > 1 and
                                 k == 0 else '', dev))] + ctl2,
                          accel=accel, smp=host_smp,
                          machine='q35,kernel-irqchip=split', shared_ram=shmem)

    def bring_up(self):
        """Endpoint configured and started, function found by the host."""
        self.epf.wait_for('EPF-READY', self.boot_timeout,
                          'guest 1 to boot, bind the controller and start the EPF')
        return self.host.wait_for('FUNCTION', self.boot_timeout,
                                  'guest 2 to boot and find the function by rescan')

    def stop(self):
        self.host.stop()
        self.epf.stop()

    def kernel_problems(self):
        return ([('epf', p) for p in self.epf.kernel_problems(EPF_EXPECTED)] +
                [('host', p) for p in self.host.kernel_problems()])
