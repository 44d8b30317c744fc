# SPDX-License-Identifier: GPL-2.0-or-later
"""capture=FILE on both devices: every message each side sent and received,
in the socket's order, in a pcapng file that Wireshark's dissector (built
from proto/) decodes; bounded by capture-limit."""
import collections
import os

import peer as P
import pcapng
from pcapng import tshark
from base import DeviceTest, WiredDeviceTest
from machines import R, HOST_RAM, EPC_WINDOW
from qtest import wait_until


class CaptureTest(WiredDeviceTest):
    """shmem=off: every access crosses the link, so both captures hold all
    of them."""
    epc_props = ',shmem=off,capture={dir}/epc.pcapng'
    bridge_props = ',shmem=off,capture={dir}/bridge.pcapng'

    def traffic(self):
        """Accesses of every kind; returns what the test did."""
        self.bring_up()
        bar0 = self.placed[0]
        for i in range(5):
            self.br.readl(bar0 + 4 * i)
        for i in range(3):
            self.br.writel(bar0 + 0x100 + 4 * i, 0x1000 + i)
        self.epc.map_window(0, 0x100000, 0x10000, HOST_RAM)
        for i in range(2):
            self.epc.readl(EPC_WINDOW + 0x100000 + 4 * i)
        msi = self.host_msi_on(HOST_RAM + 0x1000)
        for vec in (0, 1, 31):
            self.epc.raise_irq(R.QEPC_RAISE_MSI, vec)
            wait_until(lambda: self.br.readl(HOST_RAM + 0x1000) == 0x4000 | vec, 5,
                       'MSI vector %d in guest 2 memory' % vec)
        msix = self.br.find_cap(0x11)
        table = bar0 + 0x8000
        self.br.writel(table + 16 * 5, HOST_RAM + 0x2000)
        self.br.writel(table + 16 * 5 + 4, 0)
        self.br.writel(table + 16 * 5 + 8, 0xbeef)
        self.br.writel(table + 16 * 5 + 12, 0)
        self.assertEqual(self.br.readl(table + 16 * 5 + 8), 0xbeef)
        self.br.set_cfg(msi + 2, 0, 2)
        self.br.set_cfg(msix + 2, 0x8000, 2)
        self.epc.wait_status(R.QEPC_STATUS_MSIX_EN, 'the host MSI-X set-up in guest 1')
        self.epc.raise_irq(R.QEPC_RAISE_MSIX, 5)
        wait_until(lambda: self.br.readl(HOST_RAM + 0x2000) == 0xbeef, 5,
                   'MSI-X vector 5 in guest 2 memory')
        # the host's BAR reads: 5, and the one that flushed the table writes
        return {'bar_reads': 6, 'bar_writes': 3 + 4, 'window_reads': 2,
                'msi': 3, 'msix': 1}

    def captures(self):
        # QEMU writes what it buffered when it exits
        for vm in (self.epc, self.br):
            self.assertIsNone(vm.quit())
        return (pcapng.read(os.path.join(self.dir, 'epc.pcapng')),
                pcapng.read(os.path.join(self.dir, 'bridge.pcapng')))

    def test_both_sides_capture_every_message_in_order(self):
        did = self.traffic()
        (eshb, eidb, erecs), (bshb, bidb, brecs) = self.captures()
        for shb, idb, dev in ((eshb, eidb, 'qemu-epc'), (bshb, bidb, 'epf-bridge')):
            self.assertTrue(shb[4][0].decode().startswith(dev), shb)
            self.assertIn('shared memory off', shb[1][0].decode())
            self.assertEqual(idb[0], 147)                     # LINKTYPE_USER0
            self.assertEqual(idb[1][9], [b'\x09'])            # nanoseconds
        msgs = {}
        for side, recs in (('epc', erecs), ('bridge', brecs)):
            ts = [r.ts_ns for r in recs]
            self.assertEqual(ts, sorted(ts), '%s: timestamps go back' % side)
            for r in recs:
                self.assertEqual((r.version, r.function), (1, 0))
                if r.msg is not None:
                    self.assertEqual(r.epb_flags, 1 if r.dir else 2)
            events = [r.text for r in recs if r.msg is None]
            self.assertTrue(any(e.startswith('connected') for e in events), events)
            msgs[side] = {d: [r for r in recs if r.msg is not None and r.dir == d]
                          for d in (0, 1)}
        # what one side sent is what the other received: same bytes, same order
        for a, b in (('epc', 'bridge'), ('bridge', 'epc')):
            self.assertEqual([r.body for r in msgs[a][0]], [r.body for r in msgs[b][1]],
                             '%s sent is not what %s received' % (a, b))
        # the counts of what the test did
        sent = collections.Counter((r.msg.type, r.note) for r in msgs['epc'][0])
        self.assertEqual(sent[(P.MEM_WRITE, P.W.QEP_NOTE_MSI)], did['msi'])
        self.assertEqual(sent[(P.MEM_WRITE, P.W.QEP_NOTE_MSIX)], did['msix'])
        self.assertEqual(sent[(P.MEM_READ, 0)], did['window_reads'])
        bsent = collections.Counter(r.msg.type for r in msgs['bridge'][0])
        self.assertEqual(bsent[P.MEM_READ], did['bar_reads'])
        self.assertEqual(bsent[P.MEM_WRITE], did['bar_writes'])
        # every request has its completion, on the side that asked
        for side in ('epc', 'bridge'):
            asked = {r.msg.tag for r in msgs[side][0] if P.needs_completion(r.msg)}
            done = {r.msg.tag for r in msgs[side][1] if r.msg.type == P.COMPLETION}
            self.assertEqual(asked - done, set(), '%s: requests without completion' % side)

        # Wireshark's dissector: every record decoded, none malformed, and
        # the same counts
        for name, recs in (('epc', erecs), ('bridge', brecs)):
            path = os.path.join(self.dir, name + '.pcapng')
            rows = tshark(path, 'qepc.type', 'qepc.note', 'qepc.tag', '_ws.malformed',
                          'qepc.response_in', 'qepc.response_to', 'qepc.event')
            self.assertEqual(len(rows), len(recs), name)
            self.assertFalse([r for r in rows if r[3]], '%s: malformed packets' % name)
            types = collections.Counter((r[0], r[1]) for r in rows if r[0])
            ours = collections.Counter(r.msg.type for r in recs if r.msg is not None)
            self.assertEqual(sum(types.values()), sum(ours.values()))
            self.assertEqual(types[('CfgRd', '')] + types[('CfgWr', '')],
                             ours[P.CFG_READ] + ours[P.CFG_WRITE])
            # each request that asked for a completion points at it
            asked = [r for r in rows if r[0] in ('MRd', 'CfgRd', 'CfgWr') and r[2] != '0']
            self.assertTrue(asked)
            self.assertFalse([r for r in asked if not r[4]],
                             '%s: a request without its response_in' % name)
        rows = tshark(os.path.join(self.dir, 'epc.pcapng'), 'qepc.note',
                      filt='qepc.type == "MWr" && qepc.dir == 0')
        notes = collections.Counter(r[0] for r in rows)
        self.assertEqual((notes['MSI'], notes['MSIX']), (did['msi'], did['msix']))
        rows = tshark(os.path.join(self.dir, 'bridge.pcapng'), 'qepc.addr',
                      filt='qepc.type == "MRd" && qepc.dir == 0')
        self.assertEqual(len(rows), did['bar_reads'])


class CaptureLimitTest(WiredDeviceTest):
    epc_props = ',shmem=off,capture-limit=4096,capture={dir}/epc.pcapng'

    def test_capture_stops_at_its_limit_and_says_so(self):
        self.bring_up()
        for i in range(200):
            self.br.readl(self.placed[0])
        self.assertIsNone(self.epc.quit())
        cap = self.path('epc.pcapng')
        self.assertLessEqual(os.path.getsize(cap), 4096)
        _, _, recs = pcapng.read(cap)                   # whole blocks only
        self.assertGreater(len(recs), 5)
        with open(self.epc.log_path) as f:
            self.assertIn('capture-limit of 4096 bytes reached', f.read())


class CaptureRefusedTest(DeviceTest):
    def test_unwritable_capture_file_refused(self):
        for dev in ('qemu-epc', 'epf-bridge'):
            rc, out = self.run_plain(['-device', '%s,socket=%s,capture=/nonexistent/c.pcapng'
                                      % (dev, self.path('s.sock'))])
            self.assertNotEqual(rc, 0)
            self.assertIn("capture: cannot create '/nonexistent/c.pcapng'", out)
