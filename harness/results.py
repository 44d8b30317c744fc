# SPDX-License-Identifier: GPL-2.0-or-later
"""From what guest 2 prints to verdicts: the results of a run, matched to
each pair's plan by name.

A host script prints its plan first (QEPC-PLAN lines, guest/lib.sh), then
one result per case: KTAP lines ("ok N name", "not ok N name", with
"# SKIP reason" for a skip and "# XFAIL reason" for an expected failure: a
case that failed as the script knew it would, a driver's known defect that
the reason names) or, for pcitest, the wrapper's QEPC-CASE lines.
Rules, the same for every pair:
- "not ok" is a failure, whatever directive follows it; an expected
  failure is neither a pass nor a failure, and is counted as such;
- a result is matched to the plan by its name (a name planned k times takes
  k results); a result the plan does not have is an error, and a planned case
  that printed no result is a failure named after it;
- a plan the guest printed that differs from the one the harness expected
  (from the same scripts and lists on the build machine) is a failure;
- a pair whose host side passed nothing (only skips, or no case at all) has
  failed, and so has a run in which nothing passed.
"""
import collections
import re

KTAP = re.compile(r'^(ok|not ok) \d+ (.*?)(?: # (SKIP|TODO|XFAIL)\b ?(.*))?$')


class Results:
    """Every case of a run, printed as a KTAP line when it is added."""

    def __init__(self, out=None, quiet=False):
        self.cases = []         # (name, series, group, status, seconds, detail)
        self.baselines = {}     # (what, size): [seconds] measured in a guest
        self.measures = []      # (phase label, what, "value unit") from a host script
        self.out = out
        self.quiet = quiet

    def emit(self, line):
        if self.out is not None and not self.quiet:
            self.out.write(line + '\n')
            self.out.flush()

    def add(self, name, series, group, ok, secs, detail='', skip=None, xfail=None):
        """ok: passed; skip: the reason an "ok" case was skipped; xfail:
        the reason an "ok" case is an expected failure."""
        status = ('skip' if skip is not None and ok else
                  'xfail' if xfail is not None and ok else 'ok' if ok else 'fail')
        self.cases.append((name, series, group, status, secs,
                           xfail if status == 'xfail' else detail))
        n = len(self.cases)
        if status == 'skip':
            d = ' # SKIP ' + skip
        elif status == 'xfail':
            d = ' # XFAIL ' + xfail
        else:
            d = ' # ' + detail if detail else ''
        self.emit('%s %d %s%s' % ('not ok' if status == 'fail' else 'ok', n, name, d))

    def count(self, status, since=0):
        return sum(1 for c in self.cases[since:] if c[3] == status)

    def verdict(self, stopped=False):
        """(passed, the last line of the run): it passes when nothing
        failed, nothing stopped early and something passed; the line says
        how many passed, failed and were skipped (and how many failed as
        expected, when some did)."""
        ok, fail, skip = self.count('ok'), self.count('fail'), self.count('skip')
        good = not fail and not stopped and ok > 0
        line = '%d passed, %d failed, %d skipped' % (ok, fail, skip)
        if self.count('xfail'):
            line += ', %d failed as expected' % self.count('xfail')
        if not ok:
            line += ': nothing passed'
        if fail:
            names = [c[0] for c in self.cases if c[3] == 'fail']
            line += ' (failed: %s%s)' % ('; '.join(names[:3]),
                                          ', ...' if len(names) > 3 else '')
        if stopped and not fail:
            line += ' (a pair stopped early)'
        return good, 'qemu-epc-bench: %s: %s' % ('PASS' if good else 'FAIL', line)


# what setting the IRQ type to MSI-X needs on x86: vectors per CPU for
# devices (256 less the system's and the legacy range)
X86_VECTORS_PER_CPU = 200


def quoted(args):
    return args if ' test' in args else '"pcitest %s"' % args


