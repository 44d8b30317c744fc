# SPDX-License-Identifier: GPL-2.0-or-later
"""The main job end to end on Linux 6.12: `qemu-epc-bench run --series 6.12`
(pci-epf-test in guest 1, the kernel's pcitest.sh and the DMA cases in
guest 2) passes every planned case, by name; and `qemu-epc-bench bench`
(two runs of each row) prints every row of its tables.  The bench's vNTB
pair on the shared path (6.12) and its NVMe pair on the shared path (7.3)
run every check of `run --epf vntb` and `run --epf nvme`: they are those
pairs of the test suite too (the 7.3 vNTB pair is test_e2e_vntb's), and so
is its NTB client pair (ntb_perf, ntb_tool, ntb_pingpong on 6.12), whose
ntb_perf figures the bench prints."""
import os
import re
import unittest

import e2e
import phases as P
import report
import timing

# the guest kernels these tests boot (tests/run.py runs the tests that
# need only 6.12 first, while set-up may still build the others)
KERNELS = ('6.12', '7.3')


def planned(phases):
    return [n for ph in phases for n in ph.planned]


class PcitestSuite(unittest.TestCase):
    def test_bench_run_passes_every_pcitest_case(self):
        rundir = e2e.test_rundir('pcitest')
        r = e2e.bench_run(self, ['--series', '6.12'], rundir, minutes=30)
        phases = P.series_phases('6.12')
        got = e2e.check_run(self, r, planned(phases))
        # pcitest.sh: 6 BARs, INTx, 32 MSI, 2048 MSI-X, 15 transfers, IRQ-type sets
        self.assertGreater(len(got), 2100)
        # DMA: every size each way on the slave channels, and read, write
        # and copy on the memcpy channels, in groups of their own
        for group in ('read (DMA)', 'write (DMA)', 'read (DMA memcpy)',
                      'write (DMA memcpy)', 'copy (DMA memcpy)'):
            self.assertRegex(r.out, r'(?m)^6\.12 +%s +5 +0 +0 ' % re.escape(group), r.tail())
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
        """`qemu-epc-bench bench` with two runs of each row (min and median
        over them; the bench's own default is 5), smaller transfers and
        shorter jobs than its defaults (what is tested is the bench, not
        the link's speed): every row with figures, the vNTB and NVMe
        tables, the baselines and the ratio line; and every check of its
        pairs passed, the vNTB and NVMe ones included."""
        rundir = e2e.test_rundir('bench')
        runs, sizes = 2, (65536, 262144)
        r = e2e.bench_run(self, ['--bench', '--runs', str(runs), '--sizes',
                                 ','.join(map(str, sizes)), '--seconds', '1', '--mib', '8'],
                          rundir, minutes=30)
        out = r.out
        phases = P.series_phases('6.12', P.BenchSpec(runs, sizes, 1, 8))
        e2e.check_run(self, r, planned(phases))
        self.assertNotRegex(out, r'(?m) failed$')
        num = r' +\d+\.\d{4} +\d+\.\d{4} +\d+\.\d +(\d+\.\d|-)$'
        for op, n, how in report.bench_rows(sizes):
            op = {'r': 'read', 'w': 'write', 'c': 'copy'}[op]
            self.assertRegex(out, r'(?m)^%s +%d %s%s' % (op, n, re.escape(how), num), r.tail())
        for path in ('shared', 'messages'):
            self.assertRegex(out, r'(?m)^%s +\d+\.\d{3} +\d+\.\d{3}$' % path, r.tail())
            for name, _, unit in report.VNTB_ROWS:
                self.assertRegex(out, r'(?m)^%s +%s +\d+\.\d\d +\d+\.\d\d +%s$'
                                 % (path, name, re.escape(unit)), r.tail())
            for what, unit in report.NVME_JOBS:
                self.assertRegex(out, r'(?m)^%s +%s +\d+\.\d\d +\d+\.\d\d +%s +\d+\.\d{3}$'
                                 % (path, re.escape(what), unit), r.tail())
            # where a QD1 read's time goes, and the host CPU per read at QD32
            for phase in timing.PHASES:
                self.assertRegex(out, r'(?m)^%s +%s +\d+\.\d +\d+\.\d +us +\d\.\d{3}$'
                                 % (path, re.escape(phase)), r.tail())
            for where in ('drive', 'ramdisk'):
                self.assertRegex(out, r'(?m)^%s +%s( +\d+\.\d){5}$' % (path, where), r.tail())
        self.assertRegex(out, r'Linux 7\.3; guest 1 1 vCPU, guest 2 \d+ vCPUs\), fio, one job, '
                         r'io_uring at queue depth QD', r.tail())
        self.assertRegex(out, r'(?m)^vNTB shared path over messages, median: tcp guest 2 to '
                         r'guest 1 [\d.]+x, ', r.tail())
        self.assertRegex(out, r'memcpy in guest 2 \(median of 2\): 65536 B \d')
        self.assertRegex(out, r'(?m)^ntb_perf over pci-epf-vntb \(Linux 6\.12, shared path, '
                         r'one run\): guest 2 to guest 1 \d+ MB/s, guest 1 to guest 2 \d+ MB/s$',
                         r.tail())
        self.assertRegex(out, r'Unix socket round trip, 32 bytes: median [\d.]+ us')
        self.assertRegex(out, r'(?m)^shared/DMA time ratio, 65536 B, median: read (\d+\.\d+) '
                         r'write (\d+\.\d+) copy (\d+\.\d+)$')
        # the vNTB pair (6.12, shared path): figures of each run, both ways
        for way in ('guest 2 to guest 1', 'guest 1 to guest 2'):
            for what in ('tcp', 'iperf3'):
                self.assertEqual(len(re.findall(r'(?m)^# vntb %s %s \[vntb shared\]: '
                                                r'[0-9.]+ MB/s$' % (what, way), out)), runs)
        # the NVMe pair (7.3, shared path): nvmet-pci-epf served it, the
        # pattern's data went through pcie-qemu-ep's DMA channels (a case
        # of its own, from the channels' dmaengine counters), the
        # filesystem held all its files, and I/O cut by the link ended
        # with errors within the bound the README states
        with open(os.path.join(rundir, 'nvme-shared', 'epf-console.log'),
                  errors='replace') as f:
            self.assertRegex(f.read(), r'nvmet_pci_epf .*New PCI ctrl')
        m = re.search(r'(?m)^# pcie-qemu-ep\'s channels moved (\d+) bytes meanwhile$', out)
        self.assertTrue(m and int(m.group(1)) >= 128 << 20, r.tail())
        self.assertRegex(out, r'(?m)^# \d+ files \(120 data files, \d+ of the image\)$')
        b = re.search(r'link down during I/O: the I/O ends with errors within (\d+) s', out)
        self.assertTrue(b, r.tail())
        bound = int(b.group(1))
        with open(os.path.join(e2e.TOP, 'README.md')) as f:
            self.assertIn('must end with errors within %d s' % bound, f.read(),
                          'the bound the README states is not the one checked')
        m = re.search(r'(?m)^# the reads failed ([\d.]+) s after the stop$', out)
        self.assertTrue(m and float(m.group(1)) <= bound, r.tail())


if __name__ == '__main__':
    unittest.main()
