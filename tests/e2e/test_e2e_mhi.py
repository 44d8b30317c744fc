# SPDX-License-Identifier: GPL-2.0-or-later
"""`qemu-epc-bench run --epf mhi`: pci-epf-mhi in guest 1 on a qemu-epc
with its MHI register block, mhi_pci_generic in guest 2: every check of the
plan passes (mission mode and M0, the channels, the DMA channels the sm8450
configuration holds, the host's MHI reset, M3 by runtime suspend and back,
a system error and its recovery, a link down and up, the sdx55
configuration), both kernel logs are clean; and the events behind them
happened in guest 1: the host's reset reached the endpoint stack, the link
went down at least twice (the restart, then the switch of configuration)."""
import os
import unittest

import e2e
import phases as P

KERNELS = ('7.3',)


class MhiPair(unittest.TestCase):
    def test_mhi_7_3(self):
        rundir = e2e.test_rundir('mhi-7.3')
        r = e2e.bench_run(self, ['--epf', 'mhi', '--series', '7.3'], rundir, minutes=15)
        e2e.check_run(self, r, [n for ph in P.series_phases('7.3', epf='mhi')
                                for n in ph.planned])
        with open(os.path.join(rundir, 'epf-console.log'), errors='replace') as f:
            epf = f.read()
        self.assertIn('Host triggered MHI reset!', epf)
        # the restart and the switch (a third may follow: guest 2 powering
        # off at the end closes its link before guest 1 is stopped)
        self.assertGreaterEqual(epf.count(': link down'), 2, epf[-3000:])
        self.assertNotIn('Failed to power up MHI EP', epf)
        # the system error came from guest 1's MHI stack
        self.assertEqual(epf.count('MHI state change to M0 from M0 is not allowed'), 1)
        with open(os.path.join(rundir, 'host-ttyS1.log'), errors='replace') as f:
            host = f.read()
        self.assertEqual(host.count('MHI state: M0 EE: MISSION MODE'), 6)
        self.assertEqual(host.count('PM state: M3 Device: Active MHI state: M3 EE: '
                                    'MISSION MODE'), 1, host[-3000:])
        self.assertEqual(host.count('firmware crashed'), 1, host[-3000:])
