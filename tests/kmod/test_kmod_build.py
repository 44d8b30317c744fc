# SPDX-License-Identifier: GPL-2.0-or-later
"""pcie-qemu-ep builds warning-free against 6.1, 6.12 and 7.3, is
checkpatch --strict clean (by the checkpatch of 6.12 and of 7.3), and
builds through dkms against each of the three trees."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get('QEMU_EPC_BUILD', os.path.join(TOP, 'build'))


def cached_dir(name):
    """A kernel directory that scripts/setup.sh recorded in the build dir."""
    with open(os.path.join(BUILD, name)) as f:
        return f.read().strip()


def copy_sources(dst):
    """The driver's sources, laid out as in the repository."""
    shutil.copytree(os.path.join(TOP, 'kmod'), os.path.join(dst, 'kmod'),
                    ignore=shutil.ignore_patterns('*.o', '*.ko', '*.mod*', '.*.cmd',
                                                  'Module.symvers', 'modules.order'))
    os.makedirs(os.path.join(dst, 'include'))
    shutil.copy(os.path.join(TOP, 'include', 'qemu-epc-regs.h'),
                os.path.join(dst, 'include'))
    shutil.copy(os.path.join(TOP, 'dkms.conf'), dst)


class KmodBuild(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='qepc-kmod-')
        copy_sources(self.tmp)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def build(self, tree):
        r = subprocess.run(['make', '-C', os.path.join(self.tmp, 'kmod'),
                            'KDIR=' + tree, 'W=1'],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout)
        warnings = [l for l in r.stdout.splitlines() if re.search(r'warning:|error:', l)]
        self.assertEqual(warnings, [], r.stdout)
        ko = os.path.join(self.tmp, 'kmod', 'pcie-qemu-ep.ko')
        self.assertTrue(os.path.exists(ko))
        return ko

    def modinfo(self, ko):
        return subprocess.run(['modinfo', ko], stdout=subprocess.PIPE,
                              universal_newlines=True, check=True).stdout

    def test_builds_against_6_12_without_warnings(self):
        kdir = cached_dir('guest-kernel')
        ko = self.build(os.path.join(kdir, 'linux'))
        info = self.modinfo(ko)
        self.assertIn('alias:          pci:v00001234d0000E9C0', info)
        with open(os.path.join(kdir, 'release')) as f:
            self.assertIn('vermagic:       ' + f.read().strip(), info)

    def test_builds_against_6_1_without_warnings(self):
        tree = cached_dir('kernel-tree-6.1')
        ko = self.build(os.path.join(tree, 'linux'))
        self.assertIn('vermagic:       6.1.', self.modinfo(ko))

    def test_builds_against_7_3_without_warnings(self):
        kdir = cached_dir('guest-kernel-7.3')
        ko = self.build(os.path.join(kdir, 'linux'))
        info = self.modinfo(ko)
        with open(os.path.join(kdir, 'release')) as f:
            self.assertIn('vermagic:       ' + f.read().strip(), info)

    def test_features_found_in_each_tree(self):
        """Kbuild finds the 7.3 framework's additions in the 7.3 headers
        and in 6.12's only align_addr and the backported bus-master
        notification and device driver_override; none in 6.1's."""
        # (6.12.95 has the bus-master notification and the device core's
        # driver_override from stable backports)
        for name, want in (('kernel-tree-6.1', set()),
                           ('guest-kernel', {'QEP_HAVE_BME_NOTIFY', 'QEP_HAVE_ALIGN_ADDR',
                                             'QEP_HAVE_DEV_DRIVER_OVERRIDE'}),
                           ('guest-kernel-7.3', {'QEP_MSI_NR_IRQS', 'QEP_HAVE_INTX_CAP',
                                                 'QEP_HAVE_BAR_DISABLED',
                                                 'QEP_HAVE_SUBRANGE', 'QEP_HAVE_AUX_RES',
                                                 'QEP_HAVE_BME_NOTIFY',
                                                 'QEP_HAVE_ALIGN_ADDR',
                                                 'QEP_HAVE_DEV_DRIVER_OVERRIDE'})):
            tree = os.path.join(cached_dir(name), 'linux')
            self.build(tree)
            with open(os.path.join(self.tmp, 'kmod', '.pcie-qemu-ep.o.cmd')) as f:
                flags = set(re.findall(r'-D(QEP_(?:HAVE_\w+|MSI_NR_IRQS))', f.read()))
            self.assertEqual(flags, want, name)
            subprocess.run(['make', '-C', os.path.join(self.tmp, 'kmod'), 'KDIR=' + tree,
                            'clean'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def checkpatch(self, tree):
        kdir = os.path.join(tree, 'linux')
        # the sources only, not kbuild's generated *.mod.c
        files = sorted(os.path.join(TOP, 'kmod', f) for f in os.listdir(os.path.join(TOP, 'kmod'))
                       if f.endswith(('.c', '.h')) and not f.endswith('.mod.c'))
        self.assertIn(os.path.join(TOP, 'kmod', 'pcie-qemu-ep.c'), files)
        r = subprocess.run(['perl', os.path.join(kdir, 'scripts', 'checkpatch.pl'),
                            '--strict', '--no-tree', '--terse', '-f'] + files,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertNotRegex(r.stdout, r'(ERROR|WARNING|CHECK):', r.stdout)

    def test_checkpatch_strict_clean_6_12(self):
        self.checkpatch(cached_dir('guest-kernel'))

    def test_checkpatch_strict_clean_7_3(self):
        self.checkpatch(cached_dir('guest-kernel-7.3'))

    def test_dkms_build_against_6_1_tree(self):
        self.dkms_build(cached_dir('kernel-tree-6.1'))

    def test_dkms_build_against_6_12_tree(self):
        self.dkms_build(cached_dir('guest-kernel'))

    def test_dkms_build_against_7_3_tree(self):
        self.dkms_build(cached_dir('guest-kernel-7.3'))

    def dkms_build(self, kdir):
        with open(os.path.join(kdir, 'release')) as f:
            release = f.read().strip()
        src = os.path.join(self.tmp, 'src')
        dkmstree = os.path.join(self.tmp, 'dkms')
        os.makedirs(src)
        os.makedirs(dkmstree)
        # dkms finds NAME-VERSION in its source tree
        pkg = os.path.join(src, 'pcie-qemu-ep-0.1')
        os.makedirs(pkg)
        for e in ('kmod', 'include', 'dkms.conf'):
            os.rename(os.path.join(self.tmp, e), os.path.join(pkg, e))
        common = ['-m', 'pcie-qemu-ep', '-v', '0.1', '--sourcetree', src,
                  '--dkmstree', dkmstree]
        for action in (['add'], ['build', '-k', release,
                                 '--kernelsourcedir', os.path.join(kdir, 'linux')]):
            r = subprocess.run(['dkms'] + action + common, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True,
                               timeout=600)
            self.assertEqual(r.returncode, 0, ' '.join(action) + ':\n' + r.stdout)
        ko = os.path.join(dkmstree, 'pcie-qemu-ep', '0.1', release, 'x86_64',
                          'module', 'pcie-qemu-ep.ko')
        if not os.path.exists(ko):
            ko += '.xz'
        self.assertTrue(os.path.exists(ko), 'dkms built no module: ' + r.stdout)


if __name__ == '__main__':
    unittest.main()
