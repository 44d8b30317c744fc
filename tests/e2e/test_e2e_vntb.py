# SPDX-License-Identifier: GPL-2.0-or-later
"""`qemu-epc-bench run --epf vntb --series 7.3`: pci-epf-vntb in guest 1,
ntb_hw_epf in guest 2, ntb_transport and ntb_netdev on both give a network
between the guests: ping both ways (100 packets, none lost), 64 MiB over
TCP each way with matching checksums, iperf3 each way, a link down and up
after which the network works again, both kernel logs clean; the
throughput is printed as MB/s.  Then the kernel's NTB test clients in a
pair of their own: ntb_perf both ways (its MB/s printed), ntb_tool's
scratchpads and doorbells both ways, ntb_pingpong.  (The same checks on Linux 6.12 are those of
the bench's vNTB pair on the shared path: test_e2e_pcitest.)  Both links are
captured (--capture): a failed pair prints where its link stood."""
import os
import re
import unittest

import e2e
import phases as P

# the guest kernels these tests boot (tests/run.py runs the tests that
# need only 6.12 first, while set-up may still build the others)
KERNELS = ('7.3',)


class VntbNetwork(unittest.TestCase):
    def test_vntb_network_7_3(self):
        rundir = e2e.test_rundir('vntb-7.3')
        r = e2e.bench_run(self, ['--epf', 'vntb', '--series', '7.3', '--capture'], rundir,
                          minutes=20)
        e2e.check_run(self, r, [n for ph in P.series_phases('7.3', epf='vntb')
                                for n in ph.planned])
        # the NTB clients' pair: ntb_perf's figure each way
        for way in ("handshake, guest 2 writes guest 1's window",
                    "guest 1 writes guest 2's window"):
            self.assertRegex(r.out, r'(?m)^# ntb_perf: %s \[Linux 7\.3\]: \d+ MB/s$'
                             % re.escape(way), r.tail())
        for way in ('guest 2 to guest 1', 'guest 1 to guest 2'):
            for what in ('tcp', 'iperf3'):
                self.assertRegex(r.out, r'(?m)^# vntb %s %s \[Linux 7\.3\]: [0-9.]+ MB/s$'
                                 % (what, way), r.tail())
        self.assertRegex(r.out, r'(?m)^# vntb ping guest 2 to guest 1, 100 packets, rtt avg '
                         r'\[Linux 7\.3\]: [0-9.]+ ms$', r.tail())
        # 7.3's pci-epf-vntb takes doorbells through the controller's own
        with open(os.path.join(rundir, 'epf-console.log'), errors='replace') as f:
            self.assertIn('Using embedded (DMA) doorbell fallback', f.read())


if __name__ == '__main__':
    unittest.main()
