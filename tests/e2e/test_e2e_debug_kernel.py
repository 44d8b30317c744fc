# SPDX-License-Identifier: GPL-2.0-or-later
"""pcie-qemu-ep's load/unload and unbind/rebind cycle (the one of
test_e2e_driver.DriverLifecycle, tests/guest/driver-cycle.sh) on the debug
variant of the guest kernel (guest/kernel-debug.config: KASAN and
kmemleak): no KASAN report, and no kmemleak suspect allocated by the
driver, the endpoint core or the dmaengine."""
import os
import re
import subprocess
import time
import unittest

import e2e
import guests

TOP = guests.TOP
BUILD = os.environ.get('QEMU_EPC_BUILD', os.path.join(TOP, 'build'))
# a first build of the debug kernel: about 12 min on 2 cores
BUILD_TIMEOUT = 3600

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
    try:
        r = subprocess.run([os.path.join(TOP, 'scripts', 'guest-kernel.sh'), '--variant', 'debug'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, env=dict(os.environ, QEMU_EPC_BUILD=BUILD),
                           timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise guests.GuestError('timed out after %d s waiting for the debug guest kernel '
                                'and pcie-qemu-ep to build (scripts/guest-kernel.sh '
                                '--variant debug)' % BUILD_TIMEOUT)
    if r.returncode:
        raise guests.GuestError('debug guest kernel build failed:\n' + r.stderr)
    if time.monotonic() - t0 > 60:
        print('debug guest kernel built in %.0f s' % (time.monotonic() - t0))
    return (r.stdout.strip().splitlines()[-1],
            os.path.join(BUILD, 'kmod-debug', 'kmod', 'pcie-qemu-ep.ko'))


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


class DebugKernelDriverLifecycle(unittest.TestCase):
    def test_cycle_under_kasan_and_kmemleak(self):
        kdir, ko = debug_kernel()
        rundir = e2e.test_rundir('driver-debug')
        t0 = time.monotonic()
        try:
            g, raw = e2e.driver_cycle_guest(
                kdir, ko, rundir, 1200,
                'the driver cycle and the kmemleak scans in guest 1 (debug kernel)')
        except guests.GuestError as e:
            self.fail(str(e))
        lines, wrong = e2e.script_results(raw)
        self.assertIsNone(wrong, 'log in %s' % rundir)
        report = [l[len('QEPC-KMEMLEAK '):] for l in raw if l.startswith('QEPC-KMEMLEAK ')]
        end = [l for l in raw if l.startswith('QEPC-KMEMLEAK-END')]
        self.assertIn('ok kmemleak scanned twice after the cycle', lines,
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
            len(ours), 0,
            '%d kmemleak suspects of ours (report in %s), the first: %s%s'
            % (len(ours), g.results,
               ''.join('\n  %s %s' % (hdr, ' < '.join(bt[:6])) for hdr, bt in ours[:5]),
               '\nand kernel problems: %s' % problems[:5] if problems else ''))
        self.assertEqual(problems, [], 'kernel log: %s' % g.console)


if __name__ == '__main__':
    unittest.main()
