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



class NtbThreeGuests(unittest.TestCase):
    """`run --epf ntb`: pci-epf-ntb in guest 1 across its two qemu-epc
    controllers, ntb_hw_epf in guests 2 and 3, the network between those
    two: every check of the plan passes (ping, TCP with checksums and
    iperf3 both ways, each host's link down and up, the second asked by
    guest 3 itself); then, on three guests of their own, ntb_perf (its MB/s
    each way), ntb_tool and ntb_pingpong between guests 2 and 3; the six
    kernel logs are
    clean, the endpoint core's fix is in the kernel guest 1 runs (it oopsed
    in pci_epc_linkup without it), and both controllers carried the
    function."""

    def test_ntb_network_7_3(self):
        rundir = e2e.test_rundir('ntb-7.3')
        r = e2e.bench_run(self, ['--epf', 'ntb', '--series', '7.3'], rundir, minutes=20)
        got = e2e.check_run(self, r, [n for ph in P.series_phases('7.3', epf='ntb')
                                      for n in ph.planned])
        # the network's three guests, then the NTB clients' three
        self.assertEqual(sum(1 for _, n, _ in got if ' kernel log has no oops' in n), 6,
                         r.tail())
        for way in ("handshake, guest 2 writes guest 3's window",
                    "guest 3 writes guest 2's window"):
            self.assertRegex(r.out, r'(?m)^# ntb_perf: %s \[Linux 7\.3\]: \d+ MB/s$'
                             % re.escape(way), r.tail())
        for way in ('guest 2 to guest 3', 'guest 3 to guest 2'):
            self.assertRegex(r.out, r'(?m)^# ntb tcp %s \[Linux 7\.3\]: [0-9.]+ MB/s$' % way,
                             r.tail())
        with open(os.path.join(rundir, 'epf-console.log'), errors='replace') as f:
            epf = f.read()
        with open(os.path.join(rundir, 'epf-ttyS1.log'), errors='replace') as f:
            self.assertRegex(f.read(), r'QEPC-NTB primary 0000:00:06\.0 secondary 0000:00:07\.0')
        # both controllers saw their host's link come up
        for slot in ('06', '07'):
            self.assertRegex(epf, r'pcie-qemu-ep 0000:00:%s\.0: link up' % slot)
        # each host's link went down once, at the asking of its own guest
        for device, who in (('bridge0', 'guest 2'), ('peer:bridge0', 'guest 3')):
            self.assertIn('# inject %s: link-down:2000, asked by %s\n' % (device, who), r.out)
            self.assertRegex(r.out, r'(?m)^# inject %s: 1 faults acted, link-down 1 '
                             % re.escape(device))


if __name__ == '__main__':
    unittest.main()
