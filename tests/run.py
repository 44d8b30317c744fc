#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the qemu-epc tests and end with one line 'N passed, N failed'.

usage: run.py BUILD_DIR [SELECTION ...] [-k PATTERN] [--list] [--serial]
              [--setup-kernels CMD]

SELECTION: a suite (harness unit device sanitize tsan fuzz kmod versions
pkg e2e; default: all of them), or one file of a suite (device/test_epc.py),
or a test in it (device/test_epc.py:EpcTest.test_msi).  -k PATTERN keeps
the cases whose name contains PATTERN.  --list prints every case name
without running anything.  Every case is a line "ok NAME" or "not ok NAME:
why" (a failing subtest is a case of its own; a skip is not a pass); a
suite that cannot run, or that runs fewer cases than it is known to have
(a renamed file would drop its tests silently), is a "not ok" line too.

Each suite runs in a process of its own, with the environment it needs
(sanitize and fuzz use the sanitizer build BUILD_DIR-san, tsan the
ThreadSanitizer build BUILD_DIR-tsan, versions the
modules built for Debian 12's QEMU 7.2 on that QEMU), and reports its
cases to this process on a pipe of their own; what a suite prints besides
becomes "# " lines.  Two lanes run side by side: the suites that boot
guests (e2e), at a lower priority (nice 10), and the others, where the
suites that drive QEMUs under qtest (and barely use the CPU) run side by
side and the ones that compile follow one after the other, those that
compile or fuzz flat out (kmod, pkg, fuzz) below the guests (nice 15), whose
kernels time their waits (--serial: one lane, all one after the other).
With --setup-kernels, the guest kernels are built at the lowest priority
while the suites that need none run (`qemu-epc-bench test` does that); the
suites that need only the 6.12 kernel (pkg, e2e) start once it is built,
e2e with its tests that boot only 6.12 first, and harness and kmod wait
for all of them.

fuzz replays each target's corpus and then mutates for $QEMU_EPC_FUZZ_TIME
seconds (default 10; `qemu-epc-bench fuzz --time N` runs the long run).
versions builds the modules against each QEMU version (tests/versions),
then runs the device suite on Debian 12's QEMU 7.2 with the 7.2 build
(cases named versions/qemu-7.2/device/...).  pkg builds the Debian
packages, installs them on this machine, uses them and purges them
(tests/pkg; root or sudo)."""
import argparse
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL = ['harness', 'unit', 'device', 'sanitize', 'tsan', 'fuzz', 'kmod', 'versions', 'pkg',
       'e2e']
UNIT = ('test-proto', 'test-cfgspace', 'test-bars', 'test-windows', 'test-inject',
        'test-mhi')
# the fewest cases each whole suite has; fewer means cases went missing
MINIMUM = {'harness': 45, 'unit': 27, 'device': 120, 'sanitize': 120, 'tsan': 120, 'fuzz': 4, 'kmod': 9,
           'e2e': 15, 'versions': 5, 'versions/qemu-7.2': 120, 'pkg': 9}
# suites that run side by side: QEMUs under qtest, waiting more than working
LIGHT = ('unit', 'device', 'sanitize', 'tsan', 'versions')
# the suites that run the device suite on another build of the modules
DEVICE_ON = ('sanitize', 'tsan')
# suites whose cases wait more than they compute (ThreadSanitizer's QEMUs
# are slow to start, TCG guests wait on timers): run in this many processes
# side by side, the cases dealt out by the time each took when it last
# passed (TIMES)
SHARDS = {'tsan': 2, 'e2e': 2}
# what each case took when it last passed, kept across runs in the build
# directory
TIMES = 'test-times.json'
# suites that compile or fuzz flat out run below the guests' lane (nice 10),
# whose kernels time their waits (a kselftest waits 1 s for an MSI)
BACKGROUND = ('kmod', 'pkg', 'fuzz')
BACKGROUND_NICE = 15

# suites that need no guest kernel: they run while --setup-kernels builds them
NO_KERNEL = LIGHT + ('fuzz',)
# suites that boot guests: a lane of their own, at a lower priority, beside
# the others (TCG guests take what the qtest suites leave)
GUESTS = ('e2e',)
GUEST_NICE = 10
# suites that start once the 6.12 guest kernel is built, while set-up builds
# the others (an end-to-end test that boots another one waits for it in
# scripts/guest-kernel.sh, and they run after the tests that boot only 6.12;
# harness and kmod use the driver built for each kernel: they wait for all)
FIRST_KERNEL = ('pkg', 'e2e')
# the order in which set-up builds the kernels (scripts/setup.sh), the rank
# of an end-to-end module by the kernels it declares in KERNELS
KERNEL_ORDER = ('6.12', '7.3', 'debug')


def check_minimum(rep, label, ran):
    """A whole suite that ran fewer cases than it has fails."""
    if ran < MINIMUM[label]:
        rep.bad(label, 'ran %d cases, it has at least %d: cases went missing'
                % (ran, MINIMUM[label]))


class Config:
    """What a run of the tests works with, from the command line and the
    environment."""

    def __init__(self, argv):
        ap = argparse.ArgumentParser(
            usage='run.py BUILD_DIR [SELECTION ...] [-k PATTERN] [--list] [--serial]',
            description=__doc__.split('\n\n')[0])
        ap.add_argument('build')
        ap.add_argument('selection', nargs='*')
        ap.add_argument('-k', dest='pattern', action='append', default=[],
                        help='only cases whose name contains PATTERN (repeatable: any of them)')
        ap.add_argument('--list', action='store_true',
                        help='print every case name, run nothing')
        ap.add_argument('--serial', action='store_true',
                        help='every suite after the other')
        ap.add_argument('--setup-kernels', metavar='CMD',
                        help='a command that builds the guest kernels (setup.sh --stage '
                        'kernels): run at low priority while the suites that need no '
                        'kernel run, and waited for before the others')
        ap.add_argument('--child', help=argparse.SUPPRESS)
        ap.add_argument('--only', action='append', default=[], help=argparse.SUPPRESS)
        a = ap.parse_intermixed_args(argv)
        self.build = os.path.abspath(a.build)
        self.san_build = os.path.abspath(os.environ.get('QEMU_EPC_SAN_BUILD',
                                                        self.build + '-san'))
        self.tsan_build = os.path.abspath(os.environ.get('QEMU_EPC_TSAN_BUILD',
                                                         self.build + '-tsan'))
        self.fuzz_time = float(os.environ.get('QEMU_EPC_FUZZ_TIME', '10'))
        self.patterns = a.pattern
        self.list_only = a.list
        self.serial = a.serial
        self.child = a.child
        self.only = [tuple(o.split(':', 1)) if ':' in o else (o, '') for o in a.only]
        self.selection = a.selection
        self.setup_kernels = a.setup_kernels

    def wanted(self, name):
        return not self.patterns or any(p in name for p in self.patterns)

    def plan(self):
        """[(suite, [(file, test name)] or [] for all of it)]."""
        out = []
        for sel in self.selection or ALL:
            suite, _, rest = sel.partition('/')
            if suite not in ALL:
                sys.exit('run.py: unknown suite or path %r (suites: %s)' % (sel, ' '.join(ALL)))
            only = []
            if rest:
                if suite in ('unit', 'fuzz'):
                    sys.exit('run.py: %s takes -k PATTERN, not a path' % suite)
                f, _, name = rest.partition(':')
                d = 'device' if suite in DEVICE_ON else suite
                if not os.path.isfile(os.path.join(TOP, 'tests', d, f)):
                    sys.exit('run.py: no file tests/%s/%s' % (d, f))
                only = [(f, name)]
            out.append((suite, only))
        return out


# ---- inside a suite's process ----------------------------------------------

class Reporter:
    """A suite's cases, written to the parent as JSON lines on the result
    pipe (QEPC_RESULT_FD); without one (run by hand), as the lines
    themselves."""

    def __init__(self, suite):
        self.suite = suite
        fd = os.environ.get('QEPC_RESULT_FD')
        self.pipe = os.fdopen(int(fd), 'w', buffering=1) if fd else None
        self.ran = 0

    def _send(self, status, name, why='', extra=''):
        self.ran += 1
        if self.pipe:
            self.pipe.write(json.dumps({'s': status, 'n': name, 'w': why, 'x': extra}) + '\n')
        elif status == 'ok':
            print('ok %s%s' % (name, extra), flush=True)
        else:
            print('not ok %s: %s' % (name, why), flush=True)

    def ok(self, name, extra=''):
        self._send('ok', name, extra=extra)

    def bad(self, name, why):
        self._send('fail', name, why)

    def listed(self, name):
        self._send('list', name)


class Result(unittest.TestResult):
    """Each test, and each failing subtest, as one case."""

    def __init__(self, rep, label):
        super().__init__()
        self.rep = rep
        self.label = label

    def startTest(self, test):
        self._t0 = time.monotonic()
        self._sub_failed = False
        super().startTest(test)

    def _name(self, test):
        return '%s/%s' % (self.label, test.id().split('.', 1)[1])

    def _time(self):
        return ' (%.1f s)' % (time.monotonic() - self._t0)

    def addSuccess(self, test):
        super().addSuccess(test)
        if not self._sub_failed:
            self.rep.ok(self._name(test), self._time())

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.rep.bad(self._name(test), self._time()[1:] + '\n' +
                     self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self.rep.bad(self._name(test), self._time()[1:] + '\n' +
                     self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.rep.bad(self._name(test), 'skipped: %s; a skip is not a pass' % reason)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._sub_failed = True
            self.rep.bad('%s %s' % (self._name(test), subtest._subDescription()),
                         '\n' + self._exc_info_to_string(err, test))


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


def load_tests(cfg, suite_dir, only):
    loader = unittest.TestLoader()
    if cfg.patterns:
        loader.testNamePatterns = ['*%s*' % p for p in cfg.patterns]
    if not only:
        return loader.discover(suite_dir, top_level_dir=suite_dir)
    found = unittest.TestSuite()
    for f, name in only:
        mod = os.path.splitext(os.path.basename(f))[0]
        found.addTests(loader.loadTestsFromName(mod + ('.' + name if name else '')))
    return found


def python_suite(cfg, rep, name, label, only):
    """unittest modules in tests/NAME, run (or listed) in this process."""
    d = os.path.join(TOP, 'tests', name)
    sys.path[:0] = [os.path.join(TOP, 'harness'), os.path.join(TOP, 'tests', 'lib'), d]
    import warnings
    warnings.simplefilter('ignore', ResourceWarning)
    try:
        suite = load_tests(cfg, d, only)
    except Exception:
        rep.bad(label, 'its tests do not load:\n' + traceback.format_exc())
        return
    # (a module that fails to import runs as a failing case of its own)
    if name == 'e2e':
        suite = KernelOrder(sorted(iter_tests(suite), key=kernel_rank))
    shard = os.environ.get('QEPC_SHARD')
    if shard and not cfg.list_only:
        k, n = map(int, shard.split('/'))
        tests = list(iter_tests(suite))
        names = ['%s/%s' % (label, t.id().split('.', 1)[1]) for t in tests]
        mine = deal(names, n, load_times(cfg))[k]
        suite = type(suite)(t for t, name in zip(tests, names) if name in mine)
    if cfg.list_only:
        for t in iter_tests(suite):
            rep.listed('%s/%s' % (label, t.id().split('.', 1)[1]))
        return
    suite.run(Result(rep, label))


def load_times(cfg):
    """{case name: seconds} from the runs before (empty if none)."""
    try:
        with open(os.path.join(cfg.build, TIMES)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def deal(names, n, times):
    """The cases (in their order) dealt out to n shards so that the shards'
    recorded times come out about even: each case, longest first, to the
    shard with the least so far (a case never timed counts as the median).
    Every shard computes the same deal from the same file."""
    known = sorted(times[x] for x in names if x in times)
    default = known[len(known) // 2] if known else 60.0
    load = [0.0] * n
    sets = [set() for _ in range(n)]
    for name in sorted(names, key=lambda x: -times.get(x, default)):
        k = load.index(min(load))
        load[k] += times.get(name, default)
        sets[k].add(name)
    return sets


def save_times(cfg, times):
    """The times of the cases that passed in this run, over the old ones."""
    if not times:
        return
    old = load_times(cfg)
    old.update(times)
    tmp = os.path.join(cfg.build, TIMES + '.tmp')
    try:
        with open(tmp, 'w') as f:
            json.dump(old, f, indent=0, sort_keys=True)
        os.replace(tmp, os.path.join(cfg.build, TIMES))
    except OSError as e:
        print('# could not keep the cases\' times: %s' % e, flush=True)


def kernel_rank(test):
    """Where an end-to-end test goes: after those whose kernels set-up
    builds earlier (its module's KERNELS; a module that failed to import
    declares none and goes first)."""
    kernels = test_kernels(test)
    return max((KERNEL_ORDER.index(k) for k in kernels), default=0)


def test_kernels(test):
    return getattr(sys.modules.get(type(test).__module__), 'KERNELS', ())


class KernelOrder(unittest.TestSuite):
    """End-to-end tests in kernel order; before the first test that boots a
    kernel other than 6.12, wait for set-up to have built it (at most an
    hour, saying so), so that a test's own time bound covers the test, not
    the build of its kernel on a cold machine.  A failed or timed-out wait
    is printed and the tests run anyway (they fail with the set-up error).
    Only a run waits: listing and dealing the cases out do not."""
    running = False

    def run(self, result, debug=False):
        self.running = True
        try:
            return super().run(result, debug)
        finally:
            self.running = False

    def __iter__(self):
        return self.in_order() if self.running else iter(self._tests)

    def in_order(self):
        ready = {'6.12'}
        for test in self._tests:
            for k in test_kernels(test) if test is not None else ():
                if k not in ready:
                    ready.add(k)
                    wait_for_kernel(k)
            yield test


def wait_for_kernel(k):
    import artefacts
    t0 = time.monotonic()
    print('# waiting up to 60 min for the %s guest kernel (set-up may still be '
          'building it)' % k, flush=True)
    try:
        if k == 'debug':
            artefacts.kernel_dir(variant='debug', timeout=3600)
        else:
            artefacts.kernel_dir(k, timeout=3600)
    except artefacts.ArtefactError as e:
        print('# the %s guest kernel is not there: %s' % (k, e), flush=True)
        return
    print('# the %s guest kernel is there after %d s' % (k, time.monotonic() - t0),
          flush=True)


def unit_cases():
    """(program, case) of the libcheck suites, from their sources."""
    for t in UNIT:
        with open(os.path.join(TOP, 'tests', 'unit', t + '.c')) as f:
            for c in re.findall(r'tcase_add_(?:loop_)?test\(\w+, (\w+)', f.read()):
                yield t, c


def unit(cfg, rep):
    """libcheck suites: one case per test from CK_VERBOSE output."""
    if cfg.list_only:
        for t, c in unit_cases():
            if cfg.wanted('unit/%s/%s' % (t, c)):
                rep.listed('unit/%s/%s' % (t, c))
        return
    for t in UNIT:
        exe = os.path.join(cfg.build, 'tests', t)
        if not os.access(exe, os.X_OK):
            rep.bad('unit/' + t, '%s is not built (./qemu-epc-bench setup)' % exe)
            continue
        try:
            p = subprocess.run([exe], capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            rep.bad('unit/' + t, 'timed out after 120 s')
            continue
        found = re.findall(r'^[^:\n]+:\d+:([PFE]):[^:]*:([^:]+):\d+:?\s*(.*)$', p.stdout, re.M)
        if not found:
            rep.bad('unit/' + t, 'no test results (exit %d)\n%s' % (p.returncode,
                                                                   p.stdout + p.stderr))
            continue
        for res, name, msg in found:
            full = 'unit/%s/%s' % (t, name)
            if not cfg.wanted(full):
                continue
            if res == 'P':
                rep.ok(full)
            else:
                rep.bad(full, msg)
        if p.returncode and all(r == 'P' for r, _, _ in found):
            rep.bad('unit/' + t, 'exit %d with every case passed' % p.returncode)


def san_build_ok(cfg, rep, suite):
    """The suite's sanitizer build exists and is one (not a skip: a
    failure)."""
    build, opt = ((cfg.tsan_build, '-Dtsan=true') if suite == 'tsan'
                  else (cfg.san_build, '-Dsanitize=true'))
    if os.path.isfile(os.path.join(build, 'qemu-epc-preload')) and \
            os.path.isfile(os.path.join(build, 'hw-misc-qemu-epc.so')):
        return True
    rep.bad(suite, 'no sanitizer build in %s (meson setup %s %s, made by '
            'scripts/setup.sh)' % (build, build, opt))
    return False


FUZZ_TARGETS = ('proto', 'epc', 'epc-fn1', 'bridge')


def fuzz(cfg, rep):
    """libFuzzer on proto/, then the device fuzz driver on each device:
    each replays its corpus, then mutates for cfg.fuzz_time seconds."""
    if cfg.list_only:
        for t in FUZZ_TARGETS:
            if cfg.wanted('fuzz/' + t):
                rep.listed('fuzz/' + t)
        return
    if not san_build_ok(cfg, rep, 'fuzz'):
        return
    limit = cfg.fuzz_time
    exe = os.path.join(cfg.san_build, 'tests', 'fuzz', 'fuzz-proto')
    if cfg.wanted('fuzz/proto'):
        if not os.access(exe, os.X_OK):
            rep.bad('fuzz/proto', '%s not built (needs clang-14 and libclang-rt-14-dev)' % exe)
        else:
            fuzz_proto(rep, exe, limit)
    for target in FUZZ_TARGETS[1:]:
        if not cfg.wanted('fuzz/' + target):
            continue
        cmd = [sys.executable, os.path.join(TOP, 'tests', 'fuzz', 'fuzz-device.py'),
               '--target', target, '--time', str(limit), '--build', cfg.san_build]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit + 300)
        except subprocess.TimeoutExpired:
            rep.bad('fuzz/' + target, 'the fuzz driver did not end %d s after its %d s'
                    % (300, limit))
            continue
        last = re.search(r'^fuzz/%s: (\d+) executions, (\d+) crashes, (\d+) reconnects, '
                         r'(\d+) corpus inputs replayed, (\d+) s$' % target, p.stdout, re.M)
        if p.returncode == 0 and last and last.group(2) == '0' and int(last.group(1)) > 0:
            rep.ok('fuzz/%s' % target, ': %s executions (%s from the corpus), 0 crashes, '
                   '%s reconnects (%s s)' % last.group(1, 4, 3, 5))
        else:
            rep.bad('fuzz/' + target, 'exit %d\n%s%s' % (p.returncode, p.stdout[-6000:],
                                                         p.stderr[-3000:]))


def fuzz_proto(rep, exe, limit):
    """The corpus replayed (every seed once), then libFuzzer mutating."""
    work = tempfile.mkdtemp(prefix='qemu-epc-fuzz-proto-')
    os.mkdir(os.path.join(work, 'corpus'))
    corpus = os.path.join(TOP, 'tests', 'fuzz', 'corpus-proto')
    try:
        p = subprocess.run([exe, '-max_total_time=%d' % max(1, int(limit)), '-seed=1',
                            '-artifact_prefix=%s/' % work, '-print_final_stats=1',
                            os.path.join(work, 'corpus'), corpus],
                           capture_output=True, text=True, timeout=limit + 120)
    except subprocess.TimeoutExpired:
        rep.bad('fuzz/proto', 'libFuzzer did not stop %d s after -max_total_time=%d'
                % (120, limit))
        return
    out = p.stderr
    runs = re.search(r'^Done (\d+) runs in (\d+) second', out, re.M)
    seeds = len(os.listdir(corpus))
    read = re.search(r'INITED .* corp: (\d+)/', out)
    arts = [f for f in os.listdir(work) if f.startswith(('crash-', 'leak-', 'timeout-', 'oom-'))]
    if p.returncode == 0 and runs and not arts:
        rep.ok('fuzz/proto', ': %s executions, %d corpus inputs replayed first, 0 crashes '
               '(%s s)' % (runs.group(1), seeds, runs.group(2)))
        shutil.rmtree(work, ignore_errors=True)
    else:
        rep.bad('fuzz/proto', 'exit %d, %s executions, %d crashes (inputs kept in %s)%s\n%s'
                % (p.returncode, runs.group(1) if runs else '?', max(1, len(arts)), work,
                   '' if read else ' (no corpus read)', '\n'.join(out.splitlines()[-40:])))


def versions(cfg, rep, only):
    """The builds against each QEMU version; then the device suite on
    Debian 12's QEMU 7.2 (its binary unpacked by scripts/qemu-tree.sh) with
    the modules built for it, in a process whose environment names that
    QEMU (the harness takes the QEMU binary from it when imported)."""
    python_suite(cfg, rep, 'versions', 'versions', only)
    if only:
        return
    label = 'versions/qemu-7.2'
    build72 = os.path.join(cfg.build, 'qemu-7.2')
    env = child_env(cfg, 'device', build72)
    try:
        with open(os.path.join(cfg.build, 'qemu-tree-bookworm')) as f:
            tree = f.read().strip()
        env.update(QEMU=os.path.join(tree, 'root', 'usr', 'bin', 'qemu-system-x86_64'),
                   QEMU_EPC_QTEST_DIR=os.path.join(tree, 'modules'))
    except OSError as e:
        if not cfg.list_only:
            rep.bad(label, 'no QEMU 7.2 tree recorded (%s): run ./qemu-epc-bench setup' % e)
            return
    if not cfg.list_only and not os.path.isfile(os.path.join(build72, 'hw-misc-qemu-epc.so')):
        rep.bad(label, 'the modules for 7.2 are not built in %s (the case '
                'test_builds_against_qemu_7_2_of_debian_12 builds them)' % build72)
        return
    n = relay_child(cfg, 'device', [], env, rep, prefix='versions/qemu-7.2/', limit=1800)
    if not cfg.list_only and not cfg.patterns:
        check_minimum(rep, label, n)


def run_child(cfg):
    """This process is one suite's (--child SUITE)."""
    suite = cfg.child
    rep = Reporter(suite)
    label = os.environ.get('QEPC_SUITE_LABEL', suite)
    if suite == 'unit':
        unit(cfg, rep)
    elif suite == 'fuzz':
        fuzz(cfg, rep)
    elif suite == 'versions':
        versions(cfg, rep, cfg.only)
    else:
        if suite in DEVICE_ON and not cfg.list_only and not san_build_ok(cfg, rep, suite):
            return 0
        python_suite(cfg, rep, 'device' if suite in DEVICE_ON else suite, label, cfg.only)
    whole = not cfg.only and not cfg.patterns and not os.environ.get('QEPC_SHARD')
    if whole and not cfg.list_only:
        check_minimum(rep, label, rep.ran)
    return 0


