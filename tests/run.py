#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run every qemu-epc test and end with one line 'N passed, N failed'.

usage: run.py BUILD_DIR [unit|device|kmod|e2e ...]"""
import os
import re
import subprocess
import sys
import time
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, 'build'))
SUITES = sys.argv[2:] or ['unit', 'device', 'kmod', 'e2e']
passed, failed = 0, 0


def unit():
    """libcheck suites: one line per case from CK_VERBOSE output."""
    global passed, failed
    for t in ('test-proto', 'test-cfgspace'):
        exe = os.path.join(BUILD, 'tests', t)
        try:
            p = subprocess.run([exe], capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            print('not ok unit/%s: timed out after 120 s' % t)
            failed += 1
            continue
        cases = re.findall(r'^[^:\n]+:\d+:([PFE]):[^:]*:([^:]+):\d+:?\s*(.*)$', p.stdout, re.M)
        if not cases:
            print('not ok unit/%s: no test results (exit %d)\n%s' % (t, p.returncode, p.stdout + p.stderr))
            failed += 1
            continue
        for res, name, msg in cases:
            if res == 'P':
                passed += 1
                print('ok unit/%s/%s' % (t, name))
            else:
                failed += 1
                print('not ok unit/%s/%s: %s' % (t, name, msg))
        if p.returncode and all(r == 'P' for r, _, _ in cases):
            failed += 1
            print('not ok unit/%s: exit %d' % (t, p.returncode))


class Result(unittest.TextTestResult):
    suite = 'device'

    def startTest(self, test):
        self._t0 = time.monotonic()
        super().startTest(test)

    def _line(self, test, status, extra=''):
        print('%s %s/%s (%.1f s)%s' % (status, self.suite, test.id().split('.', 1)[1],
                                          time.monotonic() - self._t0, extra), flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(test, 'ok')

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(test, 'not ok', '\n' + self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._line(test, 'not ok', '\n' + self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(test, 'not ok', ' (skipped: %s; a skip is not a pass)' % reason)


def python_suite(name):
    """unittest modules in tests/NAME (device, kmod, e2e)."""
    global passed, failed
    d = os.path.join(TOP, 'tests', name)
    sys.path[:0] = [os.path.join(TOP, 'tests', 'lib'), d]
    os.environ['QEMU_EPC_BUILD'] = BUILD
    Result.suite = name
    suite = unittest.defaultTestLoader.discover(d, top_level_dir=d)
    runner = unittest.TextTestRunner(resultclass=Result, verbosity=0,
                                     stream=open(os.devnull, 'w'))
    import warnings
    warnings.simplefilter('ignore', ResourceWarning)
    res = runner.run(suite)
    bad = len(res.failures) + len(res.errors) + len(res.skipped)
    failed += bad
    passed += res.testsRun - bad


for s in SUITES:
    if s == 'unit':
        unit()
    else:
        python_suite(s)
print('%d passed, %d failed' % (passed, failed))
sys.exit(1 if failed or not passed else 0)
