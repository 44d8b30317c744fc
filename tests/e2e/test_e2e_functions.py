# SPDX-License-Identifier: GPL-2.0-or-later
"""`qemu-epc-bench run --functions 2`. On Linux 6.12: qemu-epc with two
functions, each a pci-epf-test of its own (other device ID, class,
interrupt pin, MSI and MSI-X counts, hence another BAR0 size); guest 2 sees one multi-function device (00:04.0 and
00:04.1), pci_endpoint_test binds both, and the BAR, INTx, MSI, MSI-X,
read/write/copy and DMA cases pass against each function's device.  On
Linux 7.3: the pci_endpoint kselftest passes against each function.  With
--epf vntb: a pci-epf-test function beside pci-epf-vntb on one controller."""
import os
import re
import unittest

import artefacts
import cases
import e2e
import phases as P

# the guest kernels these tests boot (tests/run.py runs the tests that
# need only 6.12 first, while set-up may still build the others)
KERNELS = ('6.12', '7.3')


class TwoFunctions(unittest.TestCase):
    def test_6_12_two_pci_epf_test_functions_pass_pcitest_each(self):
        rundir = e2e.test_rundir('functions')
        r = e2e.bench_run(self, ['--series', '6.12', '--functions', '2'], rundir, minutes=20)
        out = r.stdout
        tail = out[-5000:]
        e2e.check_run(self, r, ['pcitest %s [2 functions]' % c
                                for c in cases.functions_suite(2)])
        # both functions, with their own IDs, each on its own device node
        self.assertRegex(out, r'(?m)^# QEPC-FUNCTION 0000:00:04\.0 0x104c:0xb500$', tail)
        self.assertRegex(out, r'(?m)^# also FUNCTION 0000:00:04\.1 0x104c:0xb501$', tail)
        for k, dev in ((0, '0xb500'), (1, '0xb501')):
            self.assertRegex(out, r'(?m)^# host driver: function %d: 0000:00:04\.%d 0x104c:%s '
                             r'is /dev/pci-endpoint-test\.%d$' % (k, k, dev, k), tail)
            for case in cases.function_cases(k):
                self.assertRegex(out, r'(?m)^ok \d+ pcitest %s \[2 functions\]$'
                                 % re.escape(case), tail)
            # every group of the function in the summary, none failed
            for group, n in (('BAR', 6), ('INTx', 1), ('MSI', 3), ('MSI-X', 3), ('read', 5),
                             ('write', 5), ('copy', 5), ('read (DMA)', 5), ('write (DMA)', 5)):
                self.assertRegex(out, r'(?m)^6\.12 +fn%d %s +%d +0 +0 '
                                 % (k, re.escape(group), n), tail)
        # guest 1: one controller with two functions, both pci-epf-test
        # instances moved data with DMA
        with open(os.path.join(rundir, 'epf-console.log'), errors='replace') as f:
            epf = f.read()
        self.assertIn('2 function(s)', epf)
        for k in (0, 1):
            self.assertEqual(len(re.findall(r'pci_epf_test\.%d: \w+ => Size: \d+ B, DMA: YES' % k,
                                            epf)), 10, epf[-3000:])
        # guest 2: the slot is multi-function, function 1 found by rescan
        with open(os.path.join(rundir, 'host-console.log'), errors='replace') as f:
            host = f.read()
        self.assertRegex(host, r'pci 0000:00:04\.0: \[104c:b500\] type 00 class 0xff0000')
        self.assertRegex(host, r'pci 0000:00:04\.1: \[104c:b501\] type 00 class 0xff8000')
        # BAR layouts differ: pci-epf-test sizes its register BAR to hold
        # the MSI-X table, 2048 vectors (64 KiB) against 64 (2 KiB)
        self.assertRegex(host, r'pci 0000:00:04\.0: BAR 0 \[mem 0x00000000-0x0000ffff\]')
        self.assertRegex(host, r'pci 0000:00:04\.1: BAR 0 \[mem 0x00000000-0x000007ff\]')

    def test_7_3_kselftest_against_each_function(self):
        """On 7.3 the pci_endpoint kselftest runs unchanged against each
        function's device; function 1 without the doorbell case, which
        7.3 gives only the first EPF of a controller."""
        rundir = e2e.test_rundir('functions-7.3')
        r = e2e.bench_run(self, ['--series', '7.3', '--functions', '2'], rundir, minutes=20)
        out = r.stdout
        tail = out[-5000:]
        all_cases = [c for c in cases.kselftest_cases(
            os.path.join(artefacts.kernel_dir('7.3'), 'pci_endpoint_test'))
                     if c != 'pci_ep_data_transfer.dma.COPY_TEST']
        expected = ['kselftest fn%d %s [2 functions]' % (k, c) for k in (0, 1)
                    for c in all_cases if not (k and c.endswith('DOORBELL_TEST'))]
        # the kselftest's own skip of BAR0's subrange test, once per
        # function: anything else skipped (a function that lost its
        # vectors skips the MSI or MSI-X cases) fails
        skips = [('kselftest fn%d pci_ep_bar.BAR0.BAR_SUBRANGE_TEST [2 functions]' % k,
                  'BAR is test register space') for k in (0, 1)]
        e2e.check_run(self, r, expected, skips)
        self.assertNotIn('kselftest fn1 pcie_ep_doorbell.DOORBELL_TEST', out)
        for k in (0, 1):
            self.assertRegex(out, r'(?m)^# host driver: function %d: 0000:00:04\.%d 0x104c:%s '
                             % (k, k, ('0xb500', '0xb501')[k]), tail)
            # every group of the function, none failed or skipped
            for group in ('INTx', 'MSI', 'MSI-X', 'read (DMA)', 'write (DMA)'):
                self.assertRegex(out, r'(?m)^7\.3 +fn%d %s +1 +0 +0 ' % (k, re.escape(group)),
                                 tail)
            self.assertRegex(out, r'(?m)^7\.3 +fn%d BAR +7 +0 +0 ' % k, tail)
            self.assertRegex(out, r'(?m)^7\.3 +fn%d BAR subrange +5 +0 +1 ' % k, tail)
        self.assertRegex(out, r'(?m)^7\.3 +fn0 doorbell +1 +0 +0 ', tail)
        # each function's run of the kselftest, in its own words
        ksft = re.findall(r'^# kselftest reports: Totals: pass:(\d+) fail:(\d+) xfail:0 '
                          r'xpass:0 skip:(\d+) error:0$', out, re.M)
        self.assertEqual([tuple(map(int, t)) for t in ksft], [(21, 0, 1), (20, 0, 1)], tail)


