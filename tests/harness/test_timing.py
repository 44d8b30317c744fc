# SPDX-License-Identifier: GPL-2.0-or-later
"""harness/timing.py: the phases of an NVMe read found in the devices'
trace lines (QEMU's log backend with -msg timestamp=on), a round trip out
of order not counted, and the requests guest 2 makes for it."""
import unittest

import timing


def trip(t, fetch=10, executed=100, moved=8, written=90, delivered=60):
    """Guest 1's and guest 2's lines of one QD1 read from time t (us)."""
    marks = [t]
    for d in (fetch, executed, moved, written, delivered):
        marks.append(marks[-1] + d)

    def at(us, text):
        return '4242@%d.%06d:%s' % (us // 1000000, us % 1000000, text)
    epf = [at(marks[0], 'qemu_epc_dma_go channel 0: 0x9fda00 -> 0x1e01db0 64 bytes ctrl 0x1'),
           at(marks[1], 'qemu_epc_dma_end channel 0: state 2 error 0'),
           at(marks[2], 'qemu_epc_dma_go channel 1: 0x1dff000 -> 0x58b6000 4096 bytes ctrl 0x2'),
           at(marks[3], 'qemu_epc_dma_end channel 1: state 2 error 0'),
           at(marks[4], 'qemu_epc_irq function 0 raises MSI-X 1')]
    host = [at(marks[5], 'epf_bridge_dma MEM_WRITE 0xfee00238 4 bytes')]
    return epf, host


def events(trips):
    epf, host = [], []
    for e, h in trips:
        epf += e
        host += h
    ev = timing.parse('\n'.join(epf), 'epf') + timing.parse('\n'.join(host), 'host')
    return sorted(ev, key=lambda e: e[0])


class Phases(unittest.TestCase):
    def test_each_phase_of_a_round_trip(self):
        t0 = 1796684914000000
        ev = events([trip(t0), trip(t0 + 1000, fetch=20), trip(t0 + 2000)])
        trips, skipped = timing.round_trips(ev)
        # the last fetch closes nothing: two round trips
        self.assertEqual(len(trips), 2)
        self.assertEqual(skipped, 0)
        self.assertEqual(trips[0], {'command fetched': 10, 'command executed': 100,
                                    'data moved': 8, 'completion written': 90,
                                    'MSI-X delivered': 60, 'host and doorbell': 732})
        self.assertEqual(trips[1]['command fetched'], 20)
        self.assertEqual(sum(trips[0].values()), 1000)

    def test_a_round_trip_out_of_order_is_not_counted(self):
        t0 = 1796684914000000
        e, h = trip(t0 + 1000)
        # a second read's fetch before the first one's data: two in flight
        e.insert(2, e[0].replace('.001000', '.001011'))
        ev = events([trip(t0), (e, h), trip(t0 + 2000), trip(t0 + 3000)])
        trips, skipped = timing.round_trips(ev)
        self.assertEqual(skipped, 2)     # the first of the two, then the second
        self.assertEqual(len(trips), 2)  # the first and the third

    def test_lines_that_are_no_event_are_ignored(self):
        ev = timing.parse('qemu-epc: something\n4242@1.000001:qemu_epc_start CTRL.START 1\n'
                          '4242@1.000002:epf_bridge_dma MEM_WRITE 0x1000 4 bytes', 'x')
        self.assertEqual(ev, [])


if __name__ == '__main__':
    unittest.main()
