# SPDX-License-Identifier: GPL-2.0-or-later
"""The verdicts of `run` from what guest 2 prints (harness/results.py), fed
line by line without guests: a "not ok" is a failure whatever follows it,
results are matched to the plan by name, a case that printed nothing is
named, a host side that passed nothing fails, and the last line says how
many cases passed, failed and were skipped."""
import io
import unittest

import phases as P
import results as R


def phase(kind='script', planned=None, series='', dma='slave', label=None):
    ph = P.Phase(series, 'full', dma, kind, label=label)
    ph.planned = planned
    return ph


def feed(ph, lines, done=True):
    res = R.Results(io.StringIO())
    run = R.HostRun(res, ph)
    stop = None
    for i, l in enumerate(lines):
        r = run.feed(l, float(i))
        if r and r[0] == 'error':
            stop = r[1]
            break
    if done and not stop:
        run.feed('QEPC-HOST-DONE rc=0', 99.0)
    run.finish(stop)
    return res


def statuses(res):
    return [(c[0], c[3]) for c in res.cases]


class NotOkIsAFailure(unittest.TestCase):
    def test_not_ok_with_skip_directive_fails(self):
        res = feed(phase(), ['ok 1 a', 'not ok 2 x # SKIP y'])
        self.assertEqual(statuses(res), [('a', 'ok'), ('x', 'fail')])
        self.assertIn('a "not ok" is a failure', res.cases[1][5])
        good, line = res.verdict()
        self.assertFalse(good)
        self.assertTrue(line.startswith('qemu-epc-bench: FAIL: 1 passed, 1 failed, 0 skipped'),
                        line)

    def test_not_ok_with_todo_directive_fails(self):
        res = feed(phase(), ['ok 1 a', 'not ok 2 x # TODO later'])
        self.assertEqual(statuses(res), [('a', 'ok'), ('x', 'fail')])

    def test_printed_back_as_not_ok(self):
        res = feed(phase(), ['ok 1 a', 'not ok 2 x # SKIP y'])
        text = res.out.getvalue()
        self.assertRegex(text, r'(?m)^not ok 2 x # SKIP y; a "not ok" is a failure')
        self.assertNotRegex(text, r'(?m)^ok 2 x')

    def test_ok_with_skip_is_a_skip(self):
        res = feed(phase(), ['ok 1 a', 'ok 2 x # SKIP not here'])
        self.assertEqual(statuses(res), [('a', 'ok'), ('x', 'skip')])
        good, line = res.verdict()
        self.assertTrue(good)
        self.assertEqual(line, 'qemu-epc-bench: PASS: 1 passed, 0 failed, 1 skipped')

    def test_only_skips_is_not_a_pass(self):
        res = feed(phase(), ['ok 1 x # SKIP y'])
        names = statuses(res)
        self.assertIn(('x', 'skip'), names)
        self.assertIn(('host side passed at least one case', 'fail'), names)
        good, line = res.verdict()
        self.assertFalse(good)
        self.assertIn('FAIL', line)

    def test_a_lone_not_ok_is_one_failure(self):
        """Its own failure says it all: no second case for 'nothing passed'."""
        res = feed(phase(), ['not ok 1 x # SKIP y'])
        self.assertEqual(statuses(res), [('x', 'fail')])
        good, line = res.verdict()
        self.assertFalse(good)

    def test_nothing_passed_is_said(self):
        res = R.Results(io.StringIO())
        res.add('x', '', 'g', True, 0, skip='y')
        good, line = res.verdict()
        self.assertFalse(good)
        self.assertEqual(line, 'qemu-epc-bench: FAIL: 0 passed, 0 failed, 1 skipped: '
                         'nothing passed')

    def test_no_result_at_all_fails(self):
        res = feed(phase(), [])
        self.assertEqual(statuses(res), [('host side printed test results', 'fail')])


