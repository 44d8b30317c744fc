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

import e2e
import guests


class PcitestSuite(unittest.TestCase):
    def test_bench_run_passes_every_pcitest_case(self):
        rundir = e2e.test_rundir('pcitest')
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
        """`qemu-epc-bench bench` (one run of each row, to keep the suite
        short; the bench's own default is 5): every row with figures, the vNTB and NVMe rows, the
        baselines, and the ratio line last."""
        rundir = e2e.test_rundir('bench')
        r = subprocess.run([sys.executable, os.path.join(guests.TOP, 'scripts', 'bench-run.py'),
                            '--bench', '--runs', '1', '-q', '--rundir', rundir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True,
                           timeout=40 * 60)
        out = r.stdout
        self.assertEqual(r.returncode, 0, out[-4000:])
        num = r' +\d+\.\d{4} +\d+\.\d{4} +\d+\.\d +\d+\.\d$'
        for op in ('read', 'write', 'copy'):
            for n in (guests.BENCH_SIZE, guests.BENCH_MAX):
                for how in ('shared, no DMA', 'messages, no DMA',
                            'DMA, memcpy channel' if op == 'copy' else 'DMA, slave channel'):
                    self.assertRegex(out, r'(?m)^%s +%d %s%s' % (op, n, re.escape(how), num),
                                     out[-4000:])
        for path in ('shared', 'messages'):
            self.assertRegex(out, r'(?m)^%s +\d+\.\d{3} +\d+\.\d{3}$' % path, out[-4000:])
        # the vNTB network on both paths
        for path in ('shared', 'messages'):
            for what, unit in (('tcp guest 2 to guest 1', 'MB/s'), ('tcp guest 1 to guest 2', 'MB/s'),
                               ('ping guest 2 to guest 1', 'ms'), ('ping guest 1 to guest 2', 'ms')):
                self.assertRegex(out, r'(?m)^%s +%s +\d+\.\d\d +\d+\.\d\d +%s$'
                                 % (path, what, re.escape(unit)), out[-4000:])
        self.assertRegex(out, r'(?m)^vNTB shared path over messages, median: tcp guest 2 to '
                         r'guest 1 [\d.]+x, ', out[-4000:])
        for path in ('shared', 'messages'):
            for what in ('iperf3 guest 2 to guest 1', 'iperf3 guest 1 to guest 2'):
                self.assertRegex(out, r'(?m)^%s +%s +\d+\.\d\d +\d+\.\d\d +MB/s$'
                                 % (path, what), out[-4000:])
            # the NVMe drive (7.3) on both paths, against guest 2's ramdisk
            for what, unit in (('seq read 1M', 'MB/s'), ('seq write 1M', 'MB/s'),
                               ('rand read 4k', 'IOPS'), ('rand write 4k', 'IOPS')):
                self.assertRegex(out, r'(?m)^%s +%s +\d+\.\d\d +\d+\.\d\d +%s +\d+\.\d{3}$'
                                 % (path, re.escape(what), unit), out[-4000:])
        self.assertRegex(out, r'memcpy in guest 2 \(median of 1\): 1048576 B \d')
        self.assertRegex(out, r'Unix socket round trip, 32 bytes: median [\d.]+ us')
        last = out.rstrip().splitlines()[-1]
        m = re.match(r'^shared/DMA time ratio, 1 MiB, median: read (\d+\.\d+) '
                     r'write (\d+\.\d+) copy (\d+\.\d+)$', last)
        # the figures are the bench's to print, not this test's to judge
        self.assertIsNotNone(m, out[-4000:])


if __name__ == '__main__':
    unittest.main()
