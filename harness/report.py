# SPDX-License-Identifier: GPL-2.0-or-later
"""What `qemu-epc-bench run` prints after the KTAP stream: the summary table
(one row per series and group), and for the bench its tables of figures.
A bench table whose row has no figure (a failed run, a missing
measurement) says "failed" there and makes the bench fail."""
import re

import timing
from cases import BENCH_SIZES, VNTB_BENCH_MIB


def summary(res, out, rundir, elapsed):
    rows = []
    stats = {}
    # an expected-failure column when the run has such cases
    cols = ['ok', 'fail', 'skip'] + (['xfail'] if res.count('xfail') else [])
    heads = {'ok': 'pass', 'fail': 'fail', 'skip': 'skip', 'xfail': 'xfail'}
    for name, series, group, status, secs, _ in res.cases:
        key = (series, group)
        if key not in stats:
            rows.append(key)
            stats[key] = dict({c: 0 for c in cols}, secs=0.0)
        stats[key][status] += 1
        stats[key]['secs'] += secs
    out.write('\n%-7s %-22s' % ('series', 'group') + ''.join(' %6s' % heads[c] for c in cols)
              + ' %9s\n' % 'time (s)')
    # series in the order they ran, each one's kernel-log checks last
    order = []
    for series, _ in rows:
        if series not in order:
            order.append(series)
    rows.sort(key=lambda k: (order.index(k[0]), k[1] == 'kernel logs'))
    for key in rows:
        s = stats[key]
        out.write('%-7s %-22s' % (key[0] or '-', key[1]) + ''.join(' %6d' % s[c] for c in cols)
                  + ' %9.1f\n' % s['secs'])
    out.write('%-7s %-22s' % ('', 'total') + ''.join(' %6d' % res.count(c) for c in cols)
              + ' %9.1f\n' % elapsed)
    out.write('logs: %s\n' % rundir)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


BENCH_CASE = re.compile(r'pcitest (-d )?-([rwcb]) (?:-s )?(\d+) \[(.*)\]$')
PATHS = {('shared', False): 'shared, no DMA', ('messages', False): 'messages, no DMA',
         ('shared', True): 'DMA, slave channel',
         ('shared, memcpy DMA', True): 'DMA, memcpy channel'}
def bench_rows(sizes=BENCH_SIZES):
    """The rows the bench has: every op and size on each path."""
    return [(op, n, path) for op in 'rwc' for n in sizes
            for path in ('shared, no DMA', 'messages, no DMA',
                         'DMA, memcpy channel' if op == 'c' else 'DMA, slave channel')]


BENCH_ROWS = bench_rows()


