# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-epc-launch: preloading, listing, refusing a foreign QEMU."""
import os
import stat
import subprocess

from base import DeviceTest
from qtest import LAUNCH, QEMU, wait_until


class LauncherTest(DeviceTest):
    def run_launch(self, *args, env=None):
        return subprocess.run([LAUNCH, *args], capture_output=True, text=True,
                              timeout=60, env=env)

    def test_device_help_lists_both(self):
        p = self.run_launch(QEMU, '-device', 'help')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('name "qemu-epc"', p.stdout)
        self.assertIn('name "epf-bridge"', p.stdout)
        p = self.run_launch(QEMU, '-device', 'qemu-epc,help')
        self.assertIn('socket=<str>', p.stdout)
        self.assertIn('window-size=<size>', p.stdout)

    def test_foreign_qemu_refused(self):
        fake = self.path('qemu-system-x86_64')
        with open(fake, 'w') as f:
            f.write('#!/bin/sh\necho "QEMU emulator version 7.2.0 (Debian 1:7.2+dfsg-7)"\n')
        os.chmod(fake, stat.S_IRWXU)
        p = self.run_launch(fake, '-device', 'help')
        self.assertEqual(p.returncode, 1)
        self.assertIn('refusing', p.stderr)
        self.assertIn('7.2.0', p.stderr)

    def test_preload_does_not_reach_children(self):
        """The modules drop themselves from LD_PRELOAD: a program QEMU
        starts (here the command of -incoming exec:) does not load them."""
        out = self.path('env.out')
        proc = subprocess.Popen(
            [LAUNCH, QEMU, '-display', 'none', '-nodefaults', '-machine', 'none',
             '-incoming', 'exec:echo "LD_PRELOAD=[$LD_PRELOAD]" > %s' % out],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: os.path.exists(out) and os.path.getsize(out), 20,
                       'QEMU to run its -incoming exec: command')
        finally:
            proc.kill()
            proc.wait(10)
        with open(out) as f:
            env = f.read()
        self.assertIn('LD_PRELOAD=[', env)
        self.assertNotIn('hw-misc-', env)


class BuildCheckTest(DeviceTest):
    def test_headers_of_another_qemu_refused_at_configure(self):
        """meson's configure step refuses a QEMU tree whose version is not
        the installed binary's (scripts/qemu-cflags.py)."""
        from peer import BUILD
        with open(os.path.join(BUILD, 'qemu-tree')) as f:
            tree = f.read().strip()
        fake = self.path('qemu-system-x86_64')
        with open(fake, 'w') as f:
            f.write('#!/bin/sh\necho "QEMU emulator version 9.2.0 (Debian 1:9.2.0+ds-1)"\n')
        os.chmod(fake, stat.S_IRWXU)
        script = os.path.join(os.path.dirname(LAUNCH), 'scripts', 'qemu-cflags.py')
        p = subprocess.run(['python3', script, tree, fake], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn('is QEMU 9.2.0', p.stderr)
        p = subprocess.run(['python3', script, tree, QEMU], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('-DQEP_BUILT_FOR_PKGVERSION="Debian ', p.stdout)