def msix_explanation(info, args):
    """Why guest 2 could not set up MSI-X, from its QEPC-HOSTINFO line
    ({'cpus':, 'possible':, 'msix':}); args: what failed (pcitest's
    arguments, or a description)."""
    try:
        want = int(info.get('msix', '0'))
        cpus = int(info.get('cpus', '0'))
    except ValueError:
        want = cpus = 0
    if not want or not cpus:
        return ('%s failed: guest 2 could not set up MSI-X (its kernel gave no '
                'figures to explain it)' % quoted(args))
    need = -(-want // X86_VECTORS_PER_CPU)
    why = ('%s failed: the function offers %d MSI-X vectors, and guest 2\'s '
           'kernel uses %d CPUs (possible: %s); x86 has about %d vectors per CPU for '
           'devices' % (quoted(args), want, cpus, info.get('possible', '?'),
                        X86_VECTORS_PER_CPU))
    if cpus < need:
        why += (', so %d vectors need at least %d CPUs: give guest 2 more (--host-smp; '
                'a kernel built with NR_CPUS >= %d)' % (want, need, need))
    return why + '; the MSI-X cases after it are not run'


class HostRun:
    """The results of one pair's host side, line by line.

    ph: the pair's phase (planned names or None, case_name(), group(),
    kind, series); the plan the guest prints is mapped through
    ph.case_name() like its results."""

    def __init__(self, res, ph, now=0.0):
        self.res = res
        self.ph = ph
        self.first = len(res.cases)
        self.expected = list(ph.planned) if ph.planned is not None else None
        self.plan = self.expected       # what results are matched against
        self.guest_plan = None          # names the guest printed, in order
        self.remaining = collections.Counter(self.plan or [])
        self.last = now
        self.diag = []                  # '# ' lines since the last result
        self.hostinfo = {}
        self.msix_said = False
        self.done_rc = None

    # -- the plan --

    def _plan_line(self, what):
        if self.guest_plan is None:
            self.guest_plan = []
        self.guest_plan.append(self.ph.case_name(what))

    def _plan_end(self, count):
        plan = self.guest_plan or []
        if count != len(plan):
            self._fail_case('guest 2 printed its plan',
                            'QEPC-PLAN-END says %d cases, %d were listed' % (count, len(plan)))
        if self.expected is None:
            # a user's script: its own plan is the one
            self.plan = plan
            self.remaining = collections.Counter(plan)
            return
        if collections.Counter(plan) != collections.Counter(self.expected):
            missing = list((collections.Counter(self.expected) -
                            collections.Counter(plan)).elements())
            extra = list((collections.Counter(plan) -
                          collections.Counter(self.expected)).elements())
            self._fail_case('guest 2\'s plan is the one the harness expected',
                            'missing from the guest\'s: %s; not expected: %s'
                            % (missing[:3] or 'none', extra[:3] or 'none'))

    def _fail_case(self, name, detail):
        self.res.add(name, self.ph.series, 'host script', False, 0, detail)

    # -- results --

    def _result(self, name, ok, secs, detail, skip=None, group_of=None, xfail=None):
        planned = self.plan is not None
        if planned and self.remaining[name] > 0:
            self.remaining[name] -= 1
        elif planned:
            ok, skip, xfail = False, None, None
            detail = 'unplanned result (the plan has no such case%s)%s' % (
                ' left' if name in self.plan else '', '; ' + detail if detail else '')
        self.res.add(name, self.ph.series, self.ph.group(group_of or name), ok, secs,
                     detail, skip, xfail)

    def short_of_cpus(self):
        """Does guest 2 have too few CPUs for the function's MSI-X vectors?"""
        try:
            want, cpus = int(self.hostinfo['msix']), int(self.hostinfo['cpus'])
        except (KeyError, ValueError):
            return False
        return cpus * X86_VECTORS_PER_CPU < want

    def next_planned(self):
        """The first planned case without a result yet (for messages)."""
        left = collections.Counter(self.remaining)
        for name in self.plan or []:
            if left[name] > 0:
                return name
        return None

    def feed(self, line, now):
        """One line; returns None, ('error', why) or ('done', rc)."""
        ph = self.ph
        m = KTAP.match(line)
        if line.startswith('QEPC-PLAN '):
            self._plan_line(line[len('QEPC-PLAN '):])
        elif line.startswith('QEPC-PLAN-END'):
            try:
                count = int(line.split()[1])
            except (IndexError, ValueError):
                count = -1
            self._plan_end(count)
        elif line.startswith('QEPC-CASE '):
            rc, secs, args, out = (line[10:].split('|', 3) + ['', '', ''])[:4]
            ok = rc == '0' and 'NOT OKAY' not in out and 'FAILED' not in out
            detail = ''
            if rc == '126':
                detail = out.strip()
            elif not ok:
                detail = ('timed out' if rc in ('124', '143')
                          else 'exit %s: %s' % (rc, out.strip()))
            if not ok and re.search(r'(^| )-i 2$', args):
                why = msix_explanation(self.hostinfo, args)
                detail += '; ' + why
                if not self.msix_said:
                    self.res.emit('# ' + why)
                    self.msix_said = True
            try:
                took = float(secs)
            except ValueError:
                took = now - self.last
            self._result(ph.case_name(args), ok, took, detail, group_of=args)
            self.last = now
        elif m and ph.kind != 'pcitest':
            ok = m.group(1) == 'ok'
            skip = (m.group(4) or 'skipped') if m.group(3) == 'SKIP' else None
            xfail = (m.group(4) or 'expected failure') if m.group(3) == 'XFAIL' else None
            detail = ''
            if not ok:
                detail = '; '.join(self.diag[-3:])
                if m.group(2).endswith('MSIX_TEST') and self.short_of_cpus():
                    why = msix_explanation(self.hostinfo, 'the kselftest\'s MSI-X test')
                    detail += '; ' + why.replace('; the MSI-X cases after it are not run', '')
                if m.group(3):
                    detail = ('%s %s; a "not ok" is a failure whatever its directive%s'
                              % (m.group(3), m.group(4) or '', '; ' + detail if detail else ''))
            self._result(ph.case_name(m.group(2)), ok, now - self.last, detail, skip,
                         group_of=m.group(2), xfail=xfail)
            self.diag = []
            self.last = now
        elif line.startswith('# Totals: '):
            self.res.emit('# %s reports: %s' % (ph.kind, line[2:]))
        elif line.startswith('# '):
            # the host side's diagnostics: passed on, and kept for the
            # next failure's reason
            self.res.emit(line.rstrip())
            self.diag.append(line[2:].strip())
        elif line.startswith('QEPC-HOSTINFO '):
            self.hostinfo = dict(kv.split('=', 1) for kv in line.split()[1:] if '=' in kv)
        elif line.startswith('QEPC-MEASURE '):
            what, _, value = line[13:].rpartition(': ')
            self.res.emit('# %s%s: %s' % (what, ph.tag() if ph.label else
                                          ' [Linux %s]' % ph.series, value))
            self.res.measures.append((ph.label, what, value))
        elif line.startswith('QEPC-BASE '):
            what, size, secs = line.split()[1:4]
            self.res.baselines.setdefault((what, int(size)), []).append(float(secs))
        elif line.startswith('QEPC-FUNCTIONS '):
            self.res.emit('# also FUNCTION ' + line[15:])
        elif line.startswith('QEPC-BOUND'):
            # the first case's time starts when the host driver is bound
            self.res.emit('# host driver: ' + line[11:])
            self.last = now
        elif line.startswith('QEPC-ERROR'):
            return ('error', line[11:])
        elif line.startswith('QEPC-HOST-DONE'):
            self.done_rc = line.split('rc=', 1)[-1].strip()
            return ('done', self.done_rc)
        return None

    def finish(self, stopped=None):
        """After the host side ended (or stopped early: why): planned cases
        without a result fail by name, and a host side that passed nothing
        fails.  Returns the number of host cases that passed."""
        mine = self.res.cases[self.first:]
        for name in self.plan or []:
            if self.remaining[name] > 0:
                self.remaining[name] -= 1
                self._fail_case_named(name, 'not run: ' + (stopped or 'no result printed'))
        mine = self.res.cases[self.first:]
        passed = sum(1 for c in mine if c[3] == 'ok')
        if not mine:
            self._fail_case('host side printed test results',
                            'no case at all (exit status %s)' % self.done_rc)
        elif self.done_rc not in (None, '0') and not any(c[3] == 'fail' for c in mine):
            self._fail_case('host side exit status is 0', 'exit status %s' % self.done_rc)
        elif not passed and not stopped and not any(c[3] == 'fail' for c in mine):
            # only skips: nothing failed, and nothing was shown to work
            xfails = sum(1 for c in mine if c[3] == 'xfail')
            self._fail_case('host side passed at least one case',
                            'nothing passed: %d skipped%s' % (
                                sum(1 for c in mine if c[3] == 'skip'),
                                ', %d failed as expected' % xfails if xfails else ''))
        return passed

    def _fail_case_named(self, name, detail):
        self.res.add(name, self.ph.series, self.ph.group(self.ph.case_what(name)), False, 0,
                     detail)
