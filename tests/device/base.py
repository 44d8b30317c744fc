# SPDX-License-Identifier: GPL-2.0-or-later
import os
import shutil
import tempfile
import unittest


class DeviceTest(unittest.TestCase):
    """Temporary directory, QEMUs stopped whatever happens; logs kept on failure."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='qemu-epc-test-')
        self.vms = []
        self.peers = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def track(self, vm):
        self.vms.append(vm)
        return vm

    def track_peer(self, p):
        self.peers.append(p)
        return p

    def tearDown(self):
        for p in self.peers:
            p.close()
        for vm in self.vms:
            vm.quit()
        res = self._outcome.result
        failed = any(t is self for t, _ in res.errors + res.failures)
        if not failed:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print('  logs kept in %s' % self.dir)
