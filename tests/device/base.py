# SPDX-License-Identifier: GPL-2.0-or-later
import os
import shutil
import tempfile
import unittest

# the bounds docs/reliability.md states for an access to a silent or
# vanished peer: the first waits timeout-ms (300 ms) plus what a busy 2-core
# machine adds; later ones wait 50 ms while the peer stays silent, plus
# what a busy machine adds
FIRST_BOUND = 1.0
LATER_BOUND = 0.25
# ThreadSanitizer's modules run several times slower, beside the other
# suites' QEMUs: the same bounds, stretched
if os.environ.get('QEPC_SUITE_LABEL') == 'tsan':
    FIRST_BOUND, LATER_BOUND = 3 * FIRST_BOUND, 3 * LATER_BOUND


class DeviceTest(unittest.TestCase):
    """Temporary directory, QEMUs stopped whatever happens; logs kept on failure."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='qemu-epc-test-')
        self.vms = []
        self.peers = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def run_plain(self, args, timeout=20):
        """A QEMU that is not driven (-S), with args after the common ones;
        (rc, output) once it exits, or None if it still runs after timeout
        seconds (then killed)."""
        import subprocess
        from qtest import LAUNCH, QEMU
        p = subprocess.Popen([LAUNCH, QEMU, '-machine', 'q35', '-accel', 'tcg', '-S',
                              '-display', 'none', '-nodefaults'] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True)
        try:
            out, _ = p.communicate(timeout=timeout)
            return p.returncode, out
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            return None

    def track(self, vm):
        self.vms.append(vm)
        return vm

    def track_peer(self, p):
        self.peers.append(p)
        return p

    def sanitizer_reports(self):
        """Sanitizer reports in the output of every QEMU this test ran
        (each QTest writes its stdout and stderr to DIR/NAME.log)."""
        from qtest import sanitizer_report
        found = []
        for name in sorted(os.listdir(self.dir)):
            if not name.endswith('.log'):
                continue
            try:
                with open(os.path.join(self.dir, name), errors='replace') as f:
                    rep = sanitizer_report(f.read())
            except OSError:
                continue
            if rep:
                found.append('%s:\n%s' % (name, rep))
        return found

    def print_log_tails(self, lines=15):
        """The end of each QEMU's output, so that a failure seen only in a
        CI log says what the devices reported."""
        for name in sorted(os.listdir(self.dir)):
            if name.endswith('.log'):
                with open(os.path.join(self.dir, name), errors='replace') as f:
                    tail = f.read().splitlines()[-lines:]
                print('  %s (last %d lines):' % (name, len(tail)))
                for line in tail:
                    print('    ' + line)

    def tearDown(self):
        for p in self.peers:
            p.close()
        ends = [why for why in (vm.quit() for vm in self.vms) if why]
        reports = self.sanitizer_reports()
        res = self._outcome.result
        failed = reports or ends or any(t is self for t, _ in res.errors + res.failures)
        if not failed:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print('  logs kept in %s' % self.dir)
            self.print_log_tails()
        if reports:
            self.fail('sanitizer report in QEMU output (logs in %s):\n%s'
                      % (self.dir, '\n'.join(reports)))
        if ends:
            self.fail('a QEMU did not end cleanly (logs in %s):\n%s'
                      % (self.dir, '\n'.join(ends)))


class WiredDeviceTest(DeviceTest):
    """qemu-epc (guest 1) and epf-bridge (guest 2) wired by a socket."""
    epc_props = ''       # more qemu-epc properties: ",name=value..."; {dir}
    bridge_props = ''    # more epf-bridge properties    is the test's directory
    shared_ram = False   # both guests' RAM a shared memfd (the direct path)

    def setUp(self):
        from machines import EpcVm, BridgeVm, R
        super().setUp()
        self.sock = self.path('link.sock')
        self.epc = self.track(EpcVm(self.sock, self.dir,
                                    props=self.epc_props.replace('{dir}', self.dir),
                                    shared_ram=self.shared_ram))
        self.br = self.track(BridgeVm(self.sock, self.dir,
                                      props=self.bridge_props.replace('{dir}', self.dir),
                                      shared_ram=self.shared_ram))
        self.epc.wait_status(R.QEPC_STATUS_PEER, 'the bridge to connect to qemu-epc')

    def host_msi_on(self, addr, data=0x4000, log2=5):
        """Guest 2 enables MSI (2**log2 vectors) to addr with data, and
        guest 1 sees it: qtest's config writes (nobody waits for them)
        reach it in order with the link's other messages, not with the
        test's own commands to guest 1, so the test waits as an EPF driver
        does.  Returns the capability."""
        from machines import R
        msi = self.br.find_cap(0x05)
        self.br.set_cfg(msi + 4, addr)
        self.br.set_cfg(msi + 8, 0)
        self.br.set_cfg(msi + 12, data, 2)
        self.br.set_cfg(msi + 2, 1 | log2 << 4, 2)
        self.epc.wait_status(R.QEPC_STATUS_MSI_EN, 'the host MSI set-up in guest 1')
        return msi

    def bring_up(self):
        """pci-epf-test's function started; guest 2 enumerates it and
        places its BARs.  Returns the sized BARs."""
        from machines import R
        self.sizes = self.epc.standard_function()
        self.epc.start()
        self.epc.wait_status(R.QEPC_STATUS_LINK_UP, 'link up in guest 1')
        self.br.wait_present()
        self.bars = bars = self.br.size_bars()
        self.placed = self.br.assign_bars(bars)
        # qtest's config writes are QEMU's own: the bridge (which mirrors
        # the config space) does not wait for qemu-epc to take them; they
        # reach it in order, the command (the last) after the BARs: wait as
        # an EPF driver does
        self.epc.wait_status(R.QEPC_STATUS_BME, "the host's enumeration in guest 1")
        return bars
