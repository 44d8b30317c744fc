# SPDX-License-Identifier: GPL-2.0-or-later
"""The device modules build from one source against the QEMU versions
Debian users have: Debian 12's own 7.2, the installed 10.0
(bookworm-backports) and the newest QEMU in Debian (a compile check: its
binaries need Debian 13's C library).  Each build is fresh and must be
warning-free; a build against a QEMU that is not installed says so.  The
trees come from scripts/qemu-tree.sh (./qemu-epc-bench setup).

The 7.2 build (BUILD/qemu-7.2) is what tests/run.py then runs the whole
device suite on, with Debian 12's qemu-system-x86 unpacked under the cache
(suite 'versions')."""
import os
import re
import shutil
import subprocess
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get('QEMU_EPC_BUILD', os.path.join(TOP, 'build'))
MODULES = ('hw-misc-qemu-epc.so', 'hw-misc-epf-bridge.so')
# what the device suite needs besides the modules: the codec library of
# the test peer and the Python views of the C headers
DEVICE_SUITE_TARGETS = ('libqemu-epc-proto.so', 'tests/regs.py', 'tests/proto.py',
                        'tests/bar-writer.bin',     # the vCPU remap test's firmware
                        'qemu-epc.lua')             # the captures' dissector


def recorded(name):
    """A path scripts/setup.sh recorded in the build directory."""
    path = os.path.join(BUILD, name)
    if not os.path.isfile(path):
        raise AssertionError('%s is missing: run ./qemu-epc-bench setup' % path)
    with open(path) as f:
        return f.read().strip()


def tree_version(tree):
    with open(os.path.join(tree, 'build', 'config-host.h')) as f:
        return re.search(r'#define QEMU_VERSION "([^"]+)"', f.read()).group(1)


def vtuple(v):
    return tuple(int(x) for x in v.split('.'))


class QemuVersions(unittest.TestCase):
    def meson(self, name, tree, *opts, targets=()):
        """A fresh build of the modules against tree in BUILD/qemu-NAME."""
        d = os.path.join(BUILD, 'qemu-' + name)
        shutil.rmtree(d, ignore_errors=True)
        p = subprocess.run(['meson', 'setup', d, TOP, '-Dqemu_tree=' + tree] + list(opts),
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr[-3000:])
        p = subprocess.run(['nice', '-n', '10', 'ninja', '-C', d, *MODULES, *targets],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=1200)
        self.assertEqual(p.returncode, 0, p.stdout[-6000:])
        warnings = [l for l in p.stdout.splitlines() if re.search(r'warning:|error:', l)]
        self.assertEqual(warnings, [], p.stdout[-6000:])
        for m in MODULES:
            self.assertTrue(os.path.isfile(os.path.join(d, m)), m)
        return d

    def test_builds_against_qemu_7_2_of_debian_12(self):
        tree = recorded('qemu-tree-bookworm')
        qemu = os.path.join(tree, 'root', 'usr', 'bin', 'qemu-system-x86_64')
        self.assertEqual(vtuple(tree_version(tree))[:2], (7, 2))
        d = self.meson('7.2', tree, '-Dqemu_binary=' + qemu, targets=DEVICE_SUITE_TARGETS)
        with open(os.path.join(d, 'qemu-epc-built-for')) as f:
            built_for = f.read().strip()
        self.assertRegex(built_for, r'^QEMU emulator version 7\.2\.\d+ \(Debian 1:7\.2\+dfsg-')
        # for the device suite on it: the tree (its accel-qtest module,
        # its checkpatch.pl)
        with open(os.path.join(d, 'qemu-tree'), 'w') as f:
            f.write(tree + '\n')

    def test_builds_against_installed_qemu_10_0(self):
        tree = recorded('qemu-tree')
        v = tree_version(tree)
        self.assertEqual(vtuple(v)[:2], (10, 0))
        d = self.meson('installed', tree, '-Dtests=false')
        have = subprocess.run(['qemu-system-x86_64', '--version'], capture_output=True,
                              text=True, check=True, timeout=30).stdout.splitlines()[0]
        with open(os.path.join(d, 'qemu-epc-built-for')) as f:
            self.assertEqual(f.read().strip(), have)
        shutil.rmtree(d, ignore_errors=True)

    def test_builds_against_the_newest_debian_qemu(self):
        tree = recorded('qemu-tree-newest')
        v = tree_version(tree)
        installed = tree_version(recorded('qemu-tree'))
        self.assertGreater(vtuple(v), vtuple(installed),
                           'the newest tree is not newer than the installed QEMU')
        d = self.meson('newest', tree, '-Dtests=false', '-Dcompile_check=true')
        with open(os.path.join(d, 'qemu-epc-built-for')) as f:
            self.assertIn('compile check', f.read())
        listed = ''
        if os.path.isfile(os.path.join(tree, 'newest-listed')):
            with open(os.path.join(tree, 'newest-listed')) as f:
                listed = f.read().strip()
        with open(os.path.join(tree, 'deb-version')) as f:
            used = f.read().strip()
        print('# newest Debian QEMU built against: %s (QEMU %s); newest listed in sid: %s'
              % (used, v, listed or used), flush=True)
        shutil.rmtree(d, ignore_errors=True)

    def test_build_against_a_qemu_not_installed_says_so(self):
        tree = recorded('qemu-tree-newest')
        d = os.path.join(BUILD, 'qemu-not-installed')
        shutil.rmtree(d, ignore_errors=True)
        p = subprocess.run(['meson', 'setup', d, TOP, '-Dqemu_tree=' + tree, '-Dtests=false'],
                           capture_output=True, text=True, timeout=300)
        shutil.rmtree(d, ignore_errors=True)
        out = p.stdout + p.stderr
        self.assertNotEqual(p.returncode, 0, out[-3000:])
        self.assertIn('are for QEMU %s but qemu-system-x86_64 is QEMU' % tree_version(tree), out)
        self.assertIn('modules must be built against the QEMU they are loaded into', out)

    def test_version_differences_in_one_place(self):
        """Only epc-qemu-compat.h tests the QEMU version at compile time
        (epc-module.c compares the running QEMU's with the one built for)."""
        d = os.path.join(TOP, 'qemu-modules')
        found = []
        for name in sorted(os.listdir(d)):
            if not name.endswith(('.c', '.h')) or name == 'epc-qemu-compat.h':
                continue
            with open(os.path.join(d, name)) as f:
                for n, line in enumerate(f, 1):
                    if re.search(r'#\s*if.*(QEMU_VERSION|QEP_QEMU_AT_LEAST)', line):
                        found.append('%s:%d: %s' % (name, n, line.strip()))
        self.assertEqual(found, [])
        with open(os.path.join(d, 'epc-qemu-compat.h')) as f:
            self.assertGreaterEqual(len(re.findall(r'QEP_QEMU_AT_LEAST\(\d+, \d+\)', f.read())), 5)
