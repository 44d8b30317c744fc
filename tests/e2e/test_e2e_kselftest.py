# SPDX-License-Identifier: GPL-2.0-or-later
"""Linux 7.3 guests, as a user brings their own kernel: `qemu-epc-bench run
--kernel BZIMAGE --modules DIR` with the project's 7.3 kernel image and a
directory holding only pcie-qemu-ep.ko, pci-epf-test.ko and
pci_endpoint_test.ko built for it.  run reads the image's version (7.3)
and picks the pci_endpoint kselftest (pcitest.sh's reading of the ioctls
no longer holds from 6.14 on): pci-epf-test in guest 1, the kselftest in
guest 2, unchanged, passes every case but the one it skips by design
(BAR_SUBRANGE on the BAR holding its test registers); the doorbell and
every other BAR subrange case pass; both kernel logs are clean.  The first
pair (private slave DMA channels) runs every case but the DMA copy, which
pci-epf-test does only over a memcpy channel: the second pair
(slave_dma=0) runs the DMA cases.  These are the pairs `run --series 7.3`
boots (phases.kselftest_phases for both)."""
import os
import re
import shutil
import unittest

import artefacts
import e2e
import initramfs
import phases as P

# the guest kernels these tests boot (tests/run.py runs the tests that
# need only 6.12 first, while set-up may still build the others)
KERNELS = ('7.3',)

SKIP = ('kselftest pci_ep_bar.BAR0.BAR_SUBRANGE_TEST', 'BAR is test register space')


class KselftestSuite(unittest.TestCase):
    def test_own_7_3_kernel_runs_the_kselftest(self):
        kdir = artefacts.kernel_dir('7.3')
        rundir = e2e.test_rundir('kselftest')
        mods = os.path.join(rundir, 'mods')
        os.makedirs(mods)
        for path in initramfs.find_modules(os.path.join(kdir, 'modules'),
                                           {'pci-epf-test', 'pci_endpoint_test'}).values():
            shutil.copy(path, mods)
        shutil.copy(artefacts.kmod_path('7.3'), mods)
        r = e2e.bench_run(self, ['--kernel', os.path.join(kdir, 'bzImage'), '--modules', mods],
                          os.path.join(rundir, 'run'), minutes=30)
        with open(os.path.join(kdir, 'release')) as f:
            release = f.read().strip()
        self.assertIn('# --kernel is Linux %s: guest 2 runs the pci_endpoint kselftest '
                      '(Linux 6.14 and later)' % release, r.out)
        phases = P.kselftest_phases('', os.path.join(kdir, 'pci_endpoint_test'))
        e2e.check_run(self, r, [n for ph in phases for n in ph.planned], skips=[SKIP])
        # the kselftest's own totals line, as it printed it
        ksft = re.findall(r'^# kselftest reports: Totals: pass:(\d+) fail:(\d+) xfail:0 '
                          r'xpass:0 skip:(\d+) error:0$', r.out, re.M)
        self.assertEqual([tuple(map(int, t)) for t in ksft], [(21, 0, 1), (3, 0, 0)], r.tail())
        for case in ['pcie_ep_doorbell.DOORBELL_TEST', 'pci_ep_basic.CONSECUTIVE_BAR_TEST',
                     'pci_ep_basic.MSIX_TEST', 'pci_ep_data_transfer.memcpy.WRITE_TEST',
                     'pci_ep_data_transfer.dma.READ_TEST',
                     'pci_ep_data_transfer.dma.COPY_TEST [slave_dma=0]'] + \
                ['pci_ep_bar.BAR%d.BAR_SUBRANGE_TEST' % n for n in range(1, 6)]:
            self.assertRegex(r.out, r'(?m)^ok \d+ kselftest %s$' % re.escape(case), r.tail())
        # pci-epf-test used the controller's embedded doorbell
        with open(os.path.join(rundir, 'run', 'epf-console.log'), errors='replace') as f:
            self.assertIn('Using embedded (DMA) doorbell fallback', f.read())


if __name__ == '__main__':
    unittest.main()
