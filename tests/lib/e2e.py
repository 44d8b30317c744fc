# SPDX-License-Identifier: GPL-2.0-or-later
"""What the end-to-end tests add to the harness (harness/guests.py): run
directories kept under the build directory, guest 1 alone running a test
script (tests/guest/), and the results such a script prints."""
import os
import subprocess
import sys
import time

import guests
import initramfs

TEST_GUEST_DIR = os.path.join(guests.TOP, 'tests', 'guest')


def test_rundir(prefix):
    """A fresh run directory for one end-to-end test, kept under the build
    directory so that its logs outlive the test."""
    import tempfile
    build = os.environ.get('QEMU_EPC_BUILD', os.path.join(guests.TOP, 'build'))
    os.makedirs(os.path.join(build, 'test-runs'), exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix + '-', dir=os.path.join(build, 'test-runs'))


def bench_run(test, args, rundir, minutes=20):
    """scripts/bench-run.py ARGS --rundir RUNDIR, its output collected; the
    test fails (naming the logs) if it does not end within `minutes`."""
    try:
        return subprocess.run([sys.executable, os.path.join(guests.TOP, 'scripts', 'bench-run.py')] +
                              list(args) + ['--rundir', rundir],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=minutes * 60)
    except subprocess.TimeoutExpired as e:
        test.fail('bench-run.py did not finish in %d min; logs in %s\n%s'
                  % (minutes, rundir, e.output))


def script_results(raw):
    """The "QEPC-TEST ok|not ok <what>" lines of a guest script, prefix
    removed, and what is wrong with them: no final "done N", a "not ok",
    or a count that is not N."""
    lines = [l.strip()[10:] for l in raw if l.startswith('QEPC-TEST')]
    if not lines or not lines[-1].startswith('done '):
        return lines, 'the script did not finish: %s' % lines
    bad = [l for l in lines if l.startswith('not ok')]
    if bad:
        return lines, 'failed: %s' % bad
    if len(lines) - 1 != int(lines[-1].split()[1]):
        return lines, '%d results, the script counted %s' % (len(lines) - 1, lines[-1])
    return lines, None


def driver_cycle_guest(kdir, ko, rundir, timeout, what, script='driver-cycle.sh',
                       more=()):
    """Guest 1 alone (qemu-epc, no peer) on the kernel in kdir with the
    driver ko (and the modules `more`), running a script of tests/guest/
    (default driver-cycle.sh) to its end.  Returns the stopped Guest and
    its ttyS1 lines; GuestError if it did not finish."""
    mods = list(initramfs.find_modules(os.path.join(kdir, 'modules'),
                                       {'pci-epf-test'}).values())
    initrd = initramfs.build(os.path.join(rundir, 'initramfs.cpio.gz'),
                             mods + [ko] + list(more),
                             os.path.join(kdir, 'pcitest'), os.path.join(kdir, 'pcitest.sh'),
                             os.path.join(TEST_GUEST_DIR, script),
                             os.path.join(guests.GUEST_DIR, 'host-pcitest.sh'))
    g = guests.Guest('epf', rundir, os.path.join(kdir, 'bzImage'), initrd,
                     'console=ttyS0 panic=-1 qepc.role=epf qepc.wait=%d' % timeout,
                     ['-device', 'qemu-epc,socket=' + os.path.join(rundir, 'epc.sock')])
    try:
        g.wait_for('EPF-READY', timeout, what)
        time.sleep(0.2)
    finally:
        g.stop()
    with open(g.results, errors='replace') as f:
        return g, [l.rstrip('\r\n') for l in f]


