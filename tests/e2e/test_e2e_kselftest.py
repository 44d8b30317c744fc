# SPDX-License-Identifier: GPL-2.0-or-later
"""Linux 7.3 guests: `qemu-epc-bench run --series 7.3` (pci-epf-test in
guest 1, the kernel's own pci_endpoint kselftest in guest 2) passes every
case but the one the kselftest skips by design (BAR_SUBRANGE on the BAR
holding its test registers); the doorbell and every other BAR subrange
case pass; both kernel logs are clean.  The first pair (private slave DMA
channels) runs every case but the DMA copy, which pci-epf-test does only
over a memcpy channel: the second pair (slave_dma=0) runs the DMA cases."""
import os
import re
import subprocess
import sys
import unittest

import e2e
import guests


class KselftestSuite(unittest.TestCase):
    def test_run_series_7_3_passes_the_kselftest(self):
        rundir = e2e.test_rundir('kselftest')
        r = e2e.bench_run(self, ['--series', '7.3'], rundir, minutes=30)
        out = r.stdout
        tail = out[-4000:]
        self.assertEqual([l for l in out.splitlines() if l.startswith('not ok')], [], tail)
        # the kselftest's own totals line, as it printed it
        ksft = re.findall(r'^# kselftest reports: Totals: pass:(\d+) fail:(\d+) xfail:0 '
                          r'xpass:0 skip:(\d+) error:0$', out, re.M)
        self.assertEqual(len(ksft), 2, tail)
        (p1, f1, s1), (p2, f2, s2) = [tuple(map(int, t)) for t in ksft]
        self.assertEqual((f1, f2), (0, 0), tail)
        self.assertEqual((p1, s1), (21, 1), tail)
        self.assertEqual((p2, s2), (3, 0), tail)
        # the only skip is the one the test makes by design
        skips = re.findall(r'^ok \d+ (.*) # SKIP (.*)$', out, re.M)
        self.assertEqual(skips, [('kselftest pci_ep_bar.BAR0.BAR_SUBRANGE_TEST',
                                  'BAR is test register space')], tail)
        for case in ['pcie_ep_doorbell.DOORBELL_TEST', 'pci_ep_basic.CONSECUTIVE_BAR_TEST',
                     'pci_ep_basic.MSIX_TEST', 'pci_ep_data_transfer.memcpy.WRITE_TEST',
                     'pci_ep_data_transfer.dma.READ_TEST',
                     'pci_ep_data_transfer.dma.COPY_TEST [slave_dma=0]'] + \
                ['pci_ep_bar.BAR%d.BAR_SUBRANGE_TEST' % n for n in range(1, 6)]:
            self.assertRegex(out, r'(?m)^ok \d+ kselftest %s$' % re.escape(case), tail)
        self.assertRegex(out, r'(?m)^ok \d+ guest 1 \(epf\) kernel log has no oops', tail)
        self.assertRegex(out, r'(?m)^ok \d+ guest 2 \(host\) kernel log has no oops', tail)
        plan = re.search(r'^1\.\.(\d+)$', out, re.M)
        self.assertIsNotNone(plan, tail)
        self.assertEqual(len(re.findall(r'^ok \d+ ', out, re.M)), int(plan.group(1)), tail)
        self.assertEqual(r.returncode, 0, tail)
        # pci-epf-test used the controller's embedded doorbell
        with open(os.path.join(rundir, 'epf-console.log'), errors='replace') as f:
            self.assertIn('Using embedded (DMA) doorbell fallback', f.read())


if __name__ == '__main__':
    unittest.main()
