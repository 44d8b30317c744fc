#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the qemu-epc tests and end with one line 'N passed, N failed'.

usage: run.py BUILD_DIR [SELECTION ...] [-k PATTERN]

SELECTION: a suite (unit device sanitize fuzz kmod versions pkg e2e;
default: all of them), or one file of a suite (device/test_epc.py), or a test in it
(device/test_epc.py:EpcTest.test_msi).  -k PATTERN keeps the cases whose
name contains PATTERN.  Every case is a line "ok NAME" or "not ok NAME:
why" (a failing subtest is a case of its own; a skip is not a pass); a
suite that cannot run, or that runs fewer cases than it is known to have
(a renamed file would drop its tests silently), is a "not ok" line too.

sanitize and fuzz use the sanitizer build BUILD_DIR-san (scripts/setup.sh
makes it; $QEMU_EPC_SAN_BUILD overrides); fuzz runs each target for
$QEMU_EPC_FUZZ_TIME seconds (default 60).

versions builds the modules against each QEMU version (tests/versions),
then runs the device suite on Debian 12's QEMU 7.2 with the 7.2 build
(cases named versions/qemu-7.2/device/...).  pkg builds the Debian
packages, installs them on this machine, uses them and purges them
(tests/pkg; root or sudo)."""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL = ['unit', 'device', 'sanitize', 'fuzz', 'kmod', 'versions', 'pkg', 'e2e']
UNIT = ('test-proto', 'test-cfgspace', 'test-bars')
# the fewest cases each whole suite has; fewer means cases went missing
MINIMUM = {'unit': 20, 'device': 109, 'sanitize': 109, 'fuzz': 4, 'kmod': 9, 'e2e': 17,
           'versions': 5, 'versions/qemu-7.2': 109, 'pkg': 8}

ap = argparse.ArgumentParser(usage='run.py BUILD_DIR [SELECTION ...] [-k PATTERN]',
                             description=__doc__.split('\n\n')[0])
ap.add_argument('build')
ap.add_argument('selection', nargs='*')
ap.add_argument('-k', dest='pattern', action='append', default=[],
                help='only cases whose name contains PATTERN (repeatable: any of them)')
args = ap.parse_args()
BUILD = os.path.abspath(args.build)
SAN_BUILD = os.path.abspath(os.environ.get('QEMU_EPC_SAN_BUILD', BUILD + '-san'))
FUZZ_TIME = float(os.environ.get('QEMU_EPC_FUZZ_TIME', '60'))


class Tally:
    def __init__(self):
        self.passed = self.failed = 0

    def ok(self, name, extra=''):
        self.passed += 1
        print('ok %s%s' % (name, extra), flush=True)

    def bad(self, name, why):
        self.failed += 1
        print('not ok %s: %s' % (name, why), flush=True)


T = Tally()


def wanted(name):
    return not args.pattern or any(p in name for p in args.pattern)


def check_minimum(suite, ran, whole):
    if whole and ran < MINIMUM[suite]:
        T.bad(suite, 'ran %d cases, it has at least %d: cases went missing'
              % (ran, MINIMUM[suite]))


def unit(whole):
    """libcheck suites: one line per case from CK_VERBOSE output."""
    ran = 0
    for t in UNIT:
        exe = os.path.join(BUILD, 'tests', t)
        if not os.access(exe, os.X_OK):
            T.bad('unit/' + t, '%s is not built (./qemu-epc-bench setup)' % exe)
            continue
        try:
            p = subprocess.run([exe], capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            T.bad('unit/' + t, 'timed out after 120 s')
            continue
        cases = re.findall(r'^[^:\n]+:\d+:([PFE]):[^:]*:([^:]+):\d+:?\s*(.*)$', p.stdout, re.M)
        if not cases:
            T.bad('unit/' + t, 'no test results (exit %d)\n%s' % (p.returncode,
                                                                 p.stdout + p.stderr))
            continue
        for res, name, msg in cases:
            full = 'unit/%s/%s' % (t, name)
            if not wanted(full):
                continue
            ran += 1
            if res == 'P':
                T.ok(full)
            else:
                T.bad(full, msg)
        if p.returncode and all(r == 'P' for r, _, _ in cases):
            T.bad('unit/' + t, 'exit %d with every case passed' % p.returncode)
    check_minimum('unit', ran, whole)


class Result(unittest.TestResult):
    """Each test, and each failing subtest, as one line of the tally."""
    suite = 'device'

    def startTest(self, test):
        self._t0 = time.monotonic()
        self._sub_failed = False
        super().startTest(test)

    def _name(self, test):
        return '%s/%s' % (self.suite, test.id().split('.', 1)[1])

    def _time(self):
        return ' (%.1f s)' % (time.monotonic() - self._t0)

    def addSuccess(self, test):
        super().addSuccess(test)
        if not self._sub_failed:
            T.ok(self._name(test), self._time())

    def addFailure(self, test, err):
        super().addFailure(test, err)
        T.bad(self._name(test), self._time()[1:] + '\n' + self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        T.bad(self._name(test), self._time()[1:] + '\n' + self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        T.bad(self._name(test), 'skipped: %s; a skip is not a pass' % reason)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._sub_failed = True
            T.bad('%s %s' % (self._name(test), subtest._subDescription()),
                  '\n' + self._exc_info_to_string(err, test))


def tests_of(suite_dir, only):
    """The tests of a suite directory; only: [] or [(file, name)]."""
    loader = unittest.TestLoader()
    if args.pattern:
        loader.testNamePatterns = ['*%s*' % p for p in args.pattern]
    if not only:
        return loader.discover(suite_dir, top_level_dir=suite_dir)
    found = unittest.TestSuite()
    for f, name in only:
        mod = os.path.splitext(os.path.basename(f))[0]
        found.addTests(loader.loadTestsFromName(mod + ('.' + name if name else '')))
    return found


def python_suite(name, build=None, label=None, only=()):
    """unittest modules in tests/NAME (device, kmod, e2e), the devices'
    modules taken from build."""
    build = build or BUILD
    d = os.path.join(TOP, 'tests', name)
    sys.path[:0] = [os.path.join(TOP, 'harness'), os.path.join(TOP, 'tests', 'lib'), d]
    os.environ['QEMU_EPC_BUILD'] = build
    os.environ['QEMU_EPC_MODULE_DIR'] = build
    Result.suite = label or name
    import warnings
    warnings.simplefilter('ignore', ResourceWarning)
    try:
        suite = tests_of(d, only)
    except Exception:
        T.bad(label or name, 'its tests do not load:\n' + traceback.format_exc())
        return
    # (a module that fails to import runs as a failing case of its own)
    res = Result()
    suite.run(res)
    check_minimum(label or name, res.testsRun, not only and not args.pattern)


def san_build_ok(suite):
    """The sanitizer build exists and is one (not a skip: a failure)."""
    if os.path.isfile(os.path.join(SAN_BUILD, 'qemu-epc-preload')) and \
            os.path.isfile(os.path.join(SAN_BUILD, 'hw-misc-qemu-epc.so')):
        return True
    T.bad(suite, 'no sanitizer build in %s (meson setup %s -Dsanitize=true, made by '
          'scripts/setup.sh)' % (SAN_BUILD, SAN_BUILD))
    return False


def sanitize(whole, only=()):
    """The device suite again, against the ASan/UBSan build; a sanitizer
    report in any QEMU's output fails the test (tests/device/base.py)."""
    if san_build_ok('sanitize'):
        t0 = time.monotonic()
        python_suite('device', SAN_BUILD, 'sanitize', only)
        print('# sanitize: %.0f s' % (time.monotonic() - t0))


