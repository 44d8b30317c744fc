# SPDX-License-Identifier: GPL-2.0-or-later
"""`qemu-epc-bench run --epf nvme`: nvmet-pci-epf in guest 1 (Linux 7.3)
serves a ramdisk as an NVMe drive; guest 2's stock nvme driver finds the
model and size guest 1 set, uses more than one I/O queue, round-trips a
64 MiB pattern with O_DIRECT, makes and checks a filesystem, runs fio with
verify, and survives a link down and up idle and during I/O; both kernel
logs clean; fio's figures are printed as MB/s and IOPS lines beside the same
jobs on a ramdisk of guest 2."""
import os
import re
import subprocess
import sys
import unittest

import e2e
import guests


class NvmeDrive(unittest.TestCase):
    def test_nvme_drive_7_3(self):
        rundir = e2e.test_rundir('nvme-7.3')
        r = e2e.bench_run(self, ['--epf', 'nvme', '--series', '7.3'], rundir, minutes=20)
        out = r.stdout
        tail = out[-5000:]
        self.assertEqual([l for l in out.splitlines() if l.startswith('not ok')], [], tail)
        for case in guests.NVME_CASES:
            self.assertRegex(out, r'(?m)^ok \d+ %s$' % re.escape(case), tail)
        self.assertRegex(out, r'(?m)^ok \d+ guest 1 \(epf\) kernel log has no oops', tail)
        self.assertRegex(out, r'(?m)^ok \d+ guest 2 \(host\) kernel log has no oops', tail)
        for where in ('drive', 'ramdisk'):
            for what in ('seq read 1M', 'seq write 1M'):
                self.assertRegex(out, r'(?m)^# nvme fio %s, %s \[Linux 7\.3\]: [0-9.]+ MB/s$'
                                 % (what, where), tail)
            for what in ('rand read 4k', 'rand write 4k'):
                self.assertRegex(out, r'(?m)^# nvme fio %s, %s \[Linux 7\.3\]: [0-9]+ IOPS$'
                                 % (what, where), tail)
        plan = re.search(r'^1\.\.(\d+)$', out, re.M)
        self.assertIsNotNone(plan, tail)
        self.assertEqual(int(plan.group(1)), len(guests.NVME_CASES) + 2, tail)
        self.assertEqual(len(re.findall(r'^ok \d+ ', out, re.M)), int(plan.group(1)), tail)
        self.assertEqual(r.returncode, 0, tail)
        # the drive's data moved through pcie-qemu-ep's DMA channels
        with open(os.path.join(rundir, 'epf-console.log'), errors='replace') as f:
            log = f.read()
        self.assertRegex(log, r'nvmet_pci_epf .*New PCI ctrl', log[-3000:])


if __name__ == '__main__':
    unittest.main()
