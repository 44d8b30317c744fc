# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest side of the harness, run on the build machine: guest/lib.sh
(plan, results, plan-only mode) under busybox sh, as in the guests; the
plans the harness learns from the host scripts; regs.sh generated from
qemu-epc-regs.h; the pcitest wrapper's MSI-X short cut."""
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import artefacts
import cases

BUSYBOX = '/bin/busybox'
LIB = os.path.join(artefacts.GUEST_DIR, 'lib.sh')


def sh(script, env=None):
    e = dict(os.environ, QEPC_SHARE=artefacts.GUEST_DIR)
    e.update(env or {})
    return subprocess.run([BUSYBOX, 'sh', '-c', '. "$QEPC_SHARE/lib.sh"; ' + script],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, env=e, timeout=60)


class Lib(unittest.TestCase):
    def test_plan_and_results_are_ktap(self):
        r = sh('plan "a b" c; ok "a b"; notok c "it broke\nbadly"; echo end')
        self.assertEqual(r.stdout.splitlines(),
                         ['QEPC-PLAN a b', 'QEPC-PLAN c', 'QEPC-PLAN-END 2', 'ok 1 a b',
                          '# c: it broke badly', 'not ok 2 c', 'end'])

    def test_plan_only_ends_the_script_after_the_plan(self):
        r = sh('plan x; ok x; echo after', {'QEPC_PLAN_ONLY': '1'})
        self.assertEqual(r.stdout.splitlines(), ['QEPC-PLAN x', 'QEPC-PLAN-END 1'])
        self.assertEqual(r.returncode, 0)

    def test_xfail_is_an_ok_with_its_directive(self):
        r = sh('plan a; xfail a "waits\nfor ever"')
        self.assertEqual(r.stdout.splitlines()[-1], 'ok 1 a # XFAIL waits for ever')

    def test_check_reports_the_command_output(self):
        r = sh('check yes true; check no sh -c "echo why; false"')
        self.assertEqual(r.stdout.splitlines(), ['ok 1 yes', '# no: why', 'not ok 2 no'])

    def test_wait_for_is_bounded(self):
        r = sh('wait_for 1 false && echo waited || echo gave up')
        self.assertEqual(r.stdout.strip(), 'gave up')
        r = sh('wait_for 1 true && echo waited')
        self.assertEqual(r.stdout.strip(), 'waited')

    def test_a_slow_command_does_not_stretch_the_bound(self):
        # a command that takes 0.5 s (a ping waiting for its answer): the
        # bound is the clock's, not a count of 0.1 s polls
        t = time.monotonic()
        r = sh('sleep_fail() { sleep 0.5; false; }; '
               'wait_for 2 sleep_fail && echo waited || echo gave up')
        took = time.monotonic() - t
        self.assertEqual(r.stdout.strip(), 'gave up')
        self.assertLess(took, 4, 'wait_for 2 took %.1f s' % took)

    def test_a_stall_names_the_tasks_and_where_they_wait(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, 'console')
            env = {'QEPC_PROGRESS': os.path.join(d, 'progress'), 'QEPC_STALL_OUT': out,
                   'QEPC_STALL_POLL': '0.5'}
            r = sh('stall_watch 1; sleep 30 & s=$!; sleep 8; ok early; kill $s; echo done', env)
            self.assertEqual(r.stdout.splitlines(), ['ok 1 early', 'done'])
            with open(out) as f:
                said = f.read()
            self.assertIn('qepc-stall: no result for 1 s', said)
            # the stalled task, its state and the function it sleeps in
            self.assertRegex(said, r'qepc-stall: \d+ S cpu\d+ \w*sleep\w* sleep 30')
            self.assertRegex(said, r'qepc-stall: 5 s later:\nqepc-stall: +CPU0')
            # once per stall: one report before the result
            self.assertEqual(said.count('no result for'), 1, said)
            # the watcher ends with the shell that started it
            time.sleep(1.5)
            self.assertEqual(subprocess.run(['pgrep', '-f', 'sleep 30; ok early'],
                                            stdout=subprocess.PIPE).stdout, b'')

    def test_no_ping_relies_on_its_own_timeout(self):
        # the guest kernels have no POSIX timers: busybox ping's alarm()
        # fails, so -W/-w never end a ping that gets no answer; a bounded
        # ping runs under timeout (or is the harness's interrupted one)
        bad = []
        for d in (artefacts.GUEST_DIR, os.path.join(artefacts.TOP, 'tests', 'guest')):
            for name in sorted(os.listdir(d)) if os.path.isdir(d) else ():
                if not name.endswith('.sh'):
                    continue
                with open(os.path.join(d, name)) as f:
                    for k, line in enumerate(f, 1):
                        code = line.split('#', 1)[0]
                        if re.search(r'\bping\b.*-[Ww]\b', code) and 'timeout' not in code:
                            bad.append('%s:%d: %s' % (name, k, line.strip()))
        self.assertEqual(bad, [])

    def test_need_fails_for_a_module_the_image_lacks(self):
        r = sh('need no-such-module-here && echo loaded || echo refused')
        self.assertIn('no no-such-module-here.ko in the image', r.stdout)
        self.assertIn('refused', r.stdout)


