# SPDX-License-Identifier: GPL-2.0-or-later
"""The Debian packages, built, installed on this machine, used and purged.

scripts/package.sh builds qemu-epc-modules and pcie-qemu-ep-dkms into
BUILD/debs; they are installed with apt-get (root or sudo), then used with
nothing of the work tree on the path: the installed launcher lists both
devices from the installed modules, two QEMUs wired through the installed
launcher and modules pass the wired device tests, dkms builds the installed
driver source against the guest kernel tree; finally apt-get purge leaves
no file of the packages, no /usr/src/pcie-qemu-ep-* and no DKMS state.  The
packages are purged whatever happens; a machine that has them installed
already is refused rather than changed.  The cases run in the order of
their numbers."""
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get('QEMU_EPC_BUILD', os.path.join(TOP, 'build'))
DEBS = os.path.join(BUILD, 'debs')
PACKAGES = ('qemu-epc-modules', 'pcie-qemu-ep-dkms')
MODDIR = '/usr/lib/x86_64-linux-gnu/qemu-epc'
SRCDIR = '/usr/src/pcie-qemu-ep-0.1'
LAUNCHER = '/usr/bin/qemu-epc-launch'
# where Wireshark finds Lua plugins (tshark -G folders: Global Lua Plugins)
DISSECTOR = '/usr/lib/x86_64-linux-gnu/wireshark/plugins/qemu-epc.lua'
# nothing of the work tree: the system's directories only
CLEAN_PATH = '/usr/sbin:/usr/bin:/sbin:/bin'
SUDO = [] if os.geteuid() == 0 else ['sudo', '-n']
APT = SUDO + ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', '-y', '-q',
              '-o', 'DPkg::Lock::Timeout=300']
# lintian warnings kept on purpose, each explained in the README (Debian
# packages); none today
KEPT_LINTIAN_WARNINGS = set()


def run(cmd, timeout, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, **kw)


def installed(pkg):
    p = run(['dpkg-query', '-W', '-f=${Status}', pkg], 30)
    return p.returncode == 0 and p.stdout.strip() == 'install ok installed'


def known_to_dpkg(pkg):
    """Installed, or removed with its configuration left."""
    p = run(['dpkg-query', '-W', '-f=${Status}', pkg], 30)
    return p.returncode == 0 and 'not-installed' not in p.stdout


def purge():
    there = [p for p in PACKAGES if known_to_dpkg(p)]
    if there:
        return run(APT + ['purge'] + there, 600)
    return None


