# SPDX-License-Identifier: GPL-2.0-or-later
"""tests/run.py's scheduling: the deal of a sharded suite's cases by their
recorded times, and the end-to-end tests ordered by the kernels set-up
builds first."""
import importlib.util
import os
import re
import types
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('qepc_run', os.path.join(TOP, 'tests', 'run.py'))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)


class Deal(unittest.TestCase):
    def test_every_case_once_and_the_shards_even(self):
        times = {'a': 300.0, 'b': 200.0, 'c': 100.0, 'd': 100.0, 'e': 90.0, 'f': 10.0}
        names = ['a', 'b', 'c', 'd', 'e', 'f']
        sets = run.deal(names, 2, times)
        self.assertEqual(sorted(x for s in sets for x in s), names)
        self.assertEqual(sum(len(s) for s in sets), len(names))
        loads = sorted(sum(times[x] for x in s) for s in sets)
        self.assertEqual(loads, [400.0, 400.0])

    def test_the_same_deal_for_every_shard(self):
        times = {'x%d' % i: float(i % 7) for i in range(40)}
        names = sorted(times) + ['new-1', 'new-2']
        self.assertEqual(run.deal(names, 3, times), run.deal(list(names), 3, dict(times)))

    def test_cases_never_timed_count_as_the_median(self):
        times = {'a': 10.0, 'b': 20.0, 'c': 30.0}
        sets = run.deal(['a', 'b', 'c', 'new'], 2, times)
        # 'new' counts 20 s: c (30) | b (20), new to b (40), a to c (40)
        self.assertIn({'b', 'new'}, sets)
        self.assertIn({'a', 'c'}, sets)

    def test_no_record_deals_round_about(self):
        sets = run.deal(['a', 'b', 'c', 'd'], 2, {})
        self.assertEqual([len(s) for s in sets], [2, 2])


class KernelOrder(unittest.TestCase):
    def fake(self, modname, kernels):
        mod = types.ModuleType(modname)
        if kernels is not None:
            mod.KERNELS = kernels
        run.sys.modules[modname] = mod
        self.addCleanup(run.sys.modules.pop, modname)
        cls = type('T', (unittest.TestCase,), {'__module__': modname,
                                               'test_x': lambda self: None})
        return cls('test_x')

    def test_6_12_first_then_7_3_then_debug(self):
        d = self.fake('qepc_fake_debug', ('debug',))
        both = self.fake('qepc_fake_both', ('6.12', '7.3'))
        old = self.fake('qepc_fake_612', ('6.12',))
        none = self.fake('qepc_fake_none', None)
        # (a stable sort: same rank, same order as found)
        got = sorted([d, both, old, none], key=run.kernel_rank)
        self.assertEqual(got, [old, none, both, d])

    def test_a_run_waits_for_each_kernel_before_its_first_test_only(self):
        order = []
        cls = type('T', (unittest.TestCase,), {
            '__module__': 'qepc_fake_both',
            'test_a': lambda self: order.append('a'),
            'test_b': lambda self: order.append('b')})
        mod = types.ModuleType('qepc_fake_both')
        mod.KERNELS = ('6.12', '7.3')
        run.sys.modules['qepc_fake_both'] = mod
        self.addCleanup(run.sys.modules.pop, 'qepc_fake_both')
        first = self.fake('qepc_fake_612', ('6.12',))
        dbg = self.fake('qepc_fake_debug', ('debug',))
        real = run.wait_for_kernel
        run.wait_for_kernel = lambda k: order.append('wait ' + k)
        self.addCleanup(setattr, run, 'wait_for_kernel', real)
        suite = run.KernelOrder([first, cls('test_a'), cls('test_b'), dbg])
        # listing (and the deal of a shard) go through the cases: no wait
        self.assertEqual(len(list(run.iter_tests(suite))), 4)
        self.assertEqual(order, [])
        result = unittest.TestResult()
        suite.run(result)
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(order, ['wait 7.3', 'a', 'b', 'wait debug'])

    def test_every_e2e_module_declares_its_kernels(self):
        e2e = os.path.join(TOP, 'tests', 'e2e')
        for f in sorted(os.listdir(e2e)):
            if f.startswith('test_') and f.endswith('.py'):
                with open(os.path.join(e2e, f)) as fh:
                    src = fh.read()
                with self.subTest(module=f):
                    self.assertIsNotNone(re.search(r"(?m)^KERNELS = \('[\w.]+'(, '[\w.]+')*,?\)$",
                                                   src), 'no KERNELS = (...) line')
                    line = src.split('\nKERNELS = ', 1)[1].split('\n', 1)[0]
                    for k in re.findall(r"'([\w.]+)'", line):
                        self.assertIn(k, run.KERNEL_ORDER)


if __name__ == '__main__':
    unittest.main()