class Plans(unittest.TestCase):
    def test_vntb_plan_and_where_the_beside_cases_go(self):
        plan = cases.vntb_plan(64)
        self.assertEqual(len(plan), 10)
        self.assertTrue(all(c.startswith('vntb ') for c in plan))
        self.assertIn('vntb tcp 64 MiB guest 2 to guest 1, sha256 matches', plan)
        beside = cases.vntb_plan(64, cases.beside_cases(), 'vntb-beside')
        self.assertEqual(len(beside), 10 + 39)
        # function 1's cases after the transfers, before the link goes down
        self.assertEqual(beside.index('-b 0'), plan.index('vntb iperf3 guest 1 to guest 2, 5 s') + 1)
        self.assertEqual(beside[-2:], plan[-2:])
        self.assertEqual(cases.vntb_plan(1, measure_only=True), [
            c.replace('64 MiB', '1 MiB') for c in plan[:8]])

    def test_nvme_plan(self):
        plan = cases.nvme_plan()
        self.assertEqual(len(plan), 10)
        # the faults asked of the harness come last, after the link cases
        self.assertTrue(plan[-2].startswith('nvme an MSI-X lost during I/O (injected)'), plan)
        self.assertTrue(plan[-1].startswith('nvme link down for 2 s during I/O (injected'), plan)
        self.assertIn("nvme the pattern's 128 MiB moved through pcie-qemu-ep's DMA channels",
                      plan)
        self.assertEqual(cases.nvme_plan(measure_only=True), plan[:1])

    def test_pcitest_plan_is_pcitest_sh_then_the_list(self):
        kdir = artefacts.kernel_dir('6.12')
        plan = cases.pcitest_plan(os.path.join(kdir, 'pcitest.sh'), 'full',
                                  cases.SUITES['full'])
        self.assertEqual(plan[:7], ['-b %d' % b for b in range(6)] + ['-i 0'])
        self.assertEqual(sum(1 for c in plan if c.startswith('-x ')), 2048)
        self.assertEqual(sum(1 for c in plan if c.startswith('-m ')), 32)
        self.assertEqual(plan[-10:], cases.SUITES['full'])
        # a list's "!" lines are programs, not cases
        self.assertEqual(cases.pcitest_plan(None, 'x', ['-i 1', '!prog 1', '-b 0']),
                         ['-i 1', '-b 0'])

    def test_kselftest_plan_per_function(self):
        plan = cases.kselftest_plan('k', {'': ['-r a.b', '-r c.d'], '.fn1': ['-r a.b']}, 2)
        self.assertEqual(plan, ['fn0 a.b', 'fn0 c.d', 'fn1 a.b'])
        self.assertEqual(cases.kselftest_plan('k', {'': ['-r a.b']}), ['a.b'])

    def test_a_script_without_a_plan_is_refused(self):
        d = tempfile.mkdtemp()
        try:
            bad = os.path.join(d, 'bad.sh')
            with open(bad, 'w') as f:
                f.write('echo "QEPC-PLAN a"\n')
            with self.assertRaises(artefacts.ArtefactError):
                cases.script_plan(bad, {'X': 1})
        finally:
            shutil.rmtree(d)


