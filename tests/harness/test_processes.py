# SPDX-License-Identifier: GPL-2.0-or-later
"""Nothing outlives a test: a run ended on its timeout takes its whole
process group with it, a guest's QEMU dies with the harness that started
it, a QEMU's unclean end is reported, and the package tests fail when the
purge at their end fails."""
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import e2e
import guests


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie waiting for its parent is gone for our purpose
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return False


def wait_gone(pid, secs=10):
    end = time.monotonic() + secs
    while alive(pid) and time.monotonic() < end:
        time.sleep(0.05)
    return not alive(pid)


class Groups(unittest.TestCase):
    def test_a_timed_out_run_takes_its_group_with_it(self):
        d = tempfile.mkdtemp(prefix='qepc-group-')
        pidfile = os.path.join(d, 'pid')
        # a "harness" that starts a long-lived child (as run starts QEMUs)
        # and then hangs
        script = 'sleep 600 & echo $! >%s; wait' % pidfile
        with self.assertRaises(AssertionError) as cm:
            e2e.run_cmd(self, ['sh', '-c', script], minutes=0.02, rundir=d)
        self.assertIn('its process group was ended', str(cm.exception))
        with open(pidfile) as f:
            child = int(f.read())
        self.assertTrue(wait_gone(child), 'the run\'s child outlived it')

    def test_a_guest_dies_with_the_harness_that_started_it(self):
        d = tempfile.mkdtemp(prefix='qepc-pdeath-')
        pidfile = os.path.join(d, 'pid')
        code = ('import sys, time; sys.path.insert(0, %r); import guests; '
                'p = guests.spawn(["sleep", "600"]); open(%r, "w").write(str(p.pid)); '
                'time.sleep(600)' % (os.path.dirname(guests.__file__), pidfile))
        h = subprocess.Popen([sys.executable, '-c', code])
        end = time.monotonic() + 10
        while not os.path.exists(pidfile) and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.2)
        with open(pidfile) as f:
            child = int(f.read())
        self.assertTrue(alive(child))
        h.kill()
        h.wait()
        self.assertTrue(wait_gone(child), 'the "QEMU" outlived the harness that started it')

    def test_stop_group_ends_what_the_child_started(self):
        p = guests.spawn(['sh', '-c', 'sleep 600 & sleep 600 & wait'])
        time.sleep(0.3)
        kids = [int(x) for x in subprocess.run(['pgrep', '-g', str(p.pid)],
                                               stdout=subprocess.PIPE,
                                               universal_newlines=True).stdout.split()]
        self.assertGreaterEqual(len(kids), 3)
        guests.stop_group(p, 2)
        for k in kids:
            self.assertTrue(wait_gone(k), 'pid %d of the group survived' % k)


class UncleanEnds(unittest.TestCase):
    def test_exit_problem_names_an_abort(self):
        d = tempfile.mkdtemp(prefix='qepc-exit-')
        g = guests.Guest.__new__(guests.Guest)
        g.qemu_log = os.path.join(d, 'qemu.log')
        with open(g.qemu_log, 'w') as f:
            f.write('qemu-system-x86_64: something: Assertion failed\n')
        g.stopped_by_us = False
        g.proc = subprocess.Popen(['sh', '-c', 'kill -ABRT $$'])
        g.proc.wait()
        why = g.exit_problem()
        self.assertIsNotNone(why)
        self.assertIn('SIGABRT', why)
        self.assertIn('Assertion failed', why)
        g.proc = subprocess.Popen(['true'])
        g.proc.wait()
        self.assertIsNone(g.exit_problem())


class PackagePurge(unittest.TestCase):
    def test_a_failed_purge_fails_the_package_tests(self):
        sys.path.insert(0, os.path.join(guests.TOP, 'tests', 'pkg'))
        import test_packages as T
        saved = T.purge, T.Packages.ours
        try:
            T.purge = lambda: subprocess.CompletedProcess(['apt-get'], 100, 'E: dpkg broke\n')
            T.Packages.ours = True
            with self.assertRaisesRegex(AssertionError, 'apt-get purge .* failed'):
                T.Packages.tearDownClass()
        finally:
            T.purge, T.Packages.ours = saved


if __name__ == '__main__':
    unittest.main()
