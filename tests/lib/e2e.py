# SPDX-License-Identifier: GPL-2.0-or-later
"""What the end-to-end tests add to the harness (harness/): run directories
kept under the build directory, `run` started in a process group of its own
and ended with it, guest 1 alone running a test script (tests/guest/), and
the checks every test makes of a run's output: each planned case passed by
name, skips only where expected, the totals and the verdict line."""
import collections
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import artefacts
import guests
import initramfs

TOP = artefacts.TOP
TEST_GUEST_DIR = os.path.join(TOP, 'tests', 'guest')
RUN = os.path.join(TOP, 'scripts', 'bench-run.py')


def test_rundir(prefix):
    """A fresh run directory for one end-to-end test, kept under the build
    directory so that its logs outlive the test."""
    d = os.path.join(artefacts.build_dir(), 'test-runs')
    os.makedirs(d, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix + '-', dir=d)


class Run:
    """The outcome of one scripts/bench-run.py: its output and status."""

    def __init__(self, out, rc, rundir):
        self.stdout = self.out = out
        self.returncode = rc
        self.rundir = rundir

    def tail(self, n=5000):
        return self.out[-n:]


def run_cmd(test, cmd, minutes, rundir='', env=None):
    """cmd in a process group of its own, output collected; on a timeout
    the whole group (the harness and its guests) is ended and the test
    fails naming the logs.  Returns (output, exit status)."""
    p = guests.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     universal_newlines=True, env=env)
    try:
        out, _ = p.communicate(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        guests.stop_group(p, 10)
        out, _ = p.communicate()
        test.fail('%s did not finish in %d min; its process group was ended; logs in '
                  '%s\n%s' % (' '.join(cmd[:3]), minutes, rundir, (out or '')[-4000:]))
    return out, p.returncode


def bench_run(test, args, rundir, minutes=20):
    """scripts/bench-run.py ARGS --rundir RUNDIR, bounded (see run_cmd)."""
    out, rc = run_cmd(test, [sys.executable, RUN] + list(args) + ['--rundir', rundir],
                      minutes, rundir)
    return Run(out, rc, rundir)


KTAP_LINE = re.compile(r'^(ok|not ok) (\d+) (.*?)(?: # (SKIP|TODO|XFAIL)\b ?(.*))?$', re.M)


def results(out):
    """[(status, name, reason or None)] of a run's KTAP lines; status
    'ok', 'skip', 'xfail' (with the skip's or expected failure's reason)
    or 'fail'."""
    got = []
    for m in KTAP_LINE.finditer(out):
        name = m.group(3)
        if m.group(1) == 'not ok':
            # a failed case carries its reason after " # "
            got.append(('fail', name.split(' # ', 1)[0], None))
        elif m.group(4) in ('SKIP', 'XFAIL'):
            got.append((m.group(4).lower(), name, m.group(5)))
        else:
            got.append(('ok', name.split(' # ', 1)[0], None))
    return got


def failed_with_reasons(out, before=8):
    """Each "not ok" line of a run with the "# " lines just above it (where
    the guest scripts print a case's reason), so that a long run's failure
    message leads with them whatever a log viewer cuts from its middle."""
    lines = out.splitlines()
    picked = []
    for i, line in enumerate(lines):
        if not re.match(r'\s*not ok \d+ ', line):
            continue
        j = i
        while j > 0 and i - j < before and lines[j - 1].lstrip().startswith('#'):
            j -= 1
        picked.extend(lines[j:i + 1])
    return '\n'.join(picked)


def check_run(test, r, expected, skips=(), logs=True, xfails=()):
    """The checks every e2e test makes of a run: exit status 0; the KTAP
    plan line counts the expected cases (names, in any order, with the two
    kernel-log cases of each pair when logs); every expected case passed
    by name, except the skips [(name, reason)], which are skips, and the
    expected failures [(name, reason)], which are that; nothing
    else was reported; the totals and the last line agree."""
    tail = r.tail()
    got = results(r.out)
    fails = [n for s, n, _ in got if s == 'fail']
    test.assertEqual(fails, [], 'the failed cases and their reasons:\n%s\n\nthe run\'s end:\n%s'
                     % (failed_with_reasons(r.out), r.tail(3000)) if fails else tail)
    names = collections.Counter(n for _, n, _ in got)
    want = collections.Counter(expected) + collections.Counter(n for n, _ in xfails)
    if logs:
        test.assertGreaterEqual(sum(1 for n in names if ' kernel log has no oops' in n), 2, tail)
        for n in list(names):
            if ' kernel log has no oops' in n:
                want[n] = names[n]
    test.assertEqual(names - want, collections.Counter(),
                     'cases the run reported that the test did not expect\n' + tail)
    test.assertEqual(want - names, collections.Counter(),
                     'expected cases the run did not report\n' + tail)
    test.assertEqual(sorted((n, why) for s, n, why in got if s == 'skip'), sorted(skips), tail)
    test.assertEqual(sorted((n, why) for s, n, why in got if s == 'xfail'), sorted(xfails),
                     tail)
    plan = re.findall(r'^1\.\.(\d+)$', r.out, re.M)
    test.assertEqual([int(p) for p in plan], [len(got)], tail)
    passed = len(got) - len(skips) - len(xfails)
    test.assertIn('# Totals: pass:%d fail:0 xfail:%d xpass:0 skip:%d error:0'
                  % (passed, len(xfails), len(skips)), r.out)
    last = r.out.rstrip().splitlines()[-1]
    test.assertEqual(last, 'qemu-epc-bench: PASS: %d passed, 0 failed, %d skipped%s'
                     % (passed, len(skips),
                        ', %d failed as expected' % len(xfails) if xfails else ''), tail)
    test.assertEqual(r.returncode, 0, tail)
    return got


def script_results(raw):
    """What a test script of tests/guest printed on ttyS1 (guest/lib.sh):
    (its plan, {name: status}, what is wrong or None).  Wrong: no plan, no
    QEPC-DONE, a case failed, a planned case without its result, or a
    result the plan does not have."""
    plan = [l.strip()[len('QEPC-PLAN '):] for l in raw if l.startswith('QEPC-PLAN ')]
    got = {}
    for l in raw:
        m = KTAP_LINE.match(l.strip())
        if m:
            got[m.group(3)] = 'ok' if m.group(1) == 'ok' and not m.group(4) else 'fail'
    if not plan:
        return plan, got, 'the script printed no plan'
    if not any(l.startswith('QEPC-DONE') for l in raw):
        return plan, got, 'the script did not finish: %s' % got
    bad = [n for n, s in got.items() if s != 'ok']
    if bad:
        return plan, got, 'failed: %s' % bad
    missing = [n for n in plan if n not in got]
    extra = [n for n in got if n not in plan]
    if missing or extra:
        return plan, got, 'no result for %s; unplanned %s' % (missing, extra)
    return plan, got, None


def driver_cycle_guest(kdir, ko, rundir, timeout, what, script='driver-cycle.sh',
                       more=(), env=None):
    """Guest 1 alone (qemu-epc, no peer) on the kernel in kdir with the
    driver ko (and the modules `more`), running a script of tests/guest/
    (default driver-cycle.sh) to its end, with env ({NAME: value}) as
    QEPC_NAME in its environment.  Returns the stopped Guest and its ttyS1
    lines; GuestError if it did not finish or its QEMU did not end
    cleanly."""
    mods = list(initramfs.find_modules(os.path.join(kdir, 'modules'),
                                       {'pci-epf-test'}).values())
    initrd = initramfs.build(os.path.join(rundir, 'initramfs.cpio.gz'),
                             mods + [ko] + list(more),
                             os.path.join(kdir, 'pcitest'), os.path.join(kdir, 'pcitest.sh'),
                             os.path.join(TEST_GUEST_DIR, script),
                             os.path.join(artefacts.GUEST_DIR, 'host-pcitest.sh'))
    append = 'console=ttyS0 panic=-1 qepc.role=epf qepc.wait=%d' % timeout
    append += ''.join(' qepc.env.%s=%s' % kv for kv in sorted((env or {}).items()))
    g = guests.Guest('epf', rundir, os.path.join(kdir, 'bzImage'), initrd, append,
                     ['-device', 'qemu-epc,socket=' + os.path.join(rundir, 'epc.sock')])
    try:
        g.wait_for('EPF-READY', timeout, what)
        time.sleep(0.2)
    finally:
        g.stop()
    if g.exit_problem():
        raise guests.GuestError(g.exit_problem())
    with open(g.results, errors='replace') as f:
        return g, [l.rstrip('\r\n') for l in f]
