# SPDX-License-Identifier: GPL-2.0-or-later
"""The main job end to end on Linux 6.12: `qemu-epc-bench run --series 6.12`
(pci-epf-test in guest 1, the kernel's pcitest.sh and the DMA cases in
guest 2) passes every case;
`qemu-epc-bench bench` prints its table."""
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
                                '--series', '6.12', '--rundir', rundir], stdout=subprocess.PIPE,
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
        # DMA: every size each way on the slave channels, and read, write
        # and copy on the memcpy channels, in groups of their own
        for group in ('read (DMA)', 'write (DMA)', 'read (DMA memcpy)',
                      'write (DMA memcpy)', 'copy (DMA memcpy)'):
            self.assertRegex(out, r'(?m)^6\.12 +%s +5 +0 +0 ' % re.escape(group), out[-3000:])
        # pci-epf-test picked the private slave channels in the first pair,
        # fell back to the memcpy channel in the second, and used DMA
        with open(os.path.join(rundir, 'epf-console.log'), errors='replace') as f:
            epf1 = f.read()
        with open(os.path.join(rundir, 'memcpy', 'epf-console.log'), errors='replace') as f:
            epf2 = f.read()
        self.assertNotIn('Falling back to generic one', epf1)
        self.assertEqual(len(re.findall(r'DMA: YES', epf1)), 10, epf1[-3000:])
        self.assertIn('Falling back to generic one', epf2)
        self.assertEqual(len(re.findall(r'DMA: YES', epf2)), 15, epf2[-3000:])

    def test_bench_prints_every_row(self):
        rundir = guests.test_rundir('bench')
        r = subprocess.run([sys.executable, os.path.join(guests.TOP, 'scripts', 'bench-run.py'),
                            '--bench', '--rundir', rundir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True,
                           timeout=20 * 60)
        out = r.stdout
        self.assertEqual(r.returncode, 0, out[-3000:])
        num = r' +\d+\.\d+ +\d+\.\d+ +\d+\.\d+ +\d+\.\d+ +\d+\.\dx$'
        for op, how in (('read', 'no DMA'), ('read', 'DMA, slave channel'),
                        ('read', 'DMA, memcpy channel'), ('write', 'no DMA'),
                        ('write', 'DMA, slave channel'), ('write', 'DMA, memcpy channel'),
                        ('copy', 'no DMA'), ('copy', 'DMA, memcpy channel')):
            self.assertRegex(out, r'(?m)^%s +%s%s' % (op, re.escape(how), num), out[-3000:])


if __name__ == '__main__':
    unittest.main()