# ---- the parent ------------------------------------------------------------

def child_env(cfg, suite, build=None):
    """The environment of a suite's process."""
    env = dict(os.environ)
    b = build or {'sanitize': cfg.san_build, 'fuzz': cfg.san_build,
                  'tsan': cfg.tsan_build}.get(suite, cfg.build)
    env['QEMU_EPC_MODULE_DIR'] = b
    env['QEMU_EPC_BUILD'] = cfg.build if suite in ('sanitize', 'tsan', 'fuzz') else b
    env['QEPC_SUITE_LABEL'] = suite
    env.setdefault('QEMU_EPC_FUZZ_TIME', str(cfg.fuzz_time))
    return env


class Child:
    """One suite's process: its text output and its result pipe."""

    def __init__(self, cfg, suite, only, env, prefix='', nice=0):
        self.suite = suite
        self.prefix = prefix
        r, w = os.pipe()
        env = dict(env, QEPC_RESULT_FD=str(w))
        cmd = [sys.executable, os.path.abspath(__file__), env.get('QEMU_EPC_BUILD', cfg.build),
               '--child', suite]
        for f, name in only:
            cmd += ['--only', '%s:%s' % (f, name) if name else f]
        for p in cfg.patterns:
            cmd += ['-k', p]
        if cfg.list_only:
            cmd.append('--list')
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, pass_fds=(w,), env=env,
                                     preexec_fn=(lambda: os.nice(nice)) if nice else None,
                                     start_new_session=True, universal_newlines=True,
                                     errors='replace')
        os.close(w)
        self.results = os.fdopen(r, 'r')
        self.t0 = time.monotonic()
        self.ran = 0
        self.open = 2


