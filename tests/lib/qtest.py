# SPDX-License-Identifier: GPL-2.0-or-later
"""A QEMU under the qtest accelerator, driven over its qtest socket.

Every wait has a timeout and says what it waited for."""
import os
import signal
import socket
import subprocess
import tempfile
import time

from artefacts import TOP, LAUNCH, QEMU, build_dir  # noqa: F401  (harness/artefacts.py)
from qmp import qmp, QmpTimeout  # noqa: E402  (harness/qmp.py)


def qtest_accel_dir():
    """Directory of accel-qtest-x86_64.so, built by scripts/setup.sh."""
    d = os.environ.get('QEMU_EPC_QTEST_DIR')
    if not d:
        with open(os.path.join(build_dir(), 'qemu-tree')) as f:
            d = os.path.join(f.read().strip(), 'modules')
    return d


class Timeout(Exception):
    pass


# what AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer print
SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer',
                   'runtime error:', 'SUMMARY: AddressSanitizer',
                   'SUMMARY: UndefinedBehaviorSanitizer',
                   'WARNING: ThreadSanitizer', 'ThreadSanitizer:')


def sanitizer_report(text, lines=40):
    """The first sanitizer report in text (its first lines), or ''."""
    at = [text.find(m) for m in SANITIZER_MARKS]
    at = [a for a in at if a >= 0]
    if not at:
        return ''
    start = text.rfind('\n', 0, min(at)) + 1
    return '\n'.join(text[start:].split('\n')[:lines])


