# SPDX-License-Identifier: GPL-2.0-or-later
"""pcie-qemu-ep's load/unload and unbind/rebind cycle (the one of
test_e2e_driver.DriverLifecycle, tests/guest/driver-cycle.sh) on the debug
variant of the guest kernel (guest/kernel-debug.config: KASAN and
kmemleak): no KASAN report, no kmemleak suspect at all (the total is
asserted, nothing filtered).  And the instruments work: a module with a
planted leak and a planted out-of-bounds read (tests/guest/planted/) is
caught by both, in a boot of its own."""
import os
import re
import shutil
import subprocess
import time
import unittest

import artefacts
import e2e
import guests

# the guest kernels these tests boot (tests/run.py runs the tests that
# need only 6.12 first, while set-up may still build the others)
KERNELS = ('debug',)

TOP = artefacts.TOP
BUILD = artefacts.build_dir()
# a first build of the debug kernel: about 12 min on 2 cores
BUILD_TIMEOUT = 3600
# unload/reload cycles under KASAN (each about 0.7 s under TCG): a leak per
# cycle shows as that many kmemleak objects, and the driver's paths are the
# same in every cycle; the plain kernel's test runs 100
CYCLES = 25

# a kmemleak suspect is ours if its allocation backtrace names one of these
OURS = re.compile(r'pcie_qemu_ep|qep_|pci_epc|pci_epf|dma', re.I)
# frames of the allocator itself, skipped when naming an allocation site
ALLOCATOR = re.compile(r'kmemleak|alloc|slab|kmem_cache|kstrdup|kmemdup|_noprof')

# the boot messages of kmemleak: the test reads its report itself
# (QEPC-KMEMLEAK lines) and judges each suspect by its backtrace; the
# scan's own summary line is the report's, not a kernel problem
DEBUG_EXPECTED = guests.EPF_EXPECTED + (
    r'kmemleak: Kernel memory leak detector initialized',
    r'kmemleak: \d+ new suspected memory leaks \(see /sys/kernel/debug/kmemleak\)',
)


def debug_kernel():
    """Build (or find cached) the debug guest kernel and the driver built
    against it; returns (kernel dir, path of pcie-qemu-ep.ko)."""
    t0 = time.monotonic()
    kdir = artefacts.kernel_dir(variant='debug', timeout=BUILD_TIMEOUT)
    if time.monotonic() - t0 > 60:
        print('debug guest kernel built in %.0f s' % (time.monotonic() - t0))
    return kdir, os.path.join(BUILD, 'kmod-debug', 'kmod', 'pcie-qemu-ep.ko')


def kmemleak_objects(lines):
    """The report (the QEPC-KMEMLEAK lines, prefix removed) split into
    objects: (header line, backtrace lines)."""
    objs = []
    in_bt = False
    for l in lines:
        if l.startswith('unreferenced object'):
            objs.append((l, []))
            in_bt = False
        elif objs and l.strip().startswith('backtrace'):
            in_bt = True
        elif objs and in_bt and l.strip():
            objs[-1][1].append(l.strip())
    return objs


def build_planted(kdir, rundir):
    """qepc-planted.ko (tests/guest/planted/) built against the debug
    kernel in a copy under rundir; returns its path."""
    src = os.path.join(rundir, 'planted')
    shutil.copytree(os.path.join(e2e.TEST_GUEST_DIR, 'planted'), src)
    r = subprocess.run(['make', '-C', os.path.join(kdir, 'linux'), 'M=' + src, 'modules'],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=600)
    ko = os.path.join(src, 'qepc-planted.ko')
    if r.returncode or not os.path.exists(ko):
        raise guests.GuestError('building qepc-planted.ko failed:\n' + r.stdout[-3000:])
    return ko