class ExpectedFailures(unittest.TestCase):
    """A driver's known defect is reported as "ok N name # XFAIL why": not
    a pass, not a failure, counted and said in the last line; a "not ok"
    with that directive is a failure as any other."""

    def test_ok_with_xfail_is_an_expected_failure(self):
        res = feed(phase(), ['ok 1 a', 'ok 2 x # XFAIL the driver waits for ever'])
        self.assertEqual(statuses(res), [('a', 'ok'), ('x', 'xfail')])
        self.assertEqual(res.cases[1][5], 'the driver waits for ever')
        self.assertRegex(res.out.getvalue(), r'(?m)^ok 2 x # XFAIL the driver waits for ever$')
        good, line = res.verdict()
        self.assertTrue(good)
        self.assertEqual(line, 'qemu-epc-bench: PASS: 1 passed, 0 failed, 0 skipped, '
                         '1 failed as expected')

    def test_not_ok_with_xfail_fails(self):
        res = feed(phase(), ['ok 1 a', 'not ok 2 x # XFAIL y'])
        self.assertEqual(statuses(res), [('a', 'ok'), ('x', 'fail')])
        self.assertFalse(res.verdict()[0])

    def test_only_expected_failures_is_not_a_pass(self):
        res = feed(phase(), ['ok 1 x # XFAIL y'])
        self.assertIn(('host side passed at least one case', 'fail'), statuses(res))
        self.assertFalse(res.verdict()[0])

    def test_summary_has_the_column_only_when_needed(self):
        import report
        res = feed(phase(series='6.12'), ['ok 1 a', 'ok 2 x # XFAIL y'])
        out = io.StringIO()
        report.summary(res, out, '/run', 1.0)
        self.assertRegex(out.getvalue(), r'(?m)^series +group +pass +fail +skip +xfail ')
        self.assertRegex(out.getvalue(), r'(?m)^ +total +1 +0 +0 +1 ')
        res = feed(phase(series='6.12'), ['ok 1 a'])
        out = io.StringIO()
        report.summary(res, out, '/run', 1.0)
        self.assertNotIn('xfail', out.getvalue())


