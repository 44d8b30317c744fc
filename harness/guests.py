# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest control: booted guests linked by qemu-epc and epf-bridge, the
harness behind `qemu-epc-bench run` and the end-to-end tests.

Guest 1 ("epf") runs the endpoint side, guest 2 ("host") the host side;
both boot the same kernel and initramfs (guest/init picks the role
from the command line).  Each guest writes kernel messages to ttyS0 and
"QEPC-..." progress lines to ttyS1, both kept as files in the run
directory.  Every wait has a timeout and names what it waited for.

Each QEMU runs in a process group of its own, which stop() ends whatever
the QEMU started, and dies with the harness process that started it
(PR_SET_PDEATHSIG): a harness killed on a timeout leaves no guest
running.  Where artefacts are: artefacts.py; which cases run: cases.py."""
import ctypes
import os
import re
import signal
import subprocess
import time

from qmp import qmp

from artefacts import LAUNCH, QEMU, TOP  # noqa: F401  (re-exported for tests)

FUNCTION = '0000:00:04.0'       # where guest 2 gets the epf-bridge


class GuestError(Exception):
    pass


_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child, before exec: SIGKILL when the parent goes."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def spawn(args, **kw):
    """A child in a process group of its own that dies with this process."""
    return subprocess.Popen(args, start_new_session=True, preexec_fn=_die_with_parent, **kw)


def stop_group(proc, timeout=10):
    """End a child started by spawn() and everything in its group: SIGTERM,
    then SIGKILL after timeout.  Returns its exit status."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # what the child left in its group goes too
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return proc.returncode