def bench_table(res, rtt, out, runs, sizes=BENCH_SIZES):
    """Every transfer of the bench pairs: min and median of its runs, MB/s,
    against the memcpy baseline of the same run; the BAR tests' time; the
    shared path against DMA; then the vNTB and NVMe tables.  A row with a
    failed or missing run has no figures, and no ratio is computed from it.
    Returns whether every row of every table has its figures."""
    rows, bars = {}, {}
    for name, _, _, status, secs, _ in res.cases:
        m = BENCH_CASE.match(name)
        if not m:
            continue
        dma, op, n, label = bool(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
        if op == 'b':
            sets = bars.setdefault(label, [])
            if n == 0:
                sets.append([])
            if sets:
                sets[-1].append(secs if status == 'ok' else None)
            continue
        rows.setdefault((op, n, PATHS.get((label, dma), label)), []).append(
            secs if status == 'ok' else None)

    def stats(xs):
        return None if not xs or None in xs or len(xs) < runs else (min(xs), median(xs))

    complete = True
    ops = {'r': 'read', 'w': 'write', 'c': 'copy'}
    out.write('\npcitest transfers in guest 2, %d runs each (monotonic clock; '
              'MB = 10^6 bytes; x memcpy: median time over guest 2\'s memcpy of '
              'the same size)\n' % runs)
    out.write('%-6s %8s %-20s %9s %10s %9s %10s\n' % ('op', 'bytes', 'path', 'min (s)',
                                                    'median (s)', 'MB/s', 'x memcpy'))
    table = {}
    want = bench_rows(sizes)
    for (op, n, path) in want + sorted(set(rows) - set(want)):
        st = stats(rows.get((op, n, path)))
        if not st:
            out.write('%-6s %8d %-20s   failed\n' % (ops[op], n, path))
            complete = False
            continue
        table[(op, n, path)] = st[1]
        base = res.baselines.get(('memcpy', n))
        x = '%10.1f' % (st[1] / median(base)) if base and median(base) > 0 else '%10s' % '-'
        out.write('%-6s %8d %-20s %9.4f %10.4f %9.1f %s\n'
                  % (ops[op], n, path, st[0], st[1], n / st[1] / 1e6, x))
    out.write('\nBAR tests (pcitest -b 0..5, six in a row), %d runs\n' % runs)
    out.write('%-20s %9s %10s\n' % ('path', 'min (s)', 'median (s)'))
    for label in ('messages', 'shared'):
        st = stats([sum(r) if len(r) == 6 and None not in r else None
                    for r in bars.get(label, [])])
        if not st:
            complete = False
        out.write('%-20s %s\n' % (label, '%9.3f %10.3f' % st if st else '  failed'))
    complete &= vntb_table(res, out, runs)
    complete &= ntb_perf_line(res, out)
    complete &= nvme_table(res, out, runs)
    base = ', '.join('%d B %.6f s (%.0f MB/s)' % (n, median(v), n / median(v) / 1e6)
                     for (w, n), v in sorted(res.baselines.items()) if w == 'memcpy')
    if not base or not rtt:
        complete = False
    out.write('\nbaselines of this run: memcpy in guest 2 (median of %d): %s; '
              'Unix socket round trip, 32 bytes: %s\n'
              % (runs, base or 'none measured',
                 'median %.1f us, min %.1f us' % rtt if rtt else 'not measured'))
    for n in sizes:
        sp = []
        for op in 'rwc':
            a, b = table.get((op, n, 'messages, no DMA')), table.get((op, n, 'shared, no DMA'))
            sp.append('%s %s' % (ops[op], '%.1fx' % (a / b) if a and b else 'failed'))
        out.write('shared path speed-up over messages, %d B, median: %s\n' % (n, ', '.join(sp)))
    vals = []
    for op in 'rwc':
        dma = table.get((op, sizes[0], 'DMA, memcpy channel' if op == 'c'
                         else 'DMA, slave channel'))
        shared = table.get((op, sizes[0], 'shared, no DMA'))
        vals.append('%.3f' % (shared / dma) if shared and dma else 'failed')
    out.write('shared/DMA time ratio, %s, median: read %s write %s copy %s\n'
              % ((size_name(sizes[0]),) + tuple(vals)))
    return complete and 'failed' not in vals


def size_name(n):
    return '%d MiB' % (n >> 20) if n % (1 << 20) == 0 else '%d B' % n


def _figures(res, prefix):
    """{(path, what): [values]} of the bench pairs labelled PREFIX PATH,
    and the paths one of whose checks failed."""
    figs, bad = {}, set()
    for label, what, value in res.measures:
        if label and label.startswith(prefix + ' '):
            try:
                figs.setdefault((label.split()[-1], what), []).append(float(value.split()[0]))
            except (ValueError, IndexError):
                bad.add(label.split()[-1])
    for _, _, group, status, _, _ in res.cases:
        if group.startswith(prefix + ' ') and status != 'ok':
            bad.add(group.rsplit('(', 1)[-1].rstrip(')'))
    return figs, bad


NVME_PHASES = 'nvme phases 4k read QD1'  # guest/host-nvme.sh's timing names
NVME_CPU = 'nvme cpu per read 4k QD32'

NVME_JOBS = tuple((what % qd, unit) for qd in (1, 32)
                  for what, unit in (('rand read 4k QD%d', 'IOPS'),
                                     ('rand write 4k QD%d', 'IOPS'),
                                     ('seq read 128k QD%d', 'MB/s')))


def nvme_table(res, out, runs):
    """The NVMe pairs of the bench: fio's 4 KiB IOPS and 128 KiB MB/s at
    queue depth 1 and 32 on the drive per path, beside the same jobs on a
    ramdisk of guest 2; min and median of the runs; a path whose checks
    failed has no figures.  Returns whether every row has its figures."""
    figs, bad = _figures(res, 'nvme')
    complete = True
    cpus = []
    for guest in (1, 2):
        n = [v for (_, what), vs in figs.items() if what == 'nvme vCPUs, guest %d' % guest
             for v in vs]
        cpus.append(('%d vCPU' % n[0] + 's' * (n[0] != 1)) if n and min(n) == max(n)
                    else 'unknown vCPUs')
    out.write('\nNVMe drive (nvmet-pci-epf over a ramdisk of guest 1, nvme in guest 2, '
              'Linux 7.3; guest 1 %s, guest 2 %s), fio, one job, io_uring at queue '
              'depth QD, O_DIRECT, %d runs; ramdisk: the same jobs on a ramdisk of guest 2\n'
              % (cpus[0], cpus[1], runs))
    out.write('%-9s %-22s %12s %12s %5s %10s\n'
              % ('path', 'what', 'min', 'median', 'unit', 'x ramdisk'))
    for path in ('shared', 'messages'):
        for what, unit in NVME_JOBS:
            xs = figs.get((path, 'nvme fio %s, drive' % what))
            ram = figs.get((path, 'nvme fio %s, ramdisk' % what))
            if path in bad or not xs or len(xs) < runs or not ram or len(ram) < runs:
                out.write('%-9s %-22s   failed\n' % (path, what))
                complete = False
                continue
            out.write('%-9s %-22s %12.2f %12.2f %5s %10.3f\n'
                      % (path, what, min(xs), median(xs), unit, median(xs) / median(ram)))
    out.write('\nWhere a 4 KiB read at QD1 spends its time on the devices\' path, from their '
              'trace events with the host\'s clock (harness/timing.py), median us of the '
              'round trips of each run; min and median of the runs\n')
    out.write('%-9s %-22s %12s %12s %5s %10s\n'
              % ('path', 'phase', 'min', 'median', 'unit', 'share'))
    for path in ('shared', 'messages'):
        got = {p: figs.get((path, '%s: %s' % (NVME_PHASES, p))) for p in timing.PHASES}
        total = sum(median(xs) for xs in got.values() if xs)
        for p, xs in got.items():
            if path in bad or not xs or len(xs) < runs:
                out.write('%-9s %-22s   failed\n' % (path, p))
                complete = False
                continue
            out.write('%-9s %-22s %12.1f %12.1f %5s %10.3f\n'
                      % (path, p, min(xs), median(xs), 'us', median(xs) / total))
    out.write('\nHost CPU per 4 KiB read at QD32, us (median of the runs): each QEMU\'s '
              'vCPU threads and its other threads, from /proc during the fio job\n')
    out.write('%-9s %-8s %10s %10s %10s %10s %10s\n'
              % ('path', 'target', 'g1 vCPUs', 'g1 other', 'g2 vCPUs', 'g2 other', 'total'))
    for path in ('shared', 'messages'):
        for where in ('drive', 'ramdisk'):
            got = [figs.get((path, '%s, %s: %s %s' % (NVME_CPU, where, guest, what)))
                   for guest, _, what in timing.CPU]
            if path in bad or any(not xs or len(xs) < runs for xs in got):
                out.write('%-9s %-8s   failed\n' % (path, where))
                complete = False
                continue
            meds = [median(xs) for xs in got]
            out.write('%-9s %-8s %10.1f %10.1f %10.1f %10.1f %10.1f\n'
                      % ((path, where) + tuple(meds) + (sum(meds),)))
    return complete


VNTB_ROWS = (('tcp guest 2 to guest 1', 'vntb tcp guest 2 to guest 1', 'MB/s'),
             ('tcp guest 1 to guest 2', 'vntb tcp guest 1 to guest 2', 'MB/s'),
             ('iperf3 guest 2 to guest 1', 'vntb iperf3 guest 2 to guest 1', 'MB/s'),
             ('iperf3 guest 1 to guest 2', 'vntb iperf3 guest 1 to guest 2', 'MB/s'),
             ('ping guest 2 to guest 1', 'vntb ping guest 2 to guest 1, 100 packets, rtt avg',
              'ms'),
             ('ping guest 1 to guest 2', 'vntb ping guest 1 to guest 2, 100 packets, rtt avg',
              'ms'))


NTB_PERF = (('guest 2 to guest 1', "ntb_perf: handshake, guest 2 writes guest 1's window"),
            ('guest 1 to guest 2', "ntb_perf: guest 1 writes guest 2's window"))


def ntb_perf_line(res, out):
    """ntb_perf's figures from the bench's NTB client pair (one run each
    way, as ntb_perf itself measures).  Returns whether both are there."""
    figs = {what: value for _, what, value in res.measures}
    got = [(way, figs.get(what)) for way, what in NTB_PERF]
    out.write('ntb_perf over pci-epf-vntb (Linux 6.12, shared path, one run): %s\n'
              % ', '.join('%s %s' % (way, v or 'failed') for way, v in got))
    return all(v for _, v in got)


def vntb_table(res, out, runs):
    """The vNTB pairs of the bench: TCP throughput each way and ping round
    trips, min and median of the runs, per path; a path with a failed check
    has no figures.  Returns whether every row has its figures."""
    figs, bad = _figures(res, 'vntb')
    complete = True
    out.write('\nvNTB network (ntb_netdev over pci-epf-vntb, Linux 6.12), %d runs each; '
              'TCP: a file each way, checksummed (its size is in the case names); '
              'iperf3; ping: average round trip of 100\n' % runs)
    out.write('%-9s %-24s %10s %10s %5s\n' % ('path', 'what', 'min', 'median', 'unit'))
    med = {}
    for path in VNTB_BENCH_MIB:
        for name, what, unit in VNTB_ROWS:
            xs = figs.get((path, what))
            if path in bad or not xs or len(xs) < runs:
                out.write('%-9s %-24s   failed\n' % (path, name))
                complete = False
                continue
            med[(path, name)] = median(xs)
            out.write('%-9s %-24s %10.2f %10.2f %5s\n' % (path, name, min(xs), median(xs), unit))
    sp = []
    for name, _, unit in VNTB_ROWS:
        a, b = med.get(('shared', name)), med.get(('messages', name))
        if a and b:
            sp.append('%s %.1fx' % (name, a / b if unit == 'MB/s' else b / a))
        else:
            sp.append('%s failed' % name)
    out.write('vNTB shared path over messages, median: %s\n' % ', '.join(sp))
    return complete