class VntbBesideTest(unittest.TestCase):
    def test_6_12_pci_epf_test_beside_vntb(self):
        """run --epf vntb --functions 2: pci-epf-vntb is function 0 and
        gives the network, a pci-epf-test is function 1 of the same
        controller; its pcitest cases pass with the network up, and the
        network checks (link down and up included) pass as without it.
        The links are captured: a failed pair prints where they stood (a
        warm run saw the network silent after the link down and up once,
        guest 1's transport receiving nothing while both said "Link Up")."""
        rundir = e2e.test_rundir('vntb-beside')
        r = e2e.bench_run(self, ['--series', '6.12', '--epf', 'vntb', '--functions', '2',
                                 '--capture'], rundir, minutes=20)
        out = r.stdout
        tail = out[-5000:]
        ph = P.vntb_phase('6.12', functions=2)
        names = [n for _, n, _ in e2e.check_run(self, r, ph.planned)]
        beside = cases.beside_cases()
        self.assertEqual(len(beside), 39)
        plain = P.vntb_phase('6.12').planned
        for case in beside:
            self.assertIn('pcitest %s [fn1 pci-epf-test beside vntb]' % case, names)
        # in order: the transfers (TCP, then iperf3), function 1's cases,
        # then link down and up
        last_transfer = [c for c in plain if c.startswith('vntb iperf3')][-1]
        link_down = next(c for c in plain if c.startswith('vntb link down'))
        self.assertEqual(names.index('pcitest -b 0 [fn1 pci-epf-test beside vntb]'),
                         names.index(last_transfer) + 1)
        self.assertEqual(names.index(link_down),
                         names.index('pcitest -d -w -s 1024001 [fn1 pci-epf-test beside vntb]')
                         + 1)
        self.assertRegex(out, r'(?m)^# QEPC-FUNCTION 0000:00:04\.0 0x1957:0x0809$', tail)
        self.assertRegex(out, r'(?m)^# also FUNCTION 0000:00:04\.1 0x104c:0xb501$', tail)


if __name__ == '__main__':
    unittest.main()