def relay_child(cfg, suite, only, env, rep, prefix='', limit=None, nice=0):
    """Run one suite's process to its end, its results passed on to rep
    (named with prefix); returns how many it reported."""
    c = Child(cfg, suite, only, env, prefix, nice)
    sel = selectors.DefaultSelector()
    sel.register(c.proc.stdout, selectors.EVENT_READ, 'text')
    sel.register(c.results, selectors.EVENT_READ, 'results')
    while c.open:
        if limit and time.monotonic() - c.t0 > limit:
            os.killpg(c.proc.pid, 9)
            rep.bad(prefix + suite, 'killed after %d s' % limit)
            break
        for key, _ in sel.select(timeout=5):
            line = key.fileobj.readline()
            if not line:
                sel.unregister(key.fileobj)
                c.open -= 1
                continue
            if key.data == 'text':
                if line.strip():
                    print('# ' + line.rstrip('\n'), flush=True)
                continue
            r = json.loads(line)
            c.ran += 1
            if r['s'] == 'ok':
                rep.ok(prefix + r['n'], r['x'])
            elif r['s'] == 'list':
                rep.listed(prefix + r['n'])
            else:
                rep.bad(prefix + r['n'], r['w'])
    c.proc.wait()
    return c.ran


class Tally:
    """The parent's count, and the lines it prints (from either lane)."""

    def __init__(self):
        self.passed = self.failed = self.n_listed = 0
        self.lock = threading.Lock()
        self.times = {}

    def ok(self, name, extra=''):
        with self.lock:
            self.passed += 1
            m = re.fullmatch(r' \(([\d.]+) s\)', extra)
            if m:
                self.times[name] = float(m.group(1))
            print('ok %s%s' % (name, extra), flush=True)

    def bad(self, name, why):
        with self.lock:
            self.failed += 1
            # the reason's own lines indented: only result lines start a line
            print('not ok %s: %s' % (name, why.rstrip('\n').replace('\n', '\n    ')),
                  flush=True)

    def listed(self, name):
        with self.lock:
            self.n_listed += 1
            print(name, flush=True)


