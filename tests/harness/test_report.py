# SPDX-License-Identifier: GPL-2.0-or-later
"""The bench's tables (harness/report.py): a row without its figures (a
failed run, a missing fio, iperf3 or ntb_perf figure, fewer runs than asked) says
"failed" and fails the bench; complete tables pass.  And what `run`
refuses about a user's own kernel before booting anything."""
import io
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import artefacts
import cases
import phases as P
import report
import results as R
import timing

RUN = os.path.join(artefacts.TOP, 'scripts', 'bench-run.py')


def bench_results(runs=2, drop=None, fail=None, measures=True):
    """Results as a complete bench of `runs` runs would have them; drop: a
    case or measure name left out; fail: a case name that failed."""
    res = R.Results(io.StringIO())
    labels = {'shared, no DMA': 'shared', 'messages, no DMA': 'messages',
              'DMA, slave channel': 'shared', 'DMA, memcpy channel': 'shared, memcpy DMA'}
    for op, n, path in report.BENCH_ROWS:
        name = 'pcitest %s-%s -s %d [%s]' % ('-d ' if path.startswith('DMA') else '', op, n,
                                            labels[path])
        for _ in range(runs):
            if name != drop:
                res.add(name, '6.12', 'g', name != fail, 0.01)
    for label in ('shared', 'messages'):
        for _ in range(runs):
            for b in range(6):
                res.add('pcitest -b %d [%s]' % (b, label), '6.12', 'g', True, 0.01)
    for n in cases.BENCH_SIZES:
        res.baselines[('memcpy', n)] = [0.001] * runs
    if measures:
        for path in ('shared', 'messages'):
            for _, what, unit in report.VNTB_ROWS:
                for _ in range(runs):
                    if what != drop:
                        res.measures.append(('vntb ' + path, what, '1.5 ' + unit))
            for job, unit in report.NVME_JOBS:
                for where in ('drive', 'ramdisk'):
                    what = 'nvme fio %s, %s' % (job, where)
                    for _ in range(runs):
                        if what != drop:
                            res.measures.append(('nvme ' + path, what, '100 ' + unit))
            for phase in timing.PHASES:
                what = '%s: %s' % (report.NVME_PHASES, phase)
                for _ in range(runs):
                    if what != drop:
                        res.measures.append(('nvme ' + path, what, '50.0 us'))
            for where in ('drive', 'ramdisk'):
                for guest, _, what in timing.CPU:
                    name = '%s, %s: %s %s' % (report.NVME_CPU, where, guest, what)
                    for _ in range(runs):
                        if name != drop:
                            res.measures.append(('nvme ' + path, name, '20.0 us'))
            for guest, n in ((1, 2), (2, 16)):
                res.measures.append(('nvme ' + path, 'nvme vCPUs, guest %d' % guest,
                                     '%d vCPUs' % n))
        for _, what in report.NTB_PERF:
            if what != drop:
                res.measures.append((None, what, '1700 MB/s'))
    return res


