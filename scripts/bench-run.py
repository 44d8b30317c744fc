#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-epc-bench run: boot guest 1 (qemu-epc, pcie-qemu-ep, an EPF) and
guest 2 (epf-bridge, the host driver), run the host-side suite, print KTAP
and a summary table.  Exit status 0 only if every case passed.

By default two guest pairs run in turn: the first with pcie-qemu-ep's
slave DMA channels (the kernel's pcitest.sh, then pcitest -d read and
write), the second with memcpy channels only (slave_dma=0: pcitest -d
read, write and copy, the path pci-epf-test takes for copy).  --bench runs
1 MiB read/write/copy with and without DMA instead and prints their times."""
import argparse
import os
import re
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, 'tests', 'lib'))
import guests        # noqa: E402
import initramfs     # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(prog='qemu-epc-bench run', description=__doc__)
    p.add_argument('--kernel', help='guest kernel image for both guests '
                   '(default: the project\'s 6.12 kernel, built by setup)')
    p.add_argument('--modules', metavar='DIR', help='directory of .ko files for '
                   'the guests (with --kernel: your pcie-qemu-ep.ko, EPF and host '
                   'drivers built for that kernel); every .ko below DIR goes in '
                   '/lib/modules of the image')
    p.add_argument('--epf-script', help='guest-1 set-up script run after the '
                   'controller is bound, $EPC names it (default: '
                   'tests/guest/epf-test.sh, pci-epf-test through configfs)')
    p.add_argument('--host-script', help='guest-2 script run once the function is '
                   'present; print "ok N name"/"not ok N name" lines '
                   '(default: the kernel\'s tools/pci/pcitest.sh)')
    p.add_argument('--accel', default='tcg', choices=('tcg', 'kvm'),
                   help='accelerator of both guests (default tcg)')
    p.add_argument('--host-smp', type=int, default=16,
                   help='vCPUs of guest 2; x86 fits about 200 MSI-X vectors '
                   'per CPU and pcitest asks for 2048 (default 16)')
    p.add_argument('--boot-timeout', type=int, default=240,
                   help='seconds for each guest to boot and set up (default 240)')
    p.add_argument('--case-timeout', type=int, default=120,
                   help='seconds for one test case (default 120)')
    p.add_argument('--rundir', help='where logs go (default build/runs/<time>)')
    p.add_argument('-q', '--quiet', action='store_true',
                   help='no KTAP stream, only the summary')
    p.add_argument('--bench', action='store_true',
                   help='1 MiB pcitest read/write/copy with and without DMA, '
                   'timed (what `qemu-epc-bench bench` runs)')
    return p.parse_args(argv)


class Results:
    def __init__(self, out, quiet):
        self.cases = []         # (name, group, ok, seconds, detail)
        self.out = out
        self.quiet = quiet

    def emit(self, line):
        if not self.quiet:
            self.out.write(line + '\n')
            self.out.flush()

    def add(self, name, group, ok, secs, detail=''):
        self.cases.append((name, group, ok, secs, detail))
        n = len(self.cases)
        d = ' # ' + detail if detail else ''
        self.emit('%s %d %s%s' % ('ok' if ok else 'not ok', n, name, d))

    def failed(self):
        return sum(1 for c in self.cases if not c[2])


def mode_tag(dma_mode):
    """What a case name of the memcpy-only pair carries after its args."""
    return '' if dma_mode == 'slave' else ' [slave_dma=0]'


def run_host_suite(pair, res, planned, case_timeout, dma_mode='slave'):
    """Turn the host guest's QEPC-CASE lines into results until
    QEPC-HOST-DONE; returns the reason it stopped early, or None."""
    idx = 0
    last = time.monotonic()
    tag = mode_tag(dma_mode)
    wait = case_timeout + 30
    while True:
        # liveness first, lines second: what a guest wrote just before it
        # exited is still read on this round
        host_alive, epf_alive = pair.host.alive(), pair.epf.alive()
        lines = pair.host.new_lines()
        now = time.monotonic()
        for line in lines:
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
                res.add('pcitest ' + args + tag, guests.case_group(args, dma_mode), ok,
                        took, detail)
                idx += 1
                last = now
            elif line.startswith(('ok ', 'not ok ')) and planned is None:
                ok = line.startswith('ok ')
                name = line.split(' ', 3 if not ok else 2)[-1]
                res.add(name, 'host script', ok, now - last)
                last = now
            elif line.startswith('QEPC-BOUND'):
                # the first case's time starts when the host driver is bound
                res.emit('# host driver: ' + line[11:])
                last = now
            elif line.startswith('QEPC-ERROR'):
                return line[11:]
            elif line.startswith('QEPC-HOST-DONE'):
                return None
        if not host_alive:
            return 'guest 2 exited before the suite finished (see %s)' % pair.host.console
        if not epf_alive:
            return 'guest 1 exited during the suite (see %s)' % pair.epf.console
        if now - last > wait:
            nxt = planned[idx] if planned and idx < len(planned) else 'the next case'
            return 'timed out after %d s waiting for "pcitest %s" to finish' % (wait, nxt)
        time.sleep(0.05)


def summary(res, out, rundir, elapsed):
    groups = []
    stats = {}
    for name, group, ok, secs, _ in res.cases:
        if group not in stats:
            groups.append(group)
            stats[group] = [0, 0, 0.0]
        stats[group][0 if ok else 1] += 1
        stats[group][2] += secs
    out.write('\n%-22s %6s %6s %9s\n' % ('group', 'pass', 'fail', 'time (s)'))
    # the pairs' kernel-log checks together, last
    groups.sort(key=lambda g: g == 'kernel logs')
    for g in groups:
        p, f, t = stats[g]
        out.write('%-22s %6d %6d %9.1f\n' % (g, p, f, t))
    fails = res.failed()
    out.write('%-22s %6d %6d %9.1f\n' % ('total', len(res.cases) - fails, fails, elapsed))
    out.write('logs: %s\n' % rundir)


def main(argv):
    a = parse_args(argv)
    t0 = time.monotonic()
    build = os.environ.get('QEMU_EPC_BUILD', os.path.join(TOP, 'build'))
    rundir = a.rundir or os.path.join(build, 'runs', time.strftime('%Y%m%d-%H%M%S'))
    os.makedirs(rundir, exist_ok=True)
    kdir = guests.kernel_dir()
    kernel = a.kernel or os.path.join(kdir, 'bzImage')
    if a.modules:
        mods = [os.path.join(d, f) for d, _, fs in os.walk(a.modules)
                for f in sorted(fs) if f.endswith('.ko')]
    elif a.kernel:
        sys.exit('run: --kernel needs --modules (pcie-qemu-ep.ko and the drivers '
                 'built for that kernel), unless they are all built in')
    else:
        found = initramfs.find_modules(os.path.join(kdir, 'modules'),
                                       {'pci-epf-test', 'pci_endpoint_test'})
        mods = list(found.values()) + [guests.kmod_path()]
        for m in mods:
            if not os.path.exists(m):
                sys.exit('run: %s missing (./qemu-epc-bench setup builds it)' % m)
    pcitest_sh = os.path.join(kdir, 'pcitest.sh')
    host_script = a.host_script or os.path.join(guests.GUEST_DIR, 'host-pcitest.sh')
    epf_script = a.epf_script or os.path.join(guests.GUEST_DIR, 'epf-test.sh')
    initrd = initramfs.build(os.path.join(rundir, 'initramfs.cpio.gz'), mods,
                             os.path.join(kdir, 'pcitest'), pcitest_sh,
                             epf_script, host_script, guests.SUITES)
    # (suite, DMA channels of pcie-qemu-ep, planned pcitest arguments)
    if a.host_script:
        phases = [('full', 'slave', None)]
    elif a.bench:
        phases = [('bench', 'slave', guests.SUITES['bench']),
                  ('bench-memcpy', 'memcpy', guests.SUITES['bench-memcpy'])]
    else:
        phases = [('full', 'slave', guests.pcitest_cases(pcitest_sh) + guests.SUITES['full']),
                  ('memcpy', 'memcpy', guests.SUITES['memcpy'])]

    res = Results(sys.stdout, a.quiet)
    res.emit('TAP version 13')
    if phases[0][2] is not None:
        res.emit('1..%d' % sum(len(p[2]) + 2 for p in phases))
    res.emit('# qemu-epc-bench run: logs in %s' % rundir)
    stopped_any = False
    rates = {}
    for n, (suite, dma_mode, planned) in enumerate(phases):
        prun = rundir if n == 0 else os.path.join(rundir, suite)
        os.makedirs(prun, exist_ok=True)
        if len(phases) > 1:
            res.emit('# guest pair %d of %d: pcie-qemu-ep with %s DMA channels, '
                     'logs in %s' % (n + 1, len(phases), dma_mode, prun))
        stopped = run_pair(a, res, prun, kernel, initrd, suite, dma_mode, planned)
        stopped_any = stopped_any or bool(stopped)
        rates[dma_mode] = epf_rates(os.path.join(prun, 'epf-console.log'))
    if phases[0][2] is None:
        res.emit('1..%d' % len(res.cases))
    fails = res.failed()
    res.emit('# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:0 error:0'
             % (len(res.cases) - fails, fails))
    summary(res, sys.stdout, rundir, time.monotonic() - t0)
    if a.bench:
        bench_table(res, rates, sys.stdout)
    return 1 if fails or stopped_any else 0


def run_pair(a, res, rundir, kernel, initrd, suite, dma_mode, planned):
    """Boot one guest pair, run its suite; returns why it stopped early."""
    tag = mode_tag(dma_mode)
    first = len(res.cases)
    pair = guests.Pair(rundir, kernel, initrd, accel=a.accel, host_smp=a.host_smp,
                       boot_timeout=a.boot_timeout, suite=suite, dma_mode=dma_mode,
                       case_timeout=a.case_timeout)
    stopped = None
    try:
        try:
            fn = pair.bring_up()
            res.emit('# ' + fn)
            stopped = run_host_suite(pair, res, planned, a.case_timeout, dma_mode)
        except guests.GuestError as e:
            stopped = str(e)
    finally:
        pair.stop()
    if stopped:
        res.emit('# stopped early: ' + stopped)
    if planned is not None:
        for args in planned[len(res.cases) - first:]:
            res.add('pcitest ' + args + tag, guests.case_group(args, dma_mode), False, 0,
                    'not run: ' + (stopped or 'no result'))
    for who in ('epf', 'host'):
        probs = [p for w, p in pair.kernel_problems() if w == who]
        res.add('guest %s kernel log has no oops, BUG or unexpected WARNING%s'
                % ('1 (epf)' if who == 'epf' else '2 (host)', tag), 'kernel logs',
                not probs, 0, '; '.join(probs[:3]))
    return stopped


EPF_RATE = re.compile(r'(READ|WRITE|COPY) => Size: (\d+) B, DMA: (YES|NO), '
                      r'Time: ([\d.]+) s, Rate: (\d+) KB/s')


def epf_rates(console):
    """pci-epf-test's own timing of each transfer: {(op, dma): seconds},
    the first of each kind."""
    out = {}
    try:
        with open(console, errors='replace') as f:
            for m in EPF_RATE.finditer(f.read()):
                out.setdefault((m.group(1), m.group(3) == 'YES'), float(m.group(4)))
    except OSError:
        pass
    return out


def bench_table(res, rates, out):
    """1 MiB read/write/copy: guest-2 wall time of each pcitest run and
    pci-epf-test's own transfer time, with and without DMA."""
    size = guests.BENCH_SIZE
    rows = []
    base = {}
    for name, group, ok, secs, _ in res.cases:
        m = re.match(r'pcitest (-d )?-([rwc]) -s %d(%s)?$'
                     % (size, re.escape(mode_tag('memcpy'))), name)
        if not m:
            continue
        dma = bool(m.group(1))
        mode = 'memcpy' if m.group(3) else 'slave'
        op = {'r': 'read', 'w': 'write', 'c': 'copy'}[m.group(2)]
        how = 'no DMA' if not dma else 'DMA, %s channel' % mode
        # the host's read is the endpoint's write, and the reverse
        epf_op = {'read': 'WRITE', 'write': 'READ', 'copy': 'COPY'}[op]
        epf = rates.get(mode, {}).get((epf_op, dma))
        if not dma and mode == 'slave':
            base[op] = secs
        rows.append((op, how, ok, secs, epf))
    out.write('\n1 MiB transfers (pcitest in guest 2; EPF time as pci-epf-test '
              'reports it; MB = 10^6 bytes)\n')
    out.write('%-6s %-22s %9s %9s %12s %9s %9s\n' % ('op', 'how', 'time (s)', 'MB/s',
                                                  'EPF time (s)', 'EPF MB/s',
                                                  'speed-up'))
    for op, how, ok, secs, epf in sorted(rows, key=lambda r: 'rwc'.index(r[0][0])):
        if not ok:
            out.write('%-6s %-22s   failed\n' % (op, how))
            continue
        mbs = size / secs / 1e6 if secs else float('inf')
        e = ('%12.3f %9.1f' % (epf, size / epf / 1e6)) if epf else '%12s %9s' % ('-', '-')
        up = ('%8.1fx' % (base[op] / secs)) if op in base and secs else '%9s' % '-'
        out.write('%-6s %-22s %9.2f %9.2f %s %s\n' % (op, how, secs, mbs, e, up))


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