def wait_until(cond, timeout, what, step=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise Timeout('timed out after %.1f s waiting for %s' % (timeout, what))


class QTest:
    def __init__(self, name, devices, workdir, extra=(), accel_dir=None, accel='qtest'):
        """accel: qtest (no vCPU runs), or tcg with a firmware in extra
        (-bios) whose vCPUs run while the test drives the devices."""
        self.name = name
        self.accel = accel
        self.workdir = workdir
        self.qsock = os.path.join(workdir, name + '.qtest')
        self.qmp_path = os.path.join(workdir, name + '.qmp')
        self.log_path = os.path.join(workdir, name + '.log')
        self.irqs = []
        self.devices = devices
        self.extra = list(extra)
        self.accel_dir = accel_dir or qtest_accel_dir()
        self.proc = None
        self.signalled = False      # the test sent it a fatal signal
        self.launch()

    def launch(self):
        if os.path.exists(self.qsock):
            os.unlink(self.qsock)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.qsock)
        srv.listen(1)
        srv.settimeout(15)
        args = [LAUNCH, QEMU, '-machine', 'q35', '-accel', self.accel,
                '-qtest', 'unix:' + self.qsock, '-qtest-log', '/dev/null',
                '-display', 'none', '-nodefaults', '-m', '256M',
                '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path,
                '-d', 'guest_errors', '-D', self.log_path + '.guest']
        for d in self.devices:
            args += ['-device', d]
        args += self.extra
        env = dict(os.environ, QEMU_MODULE_DIR=self.accel_dir)
        self.log = open(self.log_path, 'a')
        self.proc = subprocess.Popen(args, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            self.sock, _ = srv.accept()
        except socket.timeout:
            self.proc.kill()
            raise Timeout('%s: QEMU did not connect to its qtest socket in 15 s; '
                          'log: %s' % (self.name, self.read_log()))
        finally:
            srv.close()
        self.sock.settimeout(20)
        self.rfile = self.sock.makefile('r')

    def read_log(self):
        self.log.flush()
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ''

    def guest_errors(self):
        try:
            with open(self.log_path + '.guest') as f:
                return f.read()
        except OSError:
            return ''

    def cmd(self, line):
        self.sock.sendall((line + '\n').encode())
        while True:
            try:
                resp = self.rfile.readline()
            except socket.timeout:
                raise Timeout('%s: no qtest answer to %r in 20 s' % (self.name, line))
            if not resp:
                raise Timeout('%s: QEMU closed the qtest socket during %r; log: %s'
                              % (self.name, line, self.read_log()))
            resp = resp.strip()
            if resp.startswith('IRQ '):
                self.irqs.append(resp)
                continue
            if not resp.startswith('OK'):
                raise RuntimeError('%s: %r -> %r' % (self.name, line, resp))
            return resp

    def qmp(self, command, **args):
        """Run one QMP command on a fresh connection: its 'return' value, or
        RuntimeError with QEMU's error description."""
        try:
            return qmp(self.qmp_path, command, args, who=self.name)
        except QmpTimeout as e:
            raise Timeout(str(e))

    def _val(self, line):
        return int(self.cmd(line).split()[1], 16)

    def clock_step(self, ns):
        """Advance the virtual clock (only qtest moves it) and run what
        falls due."""
        self.cmd('clock_step %d' % ns)

    def readl(self, a): return self._val('readl 0x%x' % a)
    def readq(self, a): return self._val('readq 0x%x' % a)
    def readb(self, a): return self._val('readb 0x%x' % a)
    def writel(self, a, v): self.cmd('writel 0x%x 0x%x' % (a, v))
    def writeq(self, a, v): self.cmd('writeq 0x%x 0x%x' % (a, v))
    def writeb(self, a, v): self.cmd('writeb 0x%x 0x%x' % (a, v))

    def memwrite(self, a, data):
        self.cmd('write 0x%x 0x%x 0x%s' % (a, len(data), data.hex()))

    def memread(self, a, n):
        return bytes.fromhex(self.cmd('read 0x%x 0x%x' % (a, n)).split()[1][2:])

    # PCI config space through 0xcf8/0xcfc, bus 0
    def cfg_read(self, devfn, off, size=4):
        self.cmd('outl 0xcf8 0x%x' % (0x80000000 | devfn << 8 | (off & 0xfc)))
        op = {1: 'inb', 2: 'inw', 4: 'inl'}[size]
        return self._val('%s 0x%x' % (op, 0xcfc + (off & 3)))

    def cfg_write(self, devfn, off, val, size=4):
        self.cmd('outl 0xcf8 0x%x' % (0x80000000 | devfn << 8 | (off & 0xfc)))
        op = {1: 'outb', 2: 'outw', 4: 'outl'}[size]
        self.cmd('%s 0x%x 0x%x' % (op, 0xcfc + (off & 3), val))

    def intercept_ioapic(self):
        self.cmd('irq_intercept_in ioapic')

    def irq_events(self):
        """Collect IRQ lines that arrived; a cheap command flushes them."""
        self.cmd('readb 0x0')
        ev, self.irqs = self.irqs, []
        return ev

    def alive(self):
        return self.proc and self.proc.poll() is None

    def kill(self, sig=9):
        if self.alive():
            self.proc.send_signal(sig)
            if sig not in (signal.SIGSTOP, signal.SIGCONT):
                self.signalled = True
        if sig == 9:
            self.proc.wait(10)
            self.sock.close()

    def quit(self):
        """End QEMU (SIGTERM: it exits 0).  Returns why its end was not
        clean, or None: an exit status other than 0 when the test did not
        kill it, e.g. an abort or a sanitizer's exit after the last
        assertion, or a QEMU that did not end on SIGTERM."""
        why = None
        if self.alive():
            try:
                self.sock.close()
            except OSError:
                pass
            self.proc.send_signal(signal.SIGCONT)   # a stopped QEMU takes SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                why = '%s: QEMU did not end within 10 s of SIGTERM' % self.name
        rc = self.proc.returncode if self.proc else 0
        # SIGTERM ends QEMU with 0 once it handles signals; before that
        # (early in its start) the signal itself ends it: clean too
        if rc == -signal.SIGTERM:
            rc = 0
        if not why and rc and not self.signalled:
            why = '%s: QEMU %s; log: %s' % (
                self.name, 'ended by signal %d' % -rc if rc < 0 else 'exited with status %d' % rc,
                self.log_path)
        if not self.log.closed:
            self.log.close()
        return why
