#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run every qemu-epc test and end with one line 'N passed, N failed'.

usage: run.py BUILD_DIR [unit|device|sanitize|fuzz|kmod|e2e ...]

sanitize and fuzz use the sanitizer build BUILD_DIR-san (scripts/setup.sh
makes it; $QEMU_EPC_SAN_BUILD overrides); fuzz runs each target for
$QEMU_EPC_FUZZ_TIME seconds (default 60)."""
import os
import re
import shutil
import subprocess
import tempfile
import sys
import time
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, 'build'))
SUITES = sys.argv[2:] or ['unit', 'device', 'sanitize', 'fuzz', 'kmod', 'e2e']
SAN_BUILD = os.path.abspath(os.environ.get('QEMU_EPC_SAN_BUILD', BUILD + '-san'))
FUZZ_TIME = float(os.environ.get('QEMU_EPC_FUZZ_TIME', '60'))
passed, failed = 0, 0


def unit():
    """libcheck suites: one line per case from CK_VERBOSE output."""
    global passed, failed
    for t in ('test-proto', 'test-cfgspace', 'test-bars'):
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


def python_suite(name, build=BUILD, label=None):
    """unittest modules in tests/NAME (device, kmod, e2e), the devices'
    modules taken from build."""
    global passed, failed
    d = os.path.join(TOP, 'tests', name)
    sys.path[:0] = [os.path.join(TOP, 'harness'), os.path.join(TOP, 'tests', 'lib'), d]
    os.environ['QEMU_EPC_BUILD'] = build
    os.environ['QEMU_EPC_MODULE_DIR'] = build
    Result.suite = label or name
    suite = unittest.defaultTestLoader.discover(d, top_level_dir=d)
    runner = unittest.TextTestRunner(resultclass=Result, verbosity=0,
                                     stream=open(os.devnull, 'w'))
    import warnings
    warnings.simplefilter('ignore', ResourceWarning)
    res = runner.run(suite)
    bad = len(res.failures) + len(res.errors) + len(res.skipped)
    failed += bad
    passed += res.testsRun - bad


def san_build_ok(suite):
    """The sanitizer build exists and is one (not a skip: a failure)."""
    global failed
    if os.path.isfile(os.path.join(SAN_BUILD, 'qemu-epc-preload')) and \
            os.path.isfile(os.path.join(SAN_BUILD, 'hw-misc-qemu-epc.so')):
        return True
    print('not ok %s: no sanitizer build in %s (meson setup %s -Dsanitize=true, '
          'made by scripts/setup.sh)' % (suite, SAN_BUILD, SAN_BUILD))
    failed += 1
    return False


def sanitize():
    """The device suite again, against the ASan/UBSan build; a sanitizer
    report in any QEMU's output fails the test (tests/device/base.py)."""
    if san_build_ok('sanitize'):
        t0 = time.monotonic()
        python_suite('device', SAN_BUILD, 'sanitize')
        print('# sanitize: %.0f s' % (time.monotonic() - t0))


def fuzz():
    """libFuzzer on proto/, then the device fuzz driver on each device."""
    global passed, failed
    if not san_build_ok('fuzz'):
        return
    t0 = time.monotonic()
    limit = FUZZ_TIME
    exe = os.path.join(SAN_BUILD, 'tests', 'fuzz', 'fuzz-proto')
    if not os.access(exe, os.X_OK):
        print('not ok fuzz/proto: %s not built (needs clang-14 and libclang-rt-14-dev)' % exe)
        failed += 1
    else:
        work = tempfile.mkdtemp(prefix='qemu-epc-fuzz-proto-')
        os.mkdir(os.path.join(work, 'corpus'))
        try:
            p = subprocess.run([exe, '-max_total_time=%d' % max(1, int(limit)), '-seed=1',
                                '-artifact_prefix=%s/' % work, '-print_final_stats=1',
                                os.path.join(work, 'corpus'),
                                os.path.join(TOP, 'tests', 'fuzz', 'corpus-proto')],
                               capture_output=True, text=True, timeout=limit + 120)
            out = p.stderr
            runs = re.search(r'^Done (\d+) runs in (\d+) second', out, re.M)
            arts = [f for f in os.listdir(work) if f.startswith(('crash-', 'leak-', 'timeout-', 'oom-'))]
            if p.returncode == 0 and runs and not arts:
                print('ok fuzz/proto: %s executions, 0 crashes (%s s)' % runs.groups())
                passed += 1
                shutil.rmtree(work, ignore_errors=True)
            else:
                print('not ok fuzz/proto: exit %d, %s executions, %d crashes (inputs kept in %s)\n%s'
                      % (p.returncode, runs.group(1) if runs else '?', max(1, len(arts)), work,
                         '\n'.join(out.splitlines()[-40:])))
                failed += 1
        except subprocess.TimeoutExpired:
            print('not ok fuzz/proto: libFuzzer did not stop %d s after -max_total_time=%d'
                  % (120, limit))
            failed += 1
    for target in ('epc', 'bridge'):
        cmd = [sys.executable, os.path.join(TOP, 'tests', 'fuzz', 'fuzz-device.py'),
               '--target', target, '--time', str(limit), '--build', SAN_BUILD]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit + 120)
        except subprocess.TimeoutExpired:
            print('not ok fuzz/%s: the fuzz driver did not end %d s after its %d s'
                  % (target, 120, limit))
            failed += 1
            continue
        last = re.search(r'^fuzz/%s: (\d+) executions, (\d+) crashes, (\d+) reconnects, (\d+) s$'
                         % target, p.stdout, re.M)
        if p.returncode == 0 and last and last.group(2) == '0' and int(last.group(1)) > 0:
            print('ok fuzz/%s: %s executions, 0 crashes, %s reconnects (%s s)'
                  % ((target,) + last.group(1, 3, 4)))
            passed += 1
        else:
            print('not ok fuzz/%s: exit %d\n%s%s' % (target, p.returncode, p.stdout[-6000:],
                                                   p.stderr[-3000:]))
            failed += 1
    print('# fuzz: %.0f s' % (time.monotonic() - t0))


for s in SUITES:
    if s == 'unit':
        unit()
    elif s == 'sanitize':
        sanitize()
    elif s == 'fuzz':
        fuzz()
    else:
        python_suite(s)
print('%d passed, %d failed' % (passed, failed))
sys.exit(1 if failed or not passed else 0)