def bench_run():
    """scripts/bench-run.py as a module."""
    import importlib.util
    import os
    import artefacts
    spec = importlib.util.spec_from_file_location(
        'qepc_bench_run', os.path.join(artefacts.TOP, 'scripts', 'bench-run.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class AskedInject(unittest.TestCase):
    """Guest 2's "QEPC-INJECT DEVICE SPEC": the harness sets the property
    and answers on the guest's ttyS1; a device that is not there, or a
    rule QEMU refuses, is refused with the reason, in the answer too."""

    class FakePair:
        def __init__(self, refuse=None):
            self.set, self.answers, self.refuse = [], [], refuse
            self.host = self.peer = self

        def inject(self, device, spec):
            if self.refuse:
                raise RuntimeError(self.refuse)
            self.set.append((device, spec))

        def answer(self, line):
            self.answers.append(line)

    def ask(self, line, refuse=None, asker='host'):
        pair, res, injected = self.FakePair(refuse), R.Results(io.StringIO()), set()
        bench_run().asked_inject(pair, res, line, injected, asker)
        return pair, res.out.getvalue(), injected

    def test_guest_3_names_its_own_bridge(self):
        pair, out, injected = self.ask('QEPC-INJECT bridge0 link-down:2000', asker='peer')
        self.assertEqual(pair.set, [('peer:bridge0', 'link-down:2000')])
        self.assertEqual(pair.answers, ['QEPC-INJECTED bridge0'])
        self.assertEqual(injected, {'peer:bridge0'})
        self.assertIn('# inject peer:bridge0: link-down:2000, asked by guest 3', out)

    def test_set_and_answered(self):
        pair, out, injected = self.ask('QEPC-INJECT bridge0 link-down:2000')
        self.assertEqual(pair.set, [('bridge0', 'link-down:2000')])
        self.assertEqual(pair.answers, ['QEPC-INJECTED bridge0'])
        self.assertEqual(injected, {'bridge0'})
        self.assertIn('# inject bridge0: link-down:2000, asked by guest 2', out)

    def test_no_rules_takes_them_away(self):
        pair, out, _ = self.ask('QEPC-INJECT epc ')
        self.assertEqual(pair.set, [('epc', '')])
        self.assertIn('# inject epc: "", asked by guest 2', out)

    def test_unknown_device_refused(self):
        pair, out, injected = self.ask('QEPC-INJECT cpu0 msi-drop')
        self.assertEqual(pair.set, [])
        self.assertEqual(injected, set())
        self.assertEqual(pair.answers, ['QEPC-INJECT-REFUSED cpu0 no device "cpu0" '
                                        '(epc, epc1 or bridgeK)'])

    def test_refused_rule_says_why(self):
        pair, out, injected = self.ask('QEPC-INJECT epc bogus', refuse='inject: no rule "bogus"')
        self.assertEqual(pair.answers, ['QEPC-INJECT-REFUSED epc inject: no rule "bogus"'])
        self.assertIn('refused: inject: no rule "bogus"', out)
        self.assertEqual(injected, set())


class KnownBugs(unittest.TestCase):
    """run names a kernel bug it knows by the oops's trace and modules."""
    OOPS = """[    3.25] BUG: unable to handle page fault for address: 00000000007a6034
[    3.25] Oops: Oops: 0000 [#1] SMP
[    3.25] Workqueue: events qep_event_work [pcie_qemu_ep]
[    3.25] Call Trace:
[    3.25]  ? __mutex_lock.constprop.0+0x5d/0x345
[    3.25]  ? pci_epc_linkup+0x57/0x9f
[    3.25]  ? qep_event_work+0x93/0xc2 [pcie_qemu_ep]
[    3.25] Modules linked in: %s pcie_qemu_ep(O)
[    3.25] ---[ end trace 0000000000000000 ]---
"""

    def bugs(self, text):
        import tempfile
        with tempfile.NamedTemporaryFile('w', suffix='.log') as f:
            f.write(text)
            f.flush()
            return bench_run().known_bugs(f.name)

    def test_secondary_interface_oops_is_named(self):
        found = self.bugs(self.OOPS % 'pci_epf_ntb')
        self.assertEqual(len(found), 1)
        self.assertIn('guest/patches/7.3/0001-PCI-endpoint-keep-secondary-interfaces-off-the-'
                      'EPF-list.patch', found[0])

    def test_mhi_dma_channels_oops_is_named(self):
        # the trace of that oops in a run before the fix (guest 1, stopping
        # the controller a second time)
        oops = """[   74.45] BUG: kernel NULL pointer dereference, address: 0000000000000000
[   74.46] Call Trace:
[   74.46]  ? pci_epf_mhi_edma_flush_async+0x10/0x29 [pci_epf_mhi]
[   74.46]  ? mhi_ep_power_down+0x8a/0x22e [mhi_ep]
[   74.46]  ? pci_epf_mhi_link_down+0x1f/0x3e [pci_epf_mhi]
[   74.46]  ? pci_epc_linkdown+0x71/0x9f
[   74.46] Modules linked in: pci_epf_mhi mhi_ep pcie_qemu_ep(O)
[   74.46] ---[ end trace 0000000000000000 ]---
"""
        found = self.bugs(oops)
        self.assertEqual(len(found), 1)
        self.assertIn('guest/patches/7.3/0002-PCI-endpoint-pci-epf-mhi-get-the-DMA-channels-'
                      'back-on-link-up.patch', found[0])

    def test_other_oops_is_not(self):
        self.assertEqual(self.bugs(self.OOPS % 'pci_epf_test'), [])
        self.assertEqual(self.bugs('[    1.0] pcie-qemu-ep 0000:00:06.0: link up\n'), [])


class MatchedByName(unittest.TestCase):
    def ph(self):
        return phase('vntb', ['a', 'b', 'c'])

    def test_results_in_another_order_pass(self):
        res = feed(self.ph(), ['QEPC-PLAN a', 'QEPC-PLAN b', 'QEPC-PLAN c', 'QEPC-PLAN-END 3',
                               'ok 1 c', 'ok 2 a', 'ok 3 b'])
        self.assertEqual(sorted(statuses(res)), [('a', 'ok'), ('b', 'ok'), ('c', 'ok')])

    def test_a_missing_case_is_named(self):
        res = feed(self.ph(), ['QEPC-PLAN a', 'QEPC-PLAN b', 'QEPC-PLAN c', 'QEPC-PLAN-END 3',
                               'ok 1 a', 'ok 2 c'])
        self.assertEqual(statuses(res), [('a', 'ok'), ('c', 'ok'), ('b', 'fail')])
        self.assertIn('no result printed', res.cases[2][5])

    def test_an_unplanned_result_is_an_error(self):
        res = feed(self.ph(), ['QEPC-PLAN a', 'QEPC-PLAN b', 'QEPC-PLAN c', 'QEPC-PLAN-END 3',
                               'ok 1 a', 'ok 2 b', 'ok 3 c', 'ok 4 d'])
        self.assertIn(('d', 'fail'), statuses(res))
        self.assertIn('unplanned', [c for c in res.cases if c[0] == 'd'][0][5])

    def test_a_name_planned_once_takes_one_result(self):
        res = feed(self.ph(), ['ok 1 a', 'ok 2 a', 'ok 3 b', 'ok 4 c'])
        self.assertEqual([s for n, s in statuses(res) if n == 'a'], ['ok', 'fail'])

    def test_a_guest_plan_other_than_the_harness_plan_fails(self):
        res = feed(self.ph(), ['QEPC-PLAN a', 'QEPC-PLAN b', 'QEPC-PLAN-END 2',
                               'ok 1 a', 'ok 2 b'])
        bad = [c for c in res.cases if c[3] == 'fail']
        self.assertEqual([c[0] for c in bad],
                         ["guest 2's plan is the one the harness expected", 'c'])

    def test_a_user_script_is_held_to_its_own_plan(self):
        res = feed(phase(), ['QEPC-PLAN x', 'QEPC-PLAN y', 'QEPC-PLAN-END 2', 'ok 1 x'])
        self.assertEqual(statuses(res), [('x', 'ok'), ('y', 'fail')])

    def test_a_stopped_pair_names_what_did_not_run(self):
        res = feed(self.ph(), ['ok 1 a', 'QEPC-ERROR the guest gave up'])
        self.assertEqual(statuses(res), [('a', 'ok'), ('b', 'fail'), ('c', 'fail')])
        self.assertEqual(res.cases[1][5], 'not run: the guest gave up')

    def test_pcitest_cases_by_name_with_repeats(self):
        ph = phase('pcitest', None, '6.12')
        ph.set_plan(['-i 1', '-r -s 1', '-i 1'])
        res = feed(ph, ['QEPC-CASE 0|0.1|-i 1|SET IRQ TYPE TO MSI:\t\tOKAY',
                        'QEPC-CASE 0|0.1|-i 1|OKAY'])
        self.assertEqual(statuses(res), [('pcitest -i 1', 'ok'), ('pcitest -i 1', 'ok'),
                                         ('pcitest -r -s 1', 'fail')])

    def test_next_planned_names_the_case_waited_for(self):
        ph = self.ph()
        res = R.Results(io.StringIO())
        run = R.HostRun(res, ph)
        run.feed('ok 1 a', 1.0)
        self.assertEqual(run.next_planned(), 'b')


class MsixExplained(unittest.TestCase):
    def test_said_once_with_the_numbers_and_the_rest_not_run(self):
        ph = phase('pcitest', None, '')
        ph.set_plan(['-b 0', '-i 2', '-x 1', '-x 2'])
        res = feed(ph, ['QEPC-HOSTINFO cpus=4 possible=0-3 msix=2048',
                        'QEPC-CASE 0|0.2|-b 0|BAR0:\t\tOKAY',
                        'QEPC-CASE 1|0.2|-i 2|SET IRQ TYPE TO MSI-X:\t\tNOT OKAY',
                        'QEPC-CASE 126|0|-x 1|not run: setting the IRQ type to MSI-X '
                        'failed (pcitest -i 2)',
                        'QEPC-CASE 126|0|-x 2|not run: setting the IRQ type to MSI-X '
                        'failed (pcitest -i 2)'])
        text = res.out.getvalue()
        said = [l for l in text.splitlines() if l.startswith('# ') and 'MSI-X' in l]
        self.assertEqual(len(said), 1, text)
        self.assertIn('2048 MSI-X vectors', said[0])
        self.assertIn('uses 4 CPUs (possible: 0-3)', said[0])
        self.assertIn('at least 11 CPUs', said[0])
        self.assertEqual([s for _, s in statuses(res)], ['ok'] + ['fail'] * 3)
        self.assertTrue(res.cases[2][5].startswith('not run: setting the IRQ type'))


    def test_the_kselftest_msix_failure_says_why(self):
        ph = phase('kselftest', None, '')
        ph.set_plan(['pci_ep_basic.MSI_TEST', 'pci_ep_basic.MSIX_TEST'])
        res = feed(ph, ['QEPC-HOSTINFO cpus=4 possible=0-3 msix=2048',
                        'ok 1 pci_ep_basic.MSI_TEST',
                        '# pci_endpoint_test.c:140:MSIX_TEST:Expected 0 (0) == ret (-22)',
                        'not ok 2 pci_ep_basic.MSIX_TEST'])
        self.assertEqual([s for _, s in statuses(res)], ['ok', 'fail'])
        self.assertIn('MSIX_TEST:Expected', res.cases[1][5])
        self.assertIn('uses 4 CPUs (possible: 0-3)', res.cases[1][5])


if __name__ == '__main__':
    unittest.main()