class KernelSetup:
    """The guest kernels' set-up, built in the background at low priority
    while the suites that need none run."""

    LIMIT = 3600
    # what scripts/setup.sh logs once the 6.12 guest kernel is built
    FIRST_READY = 'setup: the 6.12 guest kernel is ready'

    def __init__(self, cfg):
        self.log = os.path.join(cfg.build, 'setup-kernels.log')
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        print('# building the guest kernels meanwhile (%s), log in %s'
              % (cfg.setup_kernels, self.log), flush=True)
        with open(self.log, 'w') as f:
            self.proc = subprocess.Popen(cfg.setup_kernels, shell=True, stdout=f,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=lambda: os.nice(19),
                                         start_new_session=True)
        self.lock = threading.Lock()
        self.outcome = ()

    def wait_first(self):
        """None once the 6.12 kernel is ready (the others may still be
        building), else why not."""
        while self.proc.poll() is None:
            with open(self.log, errors='replace') as f:
                if any(line.startswith(self.FIRST_READY) for line in f):
                    print('# the 6.12 guest kernel: %.0f s after the start'
                          % (time.monotonic() - self.t0), flush=True)
                    return None
            if time.monotonic() - self.t0 > self.LIMIT:
                break
            time.sleep(2)
        return self.wait()

    def stop(self):
        """The selected suites are done: a set-up still building kernels
        none of them needed ends with them (a later run builds it again)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
            print('# the guest kernels\' set-up was stopped: the selected suites did '
                  'not need the kernels it was still building', flush=True)

    def wait(self):
        """None once the kernels are ready, else why not (either lane may
        ask; the answer is the same)."""
        with self.lock:
            if self.outcome == ():
                self.outcome = (self._wait(),)
            return self.outcome[0]

    def _wait(self):
        try:
            rc = self.proc.wait(max(1, self.LIMIT - (time.monotonic() - self.t0)))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
            return 'the guest kernels were not built within %d s (log %s)' % (self.LIMIT,
                                                                            self.log)
        # (the log's last write is when the set-up ended; asked later)
        try:
            ended = os.path.getmtime(self.log) - self.t0_wall
        except OSError:
            ended = time.monotonic() - self.t0
        print('# guest kernels: set-up ended %.0f s after the start (exit %d), '
              'waited for at %.0f s' % (ended, rc, time.monotonic() - self.t0), flush=True)
        if rc:
            with open(self.log, errors='replace') as f:
                tail = ''.join(f.readlines()[-15:])
            return 'setting up the guest kernels failed (exit %d, log %s):\n%s' % (
                rc, self.log, tail)
        return None


def run_suites(cfg, plan):
    """The selected suites in two lanes side by side: the suites that boot
    guests (after the kernels, at a lower priority), and the others (those
    that need no kernel first, the light ones side by side, the rest after
    the kernels).  --serial: one lane, every suite after the other.
    Returns the tally."""
    T = rep = Tally()
    if cfg.list_only:
        for suite, only in plan:
            relay_child(cfg, suite, only, child_env(cfg, suite), rep)
        return T
    kernels = None
    if cfg.setup_kernels and any(s not in NO_KERNEL for s, _ in plan):
        kernels = KernelSetup(cfg)
    if cfg.serial:
        run_lane(cfg, plan, rep, kernels)
        if kernels:
            kernels.stop()
        return T
    guests = [(s, o) for s, o in plan if s in GUESTS]
    others = [(s, o) for s, o in plan if s not in GUESTS]
    # the guests start once the qtest suites are done: beside them, at the
    # guests' lower priority, a guest's vCPU can stall for over a second,
    # longer than guest kernels wait for an interrupt (a warm run's MSI
    # case failed so)
    qtest_done = threading.Event()
    lane = threading.Thread(target=run_lane, args=(cfg, guests, rep, kernels, GUEST_NICE),
                            kwargs={'after': qtest_done})
    lane.start()
    run_lane(cfg, others, rep, kernels, light_done=qtest_done)
    lane.join()
    if kernels:
        kernels.stop()
    return T


def run_lane(cfg, plan, rep, kernels, nice=0, light_done=None, after=None):
    """One lane: the suites that need no kernel (the light ones side by
    side unless serial), then, once the kernels are there, the others in
    turn.  light_done: an event set once the light suites of this lane are
    done; after: an event this lane waits for (at most an hour) first."""
    try:
        _run_lane(cfg, plan, rep, kernels, nice, light_done, after)
    finally:
        if light_done:
            light_done.set()


def _run_lane(cfg, plan, rep, kernels, nice, light_done, after):
    first = [(s, o) for s, o in plan if s in NO_KERNEL]
    # those that need the 6.12 kernel alone before those that need them all
    then = sorted([(s, o) for s, o in plan if s not in NO_KERNEL],
                  key=lambda x: x[0] not in FIRST_KERNEL)
    if after and plan and not after.is_set():
        t0 = time.monotonic()
        print('# %s waits for the qtest suites to end (up to 60 min)'
              % ', '.join(s for s, _ in plan), flush=True)
        if not after.wait(3600):
            print('# the qtest suites did not end within 60 min; going on', flush=True)
        print('# %s starts after %.0f s' % (plan[0][0], time.monotonic() - t0), flush=True)
    light = [(s, o) for s, o in first if s in LIGHT and not cfg.serial]
    if len(light) > 1:
        run_parallel(cfg, light, rep)
        first = [x for x in first if x not in light]
    for i, item in enumerate(first + then):
        suite, only = item
        if light_done and suite not in LIGHT:
            light_done.set()
        if kernels and i >= len(first):
            why = kernels.wait_first() if suite in FIRST_KERNEL else kernels.wait()
            if why:
                for s, _ in (first + then)[i:]:
                    rep.bad(s, why)
                break
        t0 = time.monotonic()
        try:
            if SHARDS.get(suite, 1) > 1 and not cfg.serial:
                run_parallel(cfg, [item], rep, nice)
                continue
            relay_child(cfg, suite, only, child_env(cfg, suite), rep,
                        nice=max(nice, BACKGROUND_NICE) if suite in BACKGROUND else nice)
        except Exception:
            rep.bad(suite, 'the suite broke:\n' + traceback.format_exc())
        print('# %s: %.0f s' % (suite, time.monotonic() - t0), flush=True)


def run_parallel(cfg, plan, rep, nice=0):
    """Suites side by side, each in its process (a sharded one in several);
    results as they come."""
    sel = selectors.DefaultSelector()
    kids = []
    ran = {}
    for suite, only in plan:
        n = SHARDS.get(suite, 1) if not cfg.list_only else 1
        for k in range(n):
            env = child_env(cfg, suite)
            if n > 1:
                env['QEPC_SHARD'] = '%d/%d' % (k, n)
            c = Child(cfg, suite, only, env, nice=nice)
            sel.register(c.proc.stdout, selectors.EVENT_READ, (c, 'text'))
            sel.register(c.results, selectors.EVENT_READ, (c, 'results'))
            kids.append(c)
    left = len(kids)
    while left:
        for key, _ in sel.select(timeout=5):
            c, kind = key.data
            line = key.fileobj.readline()
            if not line:
                sel.unregister(key.fileobj)
                c.open -= 1
                if not c.open:
                    c.proc.wait()
                    left -= 1
                    print('# %s: %.0f s' % (c.suite, time.monotonic() - c.t0), flush=True)
                    if c.proc.returncode and not c.ran:
                        rep.bad(c.suite, 'its process exited %d and reported nothing'
                                % c.proc.returncode)
                    ran[c.suite] = ran.get(c.suite, 0) + c.ran
                continue
            if kind == 'text':
                if line.strip():
                    print('# [%s] %s' % (c.suite, line.rstrip('\n')), flush=True)
                continue
            r = json.loads(line)
            c.ran += 1
            if r['s'] == 'ok':
                rep.ok(r['n'], r['x'])
            else:
                rep.bad(r['n'], r['w'])
    # a sharded suite's count is checked here, over its processes
    whole = not cfg.patterns and not cfg.list_only
    for suite, only in plan:
        if SHARDS.get(suite, 1) > 1 and whole and not only:
            check_minimum(rep, suite, ran.get(suite, 0))


def main(argv):
    cfg = Config(argv)
    if cfg.child:
        return run_child(cfg)
    t0 = time.monotonic()
    T = run_suites(cfg, cfg.plan())
    if cfg.list_only:
        print('# %d cases' % T.n_listed)
        return 1 if T.failed else 0
    save_times(cfg, T.times)
    print('# all: %.0f s' % (time.monotonic() - t0))
    print('%d passed, %d failed' % (T.passed, T.failed))
    return 1 if T.failed or not T.passed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
