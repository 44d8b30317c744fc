#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-epc-bench run: boot guest 1 (qemu-epc, pcie-qemu-ep, an EPF) and
guest 2 (epf-bridge, the host driver), run the host-side suite, print KTAP
and a summary table.  Exit status 0 only if every case passed."""
import argparse
import os
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


def run_host_suite(pair, res, planned, case_timeout):
    """Turn the host guest's QEPC-CASE lines into results until
    QEPC-HOST-DONE; returns the reason it stopped early, or None."""
    idx = 0
    last = time.monotonic()
    wait = case_timeout + 30
    while True:
        # liveness first, lines second: what a guest wrote just before it
        # exited is still read on this round
        host_alive, epf_alive = pair.host.alive(), pair.epf.alive()
        lines = pair.host.new_lines()
        now = time.monotonic()
        for line in lines:
            if line.startswith('QEPC-CASE '):
                rc, args, out = (line[10:].split('|', 2) + ['', ''])[:3]
                ok = rc == '0' and 'NOT OKAY' not in out and 'FAILED' not in out
                detail = ''
                if not ok:
                    detail = ('timed out after %d s' % case_timeout if rc in ('124', '143')
                              else 'exit %s: %s' % (rc, out.strip()))
                res.add('pcitest ' + args, guests.case_group(args), ok, now - last, detail)
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
                             epf_script, host_script)
    planned = None if a.host_script else guests.pcitest_cases(pcitest_sh)

    res = Results(sys.stdout, a.quiet)
    res.emit('TAP version 13')
    if planned is not None:
        res.emit('1..%d' % (len(planned) + 2))
    res.emit('# qemu-epc-bench run: logs in %s' % rundir)
    pair = guests.Pair(rundir, kernel, initrd, accel=a.accel,
                       host_smp=a.host_smp, boot_timeout=a.boot_timeout)
    stopped = None
    try:
        try:
            fn = pair.bring_up()
            res.emit('# ' + fn)
            stopped = run_host_suite(pair, res, planned, a.case_timeout)
        except guests.GuestError as e:
            stopped = str(e)
    finally:
        pair.stop()
    if stopped:
        res.emit('# stopped early: ' + stopped)
    if planned is not None:
        done = len(res.cases)
        for args in planned[done:]:
            res.add('pcitest ' + args, guests.case_group(args), False, 0,
                    'not run: ' + (stopped or 'no result'))
    for who in ('epf', 'host'):
        probs = [p for w, p in pair.kernel_problems() if w == who]
        res.add('guest %s kernel log has no oops, BUG or unexpected WARNING'
                % ('1 (epf)' if who == 'epf' else '2 (host)'), 'kernel logs',
                not probs, 0, '; '.join(probs[:3]))
    if planned is None:
        res.emit('1..%d' % len(res.cases))
    fails = res.failed()
    res.emit('# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:0 error:0'
             % (len(res.cases) - fails, fails))
    summary(res, sys.stdout, rundir, time.monotonic() - t0)
    return 1 if fails or stopped else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