class Regs(unittest.TestCase):
    def test_regs_sh_is_the_header(self):
        path = artefacts.built('regs.sh')
        with open(os.path.join(artefacts.TOP, 'include', 'qemu-epc-regs.h')) as f:
            hdr = f.read()
        want = {m.group(1): int(m.group(2), 0) for m in
                re.finditer(r'^#define\s+(QEPC_\w+)\s+(0x[0-9a-fA-F]+|\d+)\b', hdr, re.M)}
        names = sorted(want)
        r = subprocess.run([BUSYBOX, 'sh', '-c', '. %s; for v in %s; do eval echo \\$$v; done'
                            % (path, ' '.join(names))], stdout=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
        self.assertEqual(dict(zip(names, map(int, r.stdout.split()))), want)
        r = subprocess.run([BUSYBOX, 'sh', '-c', '. %s; QEPC_DMA_BASE 2; QEPC_SUBMAP 3 4; '
                            'echo $QEPC_BAR_ENABLE' % path], stdout=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
        self.assertEqual(r.stdout.split(), [str(0x640 + 0x40), str(3 | 4 << 8), str(1 << 31)])


class Wrapper(unittest.TestCase):
    """guest/pcitest-wrapper.c with a pcitest that fails "-i 2"."""

    def setUp(self):
        self.d = tempfile.mkdtemp(prefix='qepc-wrapper-')
        self.fake = os.path.join(self.d, 'pcitest')
        with open(self.fake, 'w') as f:
            f.write('#!/bin/sh\necho "$*" >>%s/ran\ncase "$*" in\n'
                    '*"-i 2"*) [ -e %s/msix-ok ] && echo OKAY && exit 0; '
                    'echo "SET IRQ TYPE TO MSI-X: NOT OKAY"; exit 1 ;;\n'
                    'esac\necho OKAY\n' % (self.d, self.d))
        os.chmod(self.fake, 0o755)
        self.env = dict(os.environ, QEPC_PCITEST=self.fake, QEPC_STATE_DIR=self.d)

    def tearDown(self):
        shutil.rmtree(self.d, ignore_errors=True)

    def run_(self, *args):
        r = subprocess.run([artefacts.built('pcitest-wrapper')] + list(args),
                           stdout=subprocess.PIPE, universal_newlines=True, env=self.env,
                           timeout=60)
        return r.returncode, r.stdout.strip()

    def ran(self):
        with open(os.path.join(self.d, 'ran')) as f:
            return f.read().splitlines()

    def test_msix_cases_not_run_after_a_failed_set(self):
        rc, out = self.run_('-i', '2')
        self.assertEqual(rc, 1)
        self.assertRegex(out, r'^QEPC-CASE 1\|[\d.]+\|-i 2\|SET IRQ TYPE TO MSI-X: NOT OKAY')
        rc, out = self.run_('-x', '1')
        self.assertEqual(rc, 126)
        self.assertEqual(out, 'QEPC-CASE 126|0|-x 1|not run: setting the IRQ type to '
                         'MSI-X failed (pcitest -i 2)')
        # another device's cases still run
        rc, out = self.run_('-D', '/dev/pci-endpoint-test.1', '-x', '1')
        self.assertEqual(rc, 0)
        self.assertEqual(self.ran(), ['-i 2', '-D /dev/pci-endpoint-test.1 -x 1'])
        # once MSI-X is set, they run again
        open(os.path.join(self.d, 'msix-ok'), 'w').close()
        self.assertEqual(self.run_('-i', '2')[0], 0)
        self.assertEqual(self.run_('-x', '2')[0], 0)
        self.assertEqual(self.ran()[-1], '-x 2')


if __name__ == '__main__':
    unittest.main()