def fuzz(whole):
    """libFuzzer on proto/, then the device fuzz driver on each device."""
    if not san_build_ok('fuzz'):
        return
    t0 = time.monotonic()
    limit = FUZZ_TIME
    ran = 0
    exe = os.path.join(SAN_BUILD, 'tests', 'fuzz', 'fuzz-proto')
    if wanted('fuzz/proto'):
        ran += 1
        if not os.access(exe, os.X_OK):
            T.bad('fuzz/proto', '%s not built (needs clang-14 and libclang-rt-14-dev)' % exe)
        else:
            fuzz_proto(exe, limit)
    for target in ('epc', 'epc-fn1', 'bridge'):
        if not wanted('fuzz/' + target):
            continue
        ran += 1
        cmd = [sys.executable, os.path.join(TOP, 'tests', 'fuzz', 'fuzz-device.py'),
               '--target', target, '--time', str(limit), '--build', SAN_BUILD]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit + 120)
        except subprocess.TimeoutExpired:
            T.bad('fuzz/' + target, 'the fuzz driver did not end %d s after its %d s'
                  % (120, limit))
            continue
        last = re.search(r'^fuzz/%s: (\d+) executions, (\d+) crashes, (\d+) reconnects, (\d+) s$'
                         % target, p.stdout, re.M)
        if p.returncode == 0 and last and last.group(2) == '0' and int(last.group(1)) > 0:
            T.ok('fuzz/%s' % target, ': %s executions, 0 crashes, %s reconnects (%s s)'
                 % last.group(1, 3, 4))
        else:
            T.bad('fuzz/' + target, 'exit %d\n%s%s' % (p.returncode, p.stdout[-6000:],
                                                        p.stderr[-3000:]))
    check_minimum('fuzz', ran, whole)
    print('# fuzz: %.0f s' % (time.monotonic() - t0))


