# SPDX-License-Identifier: GPL-2.0-or-later
"""The main job end to end: `qemu-epc-bench run` (pci-epf-test in guest 1,
the kernel's pcitest.sh in guest 2) passes every case."""
import os
import re
import subprocess
import sys
import unittest

import guests


class PcitestSuite(unittest.TestCase):
    def test_bench_run_passes_every_pcitest_case(self):
        rundir = guests.test_rundir('pcitest')
        try:
            r = subprocess.run([sys.executable, os.path.join(guests.TOP, 'scripts', 'bench-run.py'),
                                '--rundir', rundir], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True,
                               timeout=45 * 60)
        except subprocess.TimeoutExpired as e:
            self.fail('bench-run.py did not finish in 45 min; logs in %s\n%s'
                      % (rundir, e.output))
        out = r.stdout
        bad = [l for l in out.splitlines() if l.startswith('not ok')]
        self.assertEqual(bad, [], out[-3000:])
        plan = re.search(r'^1\.\.(\d+)$', out, re.M)
        self.assertIsNotNone(plan, out[-3000:])
        oks = len(re.findall(r'^ok \d+ ', out, re.M))
        self.assertEqual(oks, int(plan.group(1)), out[-3000:])
        # pcitest.sh: 6 BARs, INTx, 32 MSI, 2048 MSI-X, 15 transfers, IRQ-type sets
        self.assertGreater(oks, 2100)
        self.assertRegex(out, r'# Totals: pass:%d fail:0 ' % oks)
        self.assertEqual(r.returncode, 0, out[-3000:])


if __name__ == '__main__':
    unittest.main()