class BenchTables(unittest.TestCase):
    def table(self, res, runs=2):
        out = io.StringIO()
        ok = report.bench_table(res, (50.0, 40.0), out, runs)
        return ok, out.getvalue()

    def test_complete_tables_pass(self):
        ok, text = self.table(bench_results())
        self.assertTrue(ok, text)
        self.assertNotIn('failed', text)
        self.assertTrue(text.rstrip().splitlines()[-1].startswith('shared/DMA time ratio'))

    def test_a_failed_transfer_fails_the_bench(self):
        ok, text = self.table(bench_results(fail='pcitest -w -s 4190208 [messages]'))
        self.assertFalse(ok)
        self.assertRegex(text, r'(?m)^write +4190208 messages, no DMA +failed$')

    def test_a_missing_transfer_fails_the_bench(self):
        ok, text = self.table(bench_results(drop='pcitest -c -s 1048576 [shared]'))
        self.assertFalse(ok)
        self.assertRegex(text, r'(?m)^copy +1048576 shared, no DMA +failed$')

    def test_a_missing_iperf3_figure_fails_the_bench(self):
        ok, text = self.table(bench_results(drop='vntb iperf3 guest 1 to guest 2'))
        self.assertFalse(ok)
        self.assertRegex(text, r'(?m)^shared +iperf3 guest 1 to guest 2 +failed$')

    def test_a_missing_fio_figure_fails_the_bench(self):
        ok, text = self.table(bench_results(drop='nvme fio rand read 4k QD32, drive'))
        self.assertFalse(ok)
        self.assertRegex(text, r'(?m)^shared +rand read 4k QD32 +failed$')
        self.assertRegex(text, r'(?m)^shared +rand read 4k QD1 +100\.00 ')

    def test_nvme_rows_at_both_depths_with_the_vcpus(self):
        ok, text = self.table(bench_results())
        self.assertTrue(ok, text)
        self.assertIn('guest 1 2 vCPUs, guest 2 16 vCPUs', text)
        for path in ('shared', 'messages'):
            for what in ('rand read 4k', 'rand write 4k', 'seq read 128k'):
                for qd in (1, 32):
                    self.assertRegex(text, r'(?m)^%s +%s QD%d +100\.00 ' % (path, what, qd))

    def test_nvme_read_phases_with_their_share(self):
        ok, text = self.table(bench_results())
        self.assertTrue(ok, text)
        for path in ('shared', 'messages'):
            for phase in timing.PHASES:
                self.assertRegex(text, r'(?m)^%s +%s +50\.0 +50\.0 +us +0\.167$'
                                 % (path, phase))

    def test_nvme_cpu_per_read(self):
        ok, text = self.table(bench_results())
        self.assertTrue(ok, text)
        for path in ('shared', 'messages'):
            for where in ('drive', 'ramdisk'):
                self.assertRegex(text, r'(?m)^%s +%s +20\.0 +20\.0 +20\.0 +20\.0 +80\.0$'
                                 % (path, where))
        ok, text = self.table(bench_results(
            drop=report.NVME_CPU + ', ramdisk: guest 2 QEMU threads'))
        self.assertFalse(ok)
        self.assertRegex(text, r'(?m)^shared +ramdisk +failed$')

    def test_a_missing_phase_fails_the_bench(self):
        ok, text = self.table(bench_results(drop=report.NVME_PHASES + ': data moved'))
        self.assertFalse(ok)
        self.assertRegex(text, r'(?m)^shared +data moved +failed$')

    def test_a_missing_ntb_perf_figure_fails_the_bench(self):
        ok, text = self.table(bench_results(drop=report.NTB_PERF[1][1]))
        self.assertFalse(ok)
        self.assertRegex(text, r'(?m)^ntb_perf over pci-epf-vntb \(Linux 6\.12, shared path, '
                         r'one run\): guest 2 to guest 1 1700 MB/s, guest 1 to guest 2 failed$')

    def test_fewer_runs_than_asked_fail_the_bench(self):
        ok, text = self.table(bench_results(runs=1), runs=2)
        self.assertFalse(ok)

    def test_a_failed_check_of_a_pair_takes_its_figures(self):
        res = bench_results()
        res.add('vntb link up: guest 1 answers [vntb messages]', '6.12',
                'vntb set-up (messages)', False, 0)
        ok, text = self.table(res)
        self.assertFalse(ok)
        self.assertRegex(text, r'(?m)^messages +tcp guest 2 to guest 1 +failed$')
        self.assertRegex(text, r'(?m)^shared +tcp guest 2 to guest 1 +1\.50')


class OwnKernel(unittest.TestCase):
    """--kernel: the suite its version calls for, or a refusal in one line."""

    def test_suite_by_version(self):
        ks = P.own_kernel_phases('/k', [], '7.3.4')
        self.assertEqual([p.kind for p in ks], ['kselftest', 'kselftest'])
        self.assertEqual([p.dma_mode for p in ks], ['slave', 'memcpy'])
        self.assertIn('kselftest pcie_ep_doorbell.DOORBELL_TEST', ks[0].planned)
        ks = P.own_kernel_phases('/k', [], '6.14.0-rc1')
        self.assertEqual(ks[0].kind, 'kselftest')
        pc = P.own_kernel_phases('/k', [], '6.13.9')
        self.assertEqual([p.kind for p in pc], ['pcitest', 'pcitest'])
        self.assertEqual(len([c for c in pc[0].planned if c.startswith('pcitest -x ')]), 2048)
        self.assertEqual(P.own_kernel_phases('/k', [], '6.1', host_script='/s')[0].kind,
                         'script')

    def test_refusals(self):
        with self.assertRaisesRegex(artefacts.ArtefactError, 'cannot tell the version'):
            P.own_kernel_phases('/k', [], 'mykernel')
        with self.assertRaisesRegex(artefacts.ArtefactError, "pcitest.sh's, before 6.14"):
            P.own_kernel_phases('/k', [], '6.12.1', kselftest='/bin/true')
        with self.assertRaisesRegex(artefacts.ArtefactError, 'not an executable'):
            P.own_kernel_phases('/k', [], '7.0', kselftest='/nonexistent')

    def test_run_refuses_modules_built_for_another_kernel(self):
        """One line, before any guest boots."""
        d = tempfile.mkdtemp(prefix='qepc-own-')
        try:
            # an x86 boot header that names another release than the modules'
            img = bytearray(0x1000)
            img[0x202:0x206] = b'HdrS'
            img[0x20e:0x210] = (0x400 - 0x200).to_bytes(2, 'little')
            img[0x400:0x410] = b'7.3.99 (x@y) #1\0'
            kernel = os.path.join(d, 'bzImage')
            with open(kernel, 'wb') as f:
                f.write(img)
            mods = os.path.join(d, 'mods')
            os.mkdir(mods)
            shutil.copy(artefacts.kmod_path('7.3'), mods)
            r = subprocess.run([sys.executable, RUN, '--kernel', kernel, '--modules', mods,
                                '--rundir', os.path.join(d, 'run')],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=120)
            self.assertNotEqual(r.returncode, 0)
            lines = r.stdout.strip().splitlines()
            self.assertEqual(len(lines), 1, r.stdout)
            self.assertRegex(lines[0], r'^run: --modules .* lacks pci-epf-test.ko, '
                             r'pci_endpoint_test.ko \(built for 7\.3\.99\)')
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    unittest.main()