def fuzz_proto(exe, limit):
    work = tempfile.mkdtemp(prefix='qemu-epc-fuzz-proto-')
    os.mkdir(os.path.join(work, 'corpus'))
    try:
        p = subprocess.run([exe, '-max_total_time=%d' % max(1, int(limit)), '-seed=1',
                            '-artifact_prefix=%s/' % work, '-print_final_stats=1',
                            os.path.join(work, 'corpus'),
                            os.path.join(TOP, 'tests', 'fuzz', 'corpus-proto')],
                           capture_output=True, text=True, timeout=limit + 120)
    except subprocess.TimeoutExpired:
        T.bad('fuzz/proto', 'libFuzzer did not stop %d s after -max_total_time=%d'
              % (120, limit))
        return
    out = p.stderr
    runs = re.search(r'^Done (\d+) runs in (\d+) second', out, re.M)
    arts = [f for f in os.listdir(work) if f.startswith(('crash-', 'leak-', 'timeout-', 'oom-'))]
    if p.returncode == 0 and runs and not arts:
        T.ok('fuzz/proto', ': %s executions, 0 crashes (%s s)' % runs.groups())
        shutil.rmtree(work, ignore_errors=True)
    else:
        T.bad('fuzz/proto', 'exit %d, %s executions, %d crashes (inputs kept in %s)\n%s'
              % (p.returncode, runs.group(1) if runs else '?', max(1, len(arts)), work,
                 '\n'.join(out.splitlines()[-40:])))


def versions(whole, only=()):
    """The builds against each QEMU version, then the device suite on
    Debian 12's QEMU 7.2 (its binary unpacked by scripts/qemu-tree.sh) with
    the modules built for it, in a run.py of its own (the QEMU binary is
    fixed when the harness is imported)."""
    t0 = time.monotonic()
    python_suite('versions', only=only)
    if only:
        return
    label = 'versions/qemu-7.2'
    build72 = os.path.join(BUILD, 'qemu-7.2')
    try:
        with open(os.path.join(BUILD, 'qemu-tree-bookworm')) as f:
            tree = f.read().strip()
    except OSError as e:
        T.bad(label, 'no QEMU 7.2 tree recorded (%s): run ./qemu-epc-bench setup' % e)
        return
    if not os.path.isfile(os.path.join(build72, 'hw-misc-qemu-epc.so')):
        T.bad(label, 'the modules for 7.2 are not built in %s (the case '
              'test_builds_against_qemu_7_2_of_debian_12 builds them)' % build72)
        return
    env = dict(os.environ, QEMU=os.path.join(tree, 'root', 'usr', 'bin', 'qemu-system-x86_64'),
               QEMU_EPC_QTEST_DIR=os.path.join(tree, 'modules'))
    env.pop('QEMU_EPC_MODULE_DIR', None)
    cmd = [sys.executable, os.path.abspath(__file__), build72, 'device']
    for p in args.pattern:
        cmd += ['-k', p]
    limit = 1800
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env)
    timer = threading.Timer(limit, p.kill)
    timer.start()
    ran, summary = 0, None
    try:
        for line in p.stdout:
            if line.startswith('ok '):
                ran += 1
                T.ok('%s/%s' % (label, line[3:].rstrip('\n')))
            elif line.startswith('not ok '):
                ran += 1
                T.failed += 1
                print('not ok %s/%s' % (label, line[7:]), end='', flush=True)
            elif re.match(r'^\d+ passed, \d+ failed$', line):
                summary = line.strip()
            else:
                print(line, end='', flush=True)
        p.wait()
    finally:
        timer.cancel()
    if summary is None:
        T.bad(label, 'the device suite on QEMU 7.2 ended without its summary '
              '(exit %s%s)' % (p.returncode, ', killed after %d s' % limit
                               if p.returncode == -9 else ''))
    check_minimum(label, ran, whole)
    print('# versions: %.0f s' % (time.monotonic() - t0))


def plan():
    """[(suite, [(file, test name)] or [] for all of it)] from the selection."""
    out = []
    for sel in args.selection or ALL:
        suite, _, rest = sel.partition('/')
        if suite not in ALL:
            sys.exit('run.py: unknown suite or path %r (suites: %s)' % (sel, ' '.join(ALL)))
        only = []
        if rest:
            if suite in ('unit', 'fuzz'):
                sys.exit('run.py: %s takes -k PATTERN, not a path' % suite)
            f, _, name = rest.partition(':')
            d = 'device' if suite == 'sanitize' else suite
            if not os.path.isfile(os.path.join(TOP, 'tests', d, f)):
                sys.exit('run.py: no file tests/%s/%s' % (d, f))
            only = [(f, name)]
        out.append((suite, only))
    return out


for suite, only in plan():
    whole = not only and not args.pattern
    try:
        if suite == 'unit':
            unit(whole)
        elif suite == 'sanitize':
            sanitize(whole, only)
        elif suite == 'fuzz':
            fuzz(whole)
        elif suite == 'versions':
            versions(whole, only)
        else:
            python_suite(suite, only=only)
    except Exception:
        T.bad(suite, 'the suite broke:\n' + traceback.format_exc())
print('%d passed, %d failed' % (T.passed, T.failed))
sys.exit(1 if T.failed or not T.passed else 0)