class Packages(unittest.TestCase):
    build_out = ''
    install_out = ''
    error = None
    files = []
    ours = False    # installed by this test: purged in the end

    @classmethod
    def setUpClass(cls):
        there = [p for p in PACKAGES if known_to_dpkg(p)]
        if there:
            cls.error = ('%s already on this machine: the test installs and purges '
                         'its own build and will not remove yours (apt-get purge %s)'
                         % (' and '.join(there), ' '.join(there)))
            return
        if SUDO and run(SUDO + ['true'], 30).returncode != 0:
            cls.error = 'installing packages needs root or sudo without a password'
            return
        t0 = time.monotonic()
        p = run([os.path.join(TOP, 'scripts', 'package.sh')], 1800,
                env=dict(os.environ, QEMU_EPC_BUILD=BUILD))
        cls.build_out = p.stdout
        cls.build_time = time.monotonic() - t0
        if p.returncode != 0:
            cls.error = 'scripts/package.sh failed:\n' + p.stdout[-4000:]
            return
        cls.debs = {}
        for name in PACKAGES:
            found = glob.glob(os.path.join(DEBS, name + '_*.deb'))
            if len(found) != 1:
                cls.error = 'expected one %s_*.deb in %s, found %s' % (name, DEBS, found)
                return
            cls.debs[name] = found[0]
        t0 = time.monotonic()
        cls.ours = True
        p = run(APT + ['install', '--no-install-recommends'] +
                [cls.debs[n] for n in PACKAGES], 900)
        cls.install_out = p.stdout
        cls.install_time = time.monotonic() - t0
        if p.returncode != 0:
            cls.error = 'apt-get install failed:\n' + p.stdout[-4000:]
            return
        p = run(['dpkg', '-L', *PACKAGES], 60)
        cls.files = sorted(set(l for l in p.stdout.splitlines() if l.startswith('/')))
        print('# packages built in %.0f s, installed in %.0f s'
              % (cls.build_time, cls.install_time), flush=True)

    @classmethod
    def tearDownClass(cls):
        # whatever happened: the machine as it was (never a user's own
        # installation, refused in setUpClass)
        if not cls.ours:
            return
        p = purge()
        if p is not None and p.returncode != 0:
            # reported as a failure of the class (tearDownClass), not a note
            raise AssertionError('apt-get purge %s failed (exit %d): the machine keeps the '
                                 'packages\n%s' % (' '.join(PACKAGES), p.returncode,
                                                  p.stdout[-3000:]))

    def setUp(self):
        if self.error:
            self.fail(self.error)

    def control(self, deb, field):
        return run(['dpkg-deb', '-f', deb, field], 60).stdout.strip()

    def contents(self, deb):
        out = run(['dpkg-deb', '-c', deb], 60).stdout
        return [l.split(None, 5)[5].lstrip('.') for l in out.splitlines()]

    def test_01_packages_hold_what_they_should(self):
        mods = self.debs['qemu-epc-modules']
        qemu_version = run(['dpkg-query', '-W', '-f=${Version}', 'qemu-system-x86'], 30).stdout
        self.assertEqual(self.control(mods, 'Architecture'), 'amd64')
        self.assertIn('qemu-system-x86 (= %s)' % qemu_version, self.control(mods, 'Depends'))
        have = self.contents(mods)
        for f in (MODDIR + '/hw-misc-qemu-epc.so', MODDIR + '/hw-misc-epf-bridge.so',
                  MODDIR + '/qemu-epc-built-for', LAUNCHER, DISSECTOR,
                  '/usr/share/man/man1/qemu-epc-launch.1.gz'):
            self.assertIn(f, have)
        for md in glob.glob(os.path.join(TOP, 'docs', '*.md')):
            base = '/usr/share/doc/qemu-epc-modules/' + os.path.basename(md)
            self.assertTrue(base in have or base + '.gz' in have, base)
        dkms = self.debs['pcie-qemu-ep-dkms']
        self.assertEqual(self.control(dkms, 'Architecture'), 'all')
        self.assertIn('dkms', self.control(dkms, 'Depends'))
        have = self.contents(dkms)
        for f in ('dkms.conf', 'kmod/Kbuild', 'kmod/Makefile', 'kmod/pcie-qemu-ep.c',
                  'kmod/pcie-qemu-ep-compat.h', 'include/qemu-epc-regs.h'):
            self.assertIn(SRCDIR + '/' + f, have)
        # no build output of the tree
        self.assertEqual([f for f in have if re.search(r'\.(o|ko|mod|cmd)$', f)], [])

    def test_02_lintian_reports_no_error(self):
        with open(os.path.join(DEBS, 'lintian.txt')) as f:
            report = f.read()
        tags = re.findall(r'^([EW]): \S+: (\S+)', report, re.M)
        self.assertEqual([t for t in tags if t[0] == 'E'], [], report)
        unexplained = [t for k, t in tags if k == 'W' and t not in KEPT_LINTIAN_WARNINGS]
        self.assertEqual(unexplained, [], report)
        summary = [l for l in self.build_out.splitlines() if l.startswith('lintian:')]
        self.assertEqual(len(summary), 1, self.build_out)
        print('# ' + summary[0], flush=True)

    def test_03_installed_and_registered_with_dkms(self):
        for p in PACKAGES:
            self.assertTrue(installed(p), p)
        self.assertTrue(os.path.isfile(SRCDIR + '/dkms.conf'))
        p = run(['dkms', 'status', '-m', 'pcie-qemu-ep', '-v', '0.1'], 120)
        self.assertRegex(p.stdout, r'pcie-qemu-ep/0\.1.*: added', p.stdout)
        # the host kernel's headers are not needed to install: the build for
        # it is skipped, nothing half-built is left
        self.assertEqual(glob.glob('/var/lib/dkms/pcie-qemu-ep/0.1/*/*/module/*.ko*'), [],
                         self.install_out)

    def clean_env(self, home):
        return {'PATH': CLEAN_PATH, 'HOME': home, 'LANG': 'C.UTF-8'}

    def test_04_installed_dissector_loads_in_tshark(self):
        """tshark finds the installed dissector on its own (no -X)."""
        tmp = tempfile.mkdtemp(prefix='qemu-epc-pkg-')
        try:
            p = subprocess.run(['tshark', '-G', 'protocols'], capture_output=True,
                               text=True, timeout=120, env=self.clean_env(tmp), cwd=tmp)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertNotIn('Lua: Error', p.stderr)
            self.assertIn('qepc', [l.split('\t')[2] for l in p.stdout.splitlines()
                                   if l.count('\t') >= 2])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_04_installed_launcher_lists_both_devices(self):
        tmp = tempfile.mkdtemp(prefix='qemu-epc-pkg-')
        try:
            env = self.clean_env(tmp)
            self.assertEqual(shutil.which('qemu-epc-launch', path=CLEAN_PATH), LAUNCHER)
            p = subprocess.run(['qemu-epc-launch', 'qemu-system-x86_64', '-device', 'help'],
                               capture_output=True, text=True, timeout=60, env=env, cwd=tmp)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn('name "qemu-epc"', p.stdout)
            self.assertIn('name "epf-bridge"', p.stdout)
            # and the modules it loads are the installed ones
            log = open(os.path.join(tmp, 'qemu.log'), 'w+')
            q = subprocess.Popen(['qemu-epc-launch', 'qemu-system-x86_64', '-S', '-nodefaults',
                                  '-display', 'none', '-machine', 'q35', '-accel', 'tcg',
                                  '-device', 'qemu-epc,socket=%s/epc.sock' % tmp],
                                 stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, env=env, cwd=tmp)
            try:
                maps = '/proc/%d/maps' % q.pid
                end = time.monotonic() + 20
                seen = ''
                while time.monotonic() < end and q.poll() is None:
                    try:
                        with open(maps) as f:
                            seen = f.read()
                    except OSError:
                        seen = ''
                    if MODDIR + '/hw-misc-qemu-epc.so' in seen and os.path.exists(tmp + '/epc.sock'):
                        break
                    time.sleep(0.05)
                if q.poll() is not None:
                    log.seek(0)
                    self.fail('QEMU ended: %s' % log.read())
                self.assertIn(MODDIR + '/hw-misc-qemu-epc.so', seen)
                self.assertIn(MODDIR + '/hw-misc-epf-bridge.so', seen)
                self.assertNotIn(TOP, seen)
            finally:
                q.send_signal(signal.SIGTERM)
                try:
                    q.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    q.kill()
                    q.wait(timeout=20)
                log.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_05_two_qemus_wired_through_installed_modules(self):
        """tests/device/test_wired.py with the installed launcher and
        modules (the harness itself is the tree's)."""
        tmp = tempfile.mkdtemp(prefix='qemu-epc-pkg-')
        try:
            env = self.clean_env(tmp)
            env.update(QEMU_EPC_LAUNCH=LAUNCHER, QEMU_EPC_MODULE_DIR=MODDIR,
                       QEMU_EPC_BUILD=BUILD,   # the tests' generated regs.py, proto.py
                       QEMU_EPC_QTEST_DIR=os.environ.get('QEMU_EPC_QTEST_DIR', ''),
                       PYTHONPATH=':'.join(os.path.join(TOP, d) for d in
                                           ('harness', 'tests/lib', 'tests/device')))
            if not env['QEMU_EPC_QTEST_DIR']:
                with open(os.path.join(BUILD, 'qemu-tree')) as f:
                    env['QEMU_EPC_QTEST_DIR'] = os.path.join(f.read().strip(), 'modules')
            p = run(['/usr/bin/python3', '-m', 'unittest', '-v', 'test_wired'], 900,
                    env=env, cwd=tmp)
            ran = re.search(r'^Ran (\d+) tests?', p.stdout, re.M)
            # the failures' own sections first: a CI log keeps a message's
            # beginning, and the verbose list before them is long
            failed = re.findall(r'(?ms)^={20,}\n(?:FAIL|ERROR): .*?(?=^={20,}|^-{20,}\nRan )',
                                p.stdout)
            self.assertEqual(p.returncode, 0, ''.join(failed)[:4000] + p.stdout[-3000:])
            self.assertTrue(ran and int(ran.group(1)) >= 8, p.stdout[-3000:])
            self.assertRegex(p.stdout, r'(?m)^OK$')
            print('# wired device tests through the installed modules: %s passed'
                  % ran.group(1), flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_06_dkms_builds_installed_source_against_guest_kernel(self):
        with open(os.path.join(BUILD, 'guest-kernel')) as f:
            kdir = f.read().strip()
        with open(os.path.join(kdir, 'release')) as f:
            release = f.read().strip()
        p = run(SUDO + ['dkms', 'build', '-m', 'pcie-qemu-ep', '-v', '0.1', '-k', release,
                        '--kernelsourcedir', os.path.join(kdir, 'linux')], 900,
                env=dict(os.environ, PATH=CLEAN_PATH))
        self.assertEqual(p.returncode, 0, p.stdout[-4000:])
        ko = glob.glob('/var/lib/dkms/pcie-qemu-ep/0.1/%s/x86_64/module/pcie-qemu-ep.ko*'
                       % release)
        self.assertEqual(len(ko), 1, p.stdout[-4000:])
        info = run(['modinfo', ko[0]], 60).stdout
        self.assertIn('vermagic:       ' + release, info)
        self.assertIn('alias:          pci:v00001234d0000E9C0', info)
        p = run(['dkms', 'status', '-m', 'pcie-qemu-ep', '-v', '0.1', '-k', release], 120)
        self.assertIn('built', p.stdout)

    def test_07_dkms_skips_a_kernel_without_the_endpoint_framework(self):
        """Headers of a kernel without CONFIG_PCI_ENDPOINT (Debian's own,
        on a host that installs the package): dkms skips the build (exit
        77, which the package's postinst takes as "skipped") rather than
        failing it."""
        tmp = tempfile.mkdtemp(prefix='qemu-epc-pkg-')
        release = '0.0.0-qemu-epc-no-endpoint'
        try:
            with open(os.path.join(tmp, '.config'), 'w') as f:
                f.write('CONFIG_PCI=y\n# CONFIG_PCI_ENDPOINT is not set\n')
            p = run(SUDO + ['dkms', 'build', '-m', 'pcie-qemu-ep', '-v', '0.1', '-k', release,
                            '--kernelsourcedir', tmp], 300, env=dict(os.environ, PATH=CLEAN_PATH))
            self.assertEqual(p.returncode, 77, p.stdout[-3000:])
            self.assertFalse(os.path.exists('/var/lib/dkms/pcie-qemu-ep/0.1/' + release))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_08_a_lintian_that_fails_is_no_clean_report(self):
        """package.sh takes lintian's exit status: lintian failing in itself
        (exit 2, no report) fails the build of the packages."""
        tmp = tempfile.mkdtemp(prefix='qemu-epc-pkg-')
        report = os.path.join(DEBS, 'lintian.txt')
        shutil.copy(report, os.path.join(tmp, 'lintian.txt'))
        try:
            fake = os.path.join(tmp, 'lintian')
            with open(fake, 'w') as f:
                f.write('#!/bin/sh\necho "internal error: cannot unpack" >&2\nexit 2\n')
            os.chmod(fake, 0o755)
            p = run([os.path.join(TOP, 'scripts', 'package.sh'), '--lintian-only'], 300,
                    env=dict(os.environ, QEMU_EPC_BUILD=BUILD,
                             PATH=tmp + ':' + os.environ['PATH']))
            self.assertNotEqual(p.returncode, 0, p.stdout)
            self.assertIn('lintian itself failed (exit 2)', p.stdout)
            self.assertNotIn('lintian: 0 errors', p.stdout)
        finally:
            shutil.copy(os.path.join(tmp, 'lintian.txt'), report)
            shutil.rmtree(tmp, ignore_errors=True)

    def test_09_purge_leaves_nothing(self):
        ours = [f for f in self.files if not os.path.isdir(f)]
        self.assertGreaterEqual(len(ours), 10, self.files)
        self.assertTrue(os.path.isdir('/var/lib/dkms/pcie-qemu-ep'))
        p = purge()
        self.assertIsNotNone(p)
        self.assertEqual(p.returncode, 0, p.stdout[-4000:])
        for pkg in PACKAGES:
            self.assertFalse(known_to_dpkg(pkg), pkg)
        self.assertEqual([f for f in ours if os.path.lexists(f)], [])
        for d in (MODDIR, SRCDIR, '/usr/share/doc/qemu-epc-modules',
                  '/usr/share/doc/pcie-qemu-ep-dkms', '/var/lib/dkms/pcie-qemu-ep'):
            self.assertFalse(os.path.lexists(d), d)
        self.assertEqual(glob.glob('/usr/src/pcie-qemu-ep-*'), [])
        p = run(['dkms', 'status', '-m', 'pcie-qemu-ep'], 120)
        self.assertEqual(p.stdout.strip(), '')
