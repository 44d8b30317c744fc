# SPDX-License-Identifier: GPL-2.0-or-later
"""A vCPU waiting for the peer does not stop the others: guest 1 (two
vCPUs, qemu-epc driven by hand, tests/guest/vcpu-wait.sh) reads an outbound
window five times from vCPU 0 while a test peer answers each read after a
second; vCPU 1 meanwhile keeps making MMIO accesses, which need QEMU's big
lock.  If the waiting vCPU held the lock, vCPU 1 would stop for a second at
each read; if the device refused an access while another one waits (QEMU's
re-entrancy guard is per device), vCPU 1 would read something else."""
import os
import struct
import threading
import time
import unittest

import artefacts
import e2e
import guests
import initramfs
import peer as P

# the guest kernels these tests boot (tests/run.py runs the tests that
# need only 6.12 first, while set-up may still build the others)
KERNELS = ('6.12',)

# seconds the peer takes to answer a read: a second vCPU blocked by the
# wait would go that long without a heartbeat; the check allows half of
# it, 1 s, for the host's scheduling on a busy machine (a cold run, with
# kernels compiling beside it, saw 0.55 s when the wait was 1 s)
DELAY = 2.0
ANSWER = 0x600d600d


def slow_host(p, stop):
    """Answer the endpoint as a host would, every read after DELAY."""
    while not stop.is_set():
        try:
            m = p.recv(0.5, 'a request')
        except TimeoutError:
            continue
        except (EOFError, OSError):
            return
        if m.type == P.MEM_READ:
            time.sleep(DELAY)
            data = struct.pack('<I', ANSWER) * (m.m.u.mem.len // 4 or 1)
            p.send(P.cpl(m.tag, P.MEM_READ, P.SC, data[:m.m.u.mem.len]))
        elif P.needs_completion(m):
            p.send(P.cpl(m.tag, m.type, P.SC))


class VcpuKeepsRunning(unittest.TestCase):
    def test_second_vcpu_runs_while_first_waits_for_the_peer(self):
        kdir = artefacts.kernel_dir()
        rundir = e2e.test_rundir('vcpu')
        initrd = initramfs.build(os.path.join(rundir, 'initramfs.cpio.gz'), [], None, None,
                                 os.path.join(e2e.TEST_GUEST_DIR, 'vcpu-wait.sh'),
                                 os.path.join(artefacts.GUEST_DIR, 'host-pcitest.sh'))
        sock = os.path.join(rundir, 'epc.sock')
        g = guests.Guest('epf', rundir, os.path.join(kdir, 'bzImage'), initrd,
                         'console=ttyS0 panic=-1 qepc.role=script',
                         ['-device', 'qemu-epc,socket=%s,timeout-ms=%d,addr=04.0'
                          % (sock, DELAY * 3000)], smp=2, shared_ram=False)
        stop = threading.Event()
        try:
            p = P.Peer(sock, P.ROLE_HOST).connect(timeout=60)
            p.handshake()
            t = threading.Thread(target=slow_host, args=(p, stop))
            t.start()
            line = g.wait_for('TEST reads', 300, 'the reads and heartbeats of guest 1')
        finally:
            stop.set()
            g.stop()
        self.assertIsNone(g.exit_problem())
        f = line.split()
        reads, beats, gap, wrong = float(f[2]), int(f[4]), float(f[6]), int(f[8])
        values = [int(v, 16) for v in f[10:]]
        # the reads waited for the peer, and got its answer
        self.assertEqual(values, [ANSWER] * 5, line)
        self.assertGreaterEqual(reads, 5 * DELAY * 0.9, line)
        # vCPU 1 kept going meanwhile: no pause near the peer's delay
        self.assertGreaterEqual(beats, 10, line)
        self.assertLess(gap, DELAY / 2, line)
        # and its accesses were carried out, not refused as re-entrant
        # while vCPU 0's access to the same device was waiting
        self.assertEqual(wrong, 0, line)
        with open(os.path.join(rundir, 'epf-qemu.log'), errors='replace') as f:
            self.assertNotIn('re-entrant', f.read())


if __name__ == '__main__':
    unittest.main()