class Guest:
    def __init__(self, name, rundir, kernel, initrd, append, qemu_args,
                 accel='tcg', smp=1, mem='512M', machine='q35', shared_ram=True):
        """shared_ram: the guest's RAM is a shared memfd, which the devices
        offer each other (their shmem property is on by default)."""
        self.name = name
        self.console = os.path.join(rundir, name + '-console.log')
        self.results = os.path.join(rundir, name + '-ttyS1.log')
        self.qemu_log = os.path.join(rundir, name + '-qemu.log')
        self.qmp_path = os.path.join(rundir, name + '-qmp.sock')
        for p in (self.console, self.results):
            open(p, 'w').close()
        # what the harness answers the guest's requests (answer()): the
        # input of ttyS1, a FIFO this process holds open, so QEMU's open
        # does not wait and the guest reads only what was written
        self.answers = os.path.join(rundir, name + '-ttyS1.in')
        if os.path.exists(self.answers):
            os.unlink(self.answers)
        os.mkfifo(self.answers, 0o600)
        self.answers_fd = os.open(self.answers, os.O_RDWR | os.O_NONBLOCK)
        ram = []
        if shared_ram:
            ram = ['-object', 'memory-backend-memfd,id=ram,size=%s,share=on' % mem]
            machine += ',memory-backend=ram'
        accel_opt = accel + os.environ.get('QEPC_ACCEL_OPT_' + name.upper(), '')
        args = [LAUNCH, QEMU, '-machine', machine, '-accel', accel_opt] + ram + [
                '-smp', str(smp), '-m', mem, '-nodefaults', '-display', 'none',
                '-no-reboot', '-kernel', kernel, '-initrd', initrd,
                '-append', append,
                '-chardev', 'file,id=con,path=' + self.console,
                '-serial', 'chardev:con',
                '-chardev', 'file,id=res,path=%s,input-path=%s' % (self.results, self.answers),
                '-serial', 'chardev:res',
                '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path] + list(qemu_args)
        if accel == 'kvm':
            args += ['-cpu', 'max']
        with open(self.qemu_log, 'w') as log:
            log.write(' '.join(args) + '\n')
            log.flush()
            self.proc = spawn(args, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
        self.stopped_by_us = False
        self.pos = 0
        self.pending = ''
        self.unread = []     # lines read past the one wait_for returned

    def qmp(self, command, **args):
        """One QMP command: its return value, or RuntimeError."""
        return qmp(self.qmp_path, command, args, who='guest ' + self.name)

    def alive(self):
        return self.proc.poll() is None

    def answer(self, line):
        """One line to the guest's ttyS1 (guest/lib.sh reads it after a
        request it printed there); OSError once the guest was stopped."""
        if self.answers_fd < 0:
            raise OSError('guest %s was stopped' % self.name)
        os.write(self.answers_fd, (line + '\n').encode())

    def new_lines(self):
        """QEPC- lines, KTAP results and "# " diagnostics written since the
        last call."""
        with open(self.results, 'rb') as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        text = self.pending + data.decode('utf-8', 'replace').replace('\r', '')
        lines = text.split('\n')
        self.pending = lines.pop()
        out, self.unread = self.unread, []
        for l in lines:
            if 'QEPC-' in l:
                out.append(l[l.index('QEPC-'):])
            elif re.match(r'(not )?ok \d+ ', l):      # a host script's KTAP
                out.append(l.strip())
            elif l.startswith('# '):                 # and its diagnostics
                out.append(l.rstrip())
        return out

    def wait_for(self, prefix, timeout, what):
        """Wait for a line starting with QEPC-<prefix>; an ERROR line, the
        guest's exit or the timeout ends the wait with GuestError."""
        end = time.monotonic() + timeout
        while True:
            alive = self.alive()     # before reading: no line is lost at exit
            lines = self.new_lines()
            for i, line in enumerate(lines):
                if line.startswith('QEPC-ERROR'):
                    raise GuestError('%s guest: %s' % (self.name, line[11:]))
                if line.startswith('QEPC-' + prefix):
                    # what followed is the next reader's
                    self.unread = lines[i + 1:]
                    return line
            if not alive:
                raise GuestError('%s guest: QEMU exited (status %s) while waiting for %s; '
                                 'see %s and %s' % (self.name, self.proc.returncode, what,
                                                    self.qemu_log, self.console))
            if time.monotonic() > end:
                raise GuestError('%s guest: timed out after %d s waiting for %s; see %s'
                                 % (self.name, timeout, what, self.console))
            time.sleep(0.05)

    def stop(self, timeout=10):
        """End the guest (SIGTERM: QEMU exits 0), and anything left in its
        process group; returns QEMU's exit status."""
        if self.alive():
            self.stopped_by_us = True
        rc = stop_group(self.proc, timeout)
        if self.answers_fd >= 0:
            os.close(self.answers_fd)
            self.answers_fd = -1
        return rc

    def exit_problem(self):
        """Why QEMU's end was not clean, or None: an exit status other than
        0 (a guest that powers off and a QEMU ended by stop() both exit 0),
        e.g. an abort after the guest's last result."""
        rc = self.proc.poll()
        if rc is None or rc == 0:
            return None
        if rc == -signal.SIGKILL and self.stopped_by_us:
            why = 'QEMU did not end on SIGTERM within its time and was killed'
        elif rc < 0:
            why = 'QEMU ended by signal %d (%s)' % (-rc, signal.Signals(-rc).name)
        else:
            why = 'QEMU exited with status %d' % rc
        try:
            with open(self.qemu_log, errors='replace') as f:
                tail = ' '.join(f.read().splitlines()[-3:])
        except OSError:
            tail = ''
        return '%s (%s: %s)' % (why, self.qemu_log, tail)

    def kernel_problems(self, expected=()):
        """Oops, BUG, WARNING or KASAN lines in the console, minus the
        expected ones (regexps)."""
        try:
            with open(self.console, errors='replace') as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        bad = re.compile(r'(Oops|BUG:|WARNING:|KASAN|kmemleak:|general protection|'
                         r'Kernel panic|hung_task|blocked for more than|soft lockup)')
        out = []
        for l in lines:
            if bad.search(l) and not any(re.search(e, l) for e in expected):
                out.append(l.strip())
        return out


# the guests of a run, in order: (who, as the harness names the guest, as
# the verdicts do); a pair has the first two, run --epf ntb all three
GUESTS = (('epf', 'guest 1 (epf)'), ('host', 'guest 2 (host)'), ('peer', 'guest 3 (peer)'))


# 6.12 and 7.3 warn once on x86 at the first EPC registration: the
# architecture has no generic PCI domains (pci-epc-core.c, __pci_epc_create;
# 7.3 words the WARNING line differently)
EPF_EXPECTED = (r'WARNING: .*drivers/pci/endpoint/pci-epc-core\.c:\d+ (at )?__pci_epc_create',)


# The completion timeout (timeout-ms) of both devices of a pair.  The
# devices' default, 300 ms, keeps a vCPU that reads from a dead peer short;
# but a TCG guest pair beside others on a busy 2-core machine can take far
# longer to answer a read (captures of the 7.3 vNTB pair beside an NVMe pair
# and two busy loops: up to 257 ms and 839 ms), and a read that times out
# hands the driver all-ones as data: ntb_transport once took a scratchpad
# read of all-ones for the window size (0xffffffff00000000) and the network
# never came up.  QEMU's vfio-user client waits 5 s for a reply
# (x-msg-timeout); so do the pairs.  An injected timeout waits this long.
LINK_TIMEOUT_MS = 5000


class Pair:
    """Guest 1 with qemu-epc and guest 2 with epf-bridge, linked by a
    Unix socket in the run directory."""

    def __init__(self, rundir, kernel, initrd, accel='tcg', host_smp=16,
                 boot_timeout=240, suite='full', dma_mode='slave',
                 case_timeout=120, epc_props='', series='6.12', shmem=True, env=None,
                 epf_smp=1, ctl=False, functions=1, function_setup=None, link='socket',
                 trace=False, capture=False, timeout_ms=LINK_TIMEOUT_MS, hosts=1,
                 timing=False):
        """suite: the case list guest 2's default host script runs (SUITES);
        dma_mode: "slave" or "memcpy", the DMA channels pcie-qemu-ep offers;
        epc_props: more qemu-epc properties, ",name=value...";
        series: the kernel series booted ('' for a user's kernel);
        shmem: both guests' RAM shared and offered (the direct data path),
        else every access goes through messages; env: {NAME: VALUE} for
        both guests' scripts, as QEPC_NAME; epf_smp: vCPUs of guest 1;
        ctl: a serial line between the guests (ttyS2 in both, a socket in
        the run directory) for scripts that coordinate, not through the
        device under test; functions: qemu-epc's functions=, and as many
        epf-bridges in guest 2 (04.0 with multifunction=on, 04.1, ...),
        QEPC_FUNCTIONS for the scripts, and QEPC_FUNCk from function_setup
        for guest/epf-test.sh; link: how the devices name their socket,
        "socket" (socket=PATH) or "chardev" (a -chardev socket the command
        line sets up, chardev=ID; one function); trace: each QEMU prints
        its device's trace events (-trace 'qemu_epc_*', -trace
        'epf_bridge_*') into its *-qemu.log; capture: each device writes
        its link's capture (capture=FILE) into the run directory,
        self.captures; timeout_ms: both devices' timeout-ms; hosts=2: a
        second qemu-epc in guest 1 (id epc1, socket epc1.sock; the two at
        PCI slots 6 and 7, in that order) and a guest 3 (self.peer) with
        an epf-bridge to it, which runs guest/ntb-peer.sh: the three
        guests of pci-epf-ntb (one function, socket link, no capture; ctl
        joins guests 2 and 3 instead); timing: guests 1 and 2 write
        trace events with the host's time (-msg timestamp=on) into
        NAME-timing.log, none enabled until timing_events() turns them on,
        and name their threads (harness/timing.py)."""
        if link not in ('socket', 'chardev') or (link == 'chardev' and functions > 1):
            raise ValueError('link=%s with %d functions' % (link, functions))
        if hosts not in (1, 2) or (hosts == 2 and (functions > 1 or link != 'socket' or
                                                   capture)):
            raise ValueError('hosts=%d with %d functions, link=%s, capture=%s'
                             % (hosts, functions, link, capture))
        self.shmem = shmem
        dev = (',timeout-ms=%d' % timeout_ms) + ('' if shmem else ',shmem=off')
        if functions > 1:
            env = dict(env or {}, FUNCTIONS=functions)
            for k in range(1, functions):
                env['FUNC%d' % k] = '%#x,%d,%d,%d' % function_setup[k]
            epc_props += ',functions=%d' % functions
        self.series = series
        self.rundir = rundir
        self.sock = os.path.join(rundir, 'epc.sock')
        self.boot_timeout = boot_timeout
        # no_timer_check: under TCG on a busy machine the boot-time check
        # of the IO-APIC timer can miss its ticks and panic ("timer doesn't
        # work through Interrupt-remapped IO-APIC"); the timer is emulated
        common = ('console=ttyS0 panic=-1 printk.time=1 no_timer_check '
                  'qepc.wait=%d qepc.suite=%s '
                  'qepc.dma=%s qepc.case_timeout=%d'
                  % (boot_timeout, suite, dma_mode, case_timeout))
        common += ''.join(' qepc.env.%s=%s' % kv for kv in sorted((env or {}).items()))
        ctl_sock = os.path.join(rundir, 'ctl.sock')
        ctl1 = ['-chardev', 'socket,id=ctl,path=%s,server=on,wait=off' % ctl_sock,
                '-serial', 'chardev:ctl'] if ctl else []
        ctl2 = ['-chardev', 'socket,id=ctl,path=%s,reconnect-ms=200' % ctl_sock,
                '-serial', 'chardev:ctl'] if ctl else []
        if link == 'chardev':
            epc_link = ['-chardev', 'socket,id=epclink,path=%s,server=on,wait=off' % self.sock,
                        '-device', 'qemu-epc,id=epc,chardev=epclink' + epc_props + dev]
            bridges = ['-chardev', 'socket,id=epclink,path=%s,reconnect-ms=200' % self.sock,
                       '-device', 'epf-bridge,id=bridge0,chardev=epclink,addr=04.0' + dev]
        elif hosts == 2:
            self.sock1 = os.path.join(rundir, 'epc1.sock')
            epc_link = ['-device', 'qemu-epc,id=epc,addr=06.0,socket=' + self.sock +
                        epc_props + dev,
                        '-device', 'qemu-epc,id=epc1,addr=07.0,socket=' + self.sock1 +
                        epc_props + dev]
            def bridge(sock):
                """Each host guest's one function."""
                return ['-device', 'epf-bridge,id=bridge0,socket=%s,addr=04.0%s' % (sock, dev)]
            bridges = bridge(self.sock)
        else:
            epc_link = ['-device', 'qemu-epc,id=epc,socket=' + self.sock + epc_props + dev]
            bridges = [a for k in range(functions) for a in (
                '-device', 'epf-bridge,id=bridge%d,socket=%s,addr=04.%d%s%s'
                % (k, self.sock, k, ',multifunction=on' if functions > 1 and
                   k == 0 else '', dev))]
        self.captures = []
        if capture:
            self.captures = [os.path.join(rundir, 'epc.pcapng')] + [
                os.path.join(rundir, 'bridge%d.pcapng' % k) for k in range(functions)]
            epc_link[-1] += ',capture=' + self.captures[0]
            devs = [i for i, a in enumerate(bridges) if a.startswith('epf-bridge,')]
            for k, i in enumerate(devs):
                bridges[i] += ',capture=' + self.captures[1 + k]
        if trace:
            epc_link += ['-trace', 'qemu_epc_*']
            bridges += ['-trace', 'epf_bridge_*']
        self.timing = {}
        if timing:
            self.timing = {name: os.path.join(rundir, name + '-timing.log')
                           for name in ('epf', 'host')}

            def timed(name):
                """Guest NAME's QEMU: its trace file, the host's time on each
                line, thread names (harness/timing.py tells vCPUs from the
                rest by them)."""
                return ['-msg', 'timestamp=on', '-trace', 'file=' + self.timing[name],
                        '-name', name + ',debug-threads=on']
            epc_link += timed('epf')
            bridges += timed('host')
        self.epf = Guest('epf', rundir, kernel, initrd,
                         common + ' qepc.role=epf',
                         epc_link + (ctl1 if hosts == 1 else []),
                         accel=accel, smp=epf_smp, shared_ram=shmem)
        # interrupt remapping: x86 gives a function more than one MSI
        # vector only behind it; no DMA translation: bus addresses are
        # guest-physical, so the bridge offers guest 2's RAM as it is
        iommu = ['-device', 'intel-iommu,intremap=on,eim=off,dma-translation=off']
        self.host = Guest('host', rundir, kernel, initrd,
                          common + ' qepc.role=host intremap=on',
                          iommu + bridges + ctl2,
                          accel=accel, smp=host_smp,
                          machine='q35,kernel-irqchip=split', shared_ram=shmem)
        self.peer = None
        if hosts == 2:
            self.peer = Guest('peer', rundir, kernel, initrd,
                              common + ' qepc.role=host qepc.host=ntb-peer.sh intremap=on',
                              iommu + bridge(self.sock1) + ctl1,
                              accel=accel, smp=host_smp,
                              machine='q35,kernel-irqchip=split', shared_ram=shmem)
        # every guest, with the name the verdicts give it
        self.guests = [(who, label, g) for (who, label), g in
                       zip(GUESTS, (self.epf, self.host, self.peer)[:1 + hosts])]

    def bring_up(self):
        """Endpoint configured and started, function found by the host
        (and by guest 3, where there is one)."""
        self.epf.wait_for('EPF-READY', self.boot_timeout,
                          'guest 1 to boot, bind the controller and start the EPF')
        fn = self.host.wait_for('FUNCTION', self.boot_timeout,
                                'guest 2 to boot and find the function by rescan')
        if self.peer:
            self.peer.wait_for('FUNCTION', self.boot_timeout,
                               'guest 3 to boot and find the function by rescan')
        return fn

    def inject(self, device, spec):
        """Set the inject property of 'epc' or 'epc1' (in guest 1),
        'bridgeK' (in guest 2) or 'peer:bridgeK' (in guest 3) to spec
        (docs/qemu-epc.md, "Fault injection")."""
        g = self.device_guest(device)
        g.qmp('qom-set', path=device.split(':')[-1], property='inject', value=spec)

    def timing_events(self, events, enable):
        """Turn trace events on or off in guest 1's and guest 2's QEMU
        (a timing pair): events {'epf': [name or pattern], 'host': [...]}."""
        for name, g in (('epf', self.epf), ('host', self.host)):
            for ev in events.get(name, ()):
                g.qmp('trace-event-set-state', name=ev, enable=enable)

    def device_guest(self, device):
        """The guest whose QEMU has device (as inject() names it)."""
        if device.startswith('epc'):
            return self.epf
        if device.startswith('peer:'):
            if not self.peer:
                raise RuntimeError('no guest 3 in this run')
            return self.peer
        return self.host

    def stop(self):
        for _, _, g in reversed(self.guests):
            g.stop()

    def exit_problems(self):
        """[(who, why)] for each guest whose QEMU did not end cleanly."""
        return [(who, g.exit_problem()) for who, _, g in self.guests if g.exit_problem()]

    def kernel_problems(self):
        return [(who, p) for who, _, g in self.guests
                for p in g.kernel_problems(EPF_EXPECTED if who == 'epf' else ())]
