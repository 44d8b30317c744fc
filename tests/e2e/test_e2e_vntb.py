# SPDX-License-Identifier: GPL-2.0-or-later
"""`qemu-epc-bench run --epf vntb`: pci-epf-vntb in guest 1, ntb_hw_epf in
guest 2, ntb_transport and ntb_netdev on both give a network between the
guests: ping both ways (100 packets, none lost), 64 MiB over TCP each way
with matching checksums, iperf3 each way, a link down and up after which the
network works again, both kernel logs clean; the throughput is printed as
MB/s."""
import os
import re
import subprocess
import sys
import unittest

import e2e
import guests


class VntbNetwork(unittest.TestCase):
    def run_vntb(self, series):
        rundir = e2e.test_rundir('vntb-' + series)
        r = e2e.bench_run(self, ['--epf', 'vntb', '--series', series], rundir, minutes=20)
        out = r.stdout
        tail = out[-5000:]
        self.assertEqual([l for l in out.splitlines() if l.startswith('not ok')], [], tail)
        for case in guests.VNTB_CASES:
            self.assertRegex(out, r'(?m)^ok \d+ %s$' % re.escape(case), tail)
        self.assertRegex(out, r'(?m)^ok \d+ guest 1 \(epf\) kernel log has no oops', tail)
        self.assertRegex(out, r'(?m)^ok \d+ guest 2 \(host\) kernel log has no oops', tail)
        for way in ('guest 2 to guest 1', 'guest 1 to guest 2'):
            for what in ('tcp', 'iperf3'):
                self.assertRegex(out, r'(?m)^# vntb %s %s \[Linux %s\]: [0-9.]+ MB/s$'
                                 % (what, way, re.escape(series)), tail)
        self.assertRegex(out, r'(?m)^# vntb ping guest 2 to guest 1, 100 packets, rtt avg '
                         r'\[Linux %s\]: [0-9.]+ ms$' % re.escape(series), tail)
        plan = re.search(r'^1\.\.(\d+)$', out, re.M)
        self.assertIsNotNone(plan, tail)
        self.assertEqual(int(plan.group(1)), len(guests.VNTB_CASES) + 2, tail)
        self.assertEqual(len(re.findall(r'^ok \d+ ', out, re.M)), int(plan.group(1)), tail)
        self.assertEqual(r.returncode, 0, tail)
        return rundir

    def test_vntb_network_6_12(self):
        self.run_vntb('6.12')

    def test_vntb_network_7_3(self):
        rundir = self.run_vntb('7.3')
        # 7.3's pci-epf-vntb takes doorbells through the controller's own
        with open(os.path.join(rundir, 'epf-console.log'), errors='replace') as f:
            self.assertIn('Using embedded (DMA) doorbell fallback', f.read())


if __name__ == '__main__':
    unittest.main()