class DebugKernelDriverLifecycle(unittest.TestCase):
    def test_cycle_under_kasan_and_kmemleak(self):
        kdir, ko = debug_kernel()
        rundir = e2e.test_rundir('driver-debug')
        t0 = time.monotonic()
        try:
            g, raw = e2e.driver_cycle_guest(
                kdir, ko, rundir, 1200,
                'the driver cycle and the kmemleak scans in guest 1 (debug kernel)',
                env={'CYCLES': CYCLES})
        except (guests.GuestError, artefacts.ArtefactError) as e:
            self.fail(str(e))
        plan, _, wrong = e2e.script_results(raw)
        self.assertIsNone(wrong, 'log in %s' % rundir)
        report = [l[len('QEPC-KMEMLEAK '):] for l in raw if l.startswith('QEPC-KMEMLEAK ')]
        end = [l for l in raw if l.startswith('QEPC-KMEMLEAK-END')]
        self.assertIn('kmemleak scanned twice after the cycle', plan,
                      'no kmemleak in the debug kernel? log in %s' % rundir)
        self.assertEqual(len(end), 1, 'kmemleak report not passed on; log in %s' % rundir)
        objs = kmemleak_objects(report)
        self.assertEqual(len(objs), int(end[0].split()[1]), end)
        ours = [o for o in objs if any(OURS.search(b) for b in o[1])]
        # for a human: the total, and where the others were allocated
        others = {}
        for hdr, bt in objs:
            if (hdr, bt) not in ours:
                frames = [re.sub(r'^\[<[0-9a-f]+>\] |\+0x.*', '', b) for b in bt]
                key = next((f for f in frames if not ALLOCATOR.search(f)), '?')
                others[key] = others.get(key, 0) + 1
        print('\n%s: %d s, kmemleak: %d unreferenced objects, %d from pcie-qemu-ep, '
              'the endpoint core or dmaengine; the others by first frame: %s'
              % (rundir, time.monotonic() - t0, len(objs), len(ours),
                 sorted(others.items(), key=lambda kv: -kv[1])))
        problems = g.kernel_problems(DEBUG_EXPECTED)
        self.assertEqual(
            len(objs), 0,
            '%d kmemleak suspects, %d of them of ours (report in %s), the first: %s%s'
            % (len(objs), len(ours), g.results,
               ''.join('\n  %s %s' % (hdr, ' < '.join(bt[:6]))
                       for hdr, bt in (ours or objs)[:5]),
               '\nand kernel problems: %s' % problems[:5] if problems else ''))
        self.assertEqual(problems, [], 'kernel log: %s' % g.console)

    def test_planted_bugs_are_caught(self):
        """The instruments themselves: a leak and an out-of-bounds read
        planted in a module of their own are both reported."""
        kdir, ko = debug_kernel()
        rundir = e2e.test_rundir('planted')
        try:
            planted = build_planted(kdir, rundir)
            g, raw = e2e.driver_cycle_guest(
                kdir, ko, rundir, 600, 'qepc-planted loaded and a kmemleak scan '
                '(debug kernel)', script='planted.sh', more=[planted])
        except guests.GuestError as e:
            self.fail(str(e))
        _, _, wrong = e2e.script_results(raw)
        self.assertIsNone(wrong, 'log in %s' % rundir)
        report = [l[len('QEPC-KMEMLEAK '):] for l in raw if l.startswith('QEPC-KMEMLEAK ')]
        leaks = [o for o in kmemleak_objects(report)
                 if any('qepc_planted_leak' in b for b in o[1])]
        self.assertEqual(len(leaks), 1, 'kmemleak did not report the planted leak '
                         '(report in %s)' % g.results)
        with open(g.console, errors='replace') as f:
            console = f.read()
        self.assertRegex(console, r'BUG: KASAN: slab-out-of-bounds in qepc_planted_oob',
                         'KASAN did not report the planted read (console %s)' % g.console)
        self.assertRegex(console, r'Read of size 1 at addr',
                         'console %s' % g.console)
        print('\n%s: planted leak reported by kmemleak (%s), planted read by KASAN'
              % (rundir, leaks[0][0]))


if __name__ == '__main__':
    unittest.main()
