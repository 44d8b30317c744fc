# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-epc-launch: preloading, listing, refusing a foreign QEMU."""
import os
import re
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

    def test_every_property_of_ours_is_described(self):
        """-device X,help describes each property the device adds, as
        QEMU's own devices do."""
        ours = {'qemu-epc': ['socket', 'window-size', 'timeout-ms', 'dma-rate',
                             'inbound-windows', 'vendor-id', 'device-id', 'functions',
                             'shmem', 'capture', 'capture-limit'] +
                            ['bar%d' % n for n in range(6)],
                'epf-bridge': ['socket', 'timeout-ms', 'reconnect-ms', 'function',
                               'shmem', 'capture', 'capture-limit']}
        for dev, props in ours.items():
            p = self.run_launch(QEMU, '-device', dev + ',help')
            self.assertEqual(p.returncode, 0, p.stderr)
            for prop in props:
                line = [l for l in p.stdout.splitlines() if l.strip().startswith(prop + '=')]
                self.assertEqual(len(line), 1, '%s: %s not listed' % (dev, prop))
                desc = line[0].split(' - ', 1)[1] if ' - ' in line[0] else ''
                self.assertRegex(desc, r'[a-z]{3,}.*', '%s.%s has no description: %r'
                                 % (dev, prop, line[0]))

    def test_modules_export_nothing_of_their_own(self):
        """Both modules are preloaded into one process: each keeps its link
        layer and codec to itself (hidden visibility)."""
        build = os.environ.get('QEMU_EPC_BUILD')
        for so in ('hw-misc-qemu-epc.so', 'hw-misc-epf-bridge.so'):
            p = subprocess.run(['nm', '-D', '--defined-only', os.path.join(build, so)],
                               capture_output=True, text=True, check=True)
            ours = [l.split()[-1] for l in p.stdout.splitlines()
                    if re.search(r' [TDBR] (qep_|epc_|bridge_|link_)', l)]
            self.assertEqual(ours, [], so)

    def test_sources_pass_qemu_checkpatch(self):
        """The QEMU-side code passes scripts/checkpatch.pl of the QEMU source
        it is built against, with no error and no warning."""
        build = os.environ.get('QEMU_EPC_BUILD')
        with open(os.path.join(build, 'qemu-tree')) as f:
            script = os.path.join(f.read().strip(), 'src', 'scripts', 'checkpatch.pl')
        self.assertTrue(os.path.isfile(script), script)
        top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        srcs = sorted(os.path.join(top, 'qemu-modules', f)
                      for f in os.listdir(os.path.join(top, 'qemu-modules'))
                      if f.endswith(('.c', '.h')))
        self.assertGreaterEqual(len(srcs), 10)
        p = subprocess.run(['perl', script, '--no-tree', '--terse', '-f', *srcs],
                           capture_output=True, text=True, timeout=300)
        found = [l for l in p.stdout.splitlines() if re.search(r': (ERROR|WARNING):', l)]
        self.assertEqual(found, [], p.stdout[-4000:])
        self.assertEqual(p.returncode, 0, p.stdout[-4000:] + p.stderr[-2000:])

    def test_migration_is_refused_with_a_reason(self):
        """Migrating a VM with either device fails, saying why."""
        for name in ('qemu-epc', 'epf-bridge'):
            p = subprocess.run([LAUNCH, QEMU, '-display', 'none', '-nodefaults',
                                '-machine', 'q35', '-accel', 'tcg', '-S',
                                '-device', '%s,socket=%s' % (name, self.path(name + '.sock')),
                                '-qmp', 'stdio'],
                               input='{"execute":"qmp_capabilities"}\n'
                                     '{"execute":"migrate","arguments":{"uri":"exec:cat>/dev/null"}}\n'
                                     '{"execute":"quit"}\n',
                               capture_output=True, text=True, timeout=60)
            self.assertIn('cannot be migrated', p.stdout, p.stdout + p.stderr)
            self.assertIn(name, p.stdout)

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
