# SPDX-License-Identifier: GPL-2.0-or-later
"""The case catalogue: which cases each guest pair runs, by name, and the
summary group of each.

The names come from where the cases are defined: pcitest.sh's invocations
(found by running it with a pcitest that only prints them), the kselftest's
own listing (-l), and the host scripts of guest/, which declare their cases
with `plan` (guest/lib.sh) and are run here in plan-only mode.  The guest
prints the same plan before it runs anything, and the harness matches each
result to the plan by name (scripts/bench-run.py)."""
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from artefacts import GUEST_DIR, ArtefactError, build_dir

SIZES = (1, 1024, 1025, 1024000, 1024001)     # pcitest.sh's transfer sizes
BENCH_SIZE = 1 << 20
# the largest transfer pcitest makes: pci_endpoint_test allocates size +
# its 4 KiB alignment with kmalloc, at most 4 MiB in the guest kernels
BENCH_MAX = (4 << 20) - 4096
BENCH_RUNS = 5
# the bench's vNTB transfers: MiB each way on the shared path, and through
# messages (where each access is a socket round trip)
VNTB_BENCH_MIB = {'shared': 64, 'messages': 1}


def _dma(ops, sizes=SIZES):
    return ['-d -%s -s %d' % (op, n) for op in ops for n in sizes]


# What the default host script runs in guest 2 for qepc.suite=NAME, after
# the kernel's pcitest.sh for "full".  pci-epf-test (6.12) moves data with
# private slave channels for read and write, but copies with DMA only over
# a memcpy channel: the "memcpy" suites run with the driver's
# slave_dma=0, where it takes the memcpy path for all three.
SUITES = {
    'full': _dma('rw'),
    'memcpy': ['-i 1'] + _dma('rwc'),
}

# run --functions N: what guest/epf-test.sh gives function K (pci-epf-test
# configfs attributes), and the pcitest cases run against each function's
# /dev/pci-endpoint-test.K.  Function 0 is the default one; the others get
# another ID pci_endpoint_test knows (TI DRA72x, then DRA74x again with other
# subsystem IDs), INTB/C/D, fewer MSI and MSI-X vectors and another class.
FUNCTION_SETUP = [
    # (device ID, MSI vectors, MSI-X vectors, interrupt pin)
    (0xb500, 32, 2048, 1), (0xb501, 8, 64, 2), (0xb500, 4, 16, 3),
    (0xb501, 2, 8, 4), (0xb500, 1, 4, 1), (0xb501, 1, 2, 2),
    (0xb500, 1, 1, 3), (0xb501, 1, 1, 4),
]

# on 7.3 the pci_endpoint kselftest runs against each function unchanged: it
# tests every MSI and MSI-X vector up to 32 and 2048 (and skips from the
# first one a function lacks), so there every function offers all of them
FUNCTION_SETUP_KSELFTEST = [(dev, 32, 2048, pin) for dev, _, _, pin in FUNCTION_SETUP]


def function_cases(k):
    """pcitest.sh's kinds of case against function k: every BAR, INTx, the
    first, second and last MSI and MSI-X vector, read/write/copy of
    pcitest.sh's sizes, and DMA read and write."""
    _, msi, msix, _ = FUNCTION_SETUP[k]
    d = '-D /dev/pci-endpoint-test.%d ' % k
    return ([d + '-b %d' % b for b in range(6)] + [d + '-i 0', d + '-l', d + '-i 1'] +
            [d + '-m %d' % v for v in sorted({1, 2, msi})] + [d + '-i 2'] +
            [d + '-x %d' % v for v in sorted({1, 2, msix})] + [d + '-i 1'] +
            [d + '-%s -s %d' % (op, n) for op in 'rwc' for n in SIZES] +
            [d + '-d -%s -s %d' % (op, n) for op in 'rw' for n in SIZES])


def functions_suite(n):
    return [c for k in range(n) for c in function_cases(k)]


def beside_cases():
    """run --epf vntb --functions 2: the pcitest cases against function 1,
    a pci-epf-test beside pci-epf-vntb (function 0), its only
    /dev/pci-endpoint-test (so without -D).  The controller's BARs 0, 2 and
    4 are 64-bit only for ntb_hw_epf, so pci-epf-test has those three."""
    return [c.replace('-D /dev/pci-endpoint-test.1 ', '') for c in function_cases(1)
            if '-b ' not in c or c.endswith(('-b 0', '-b 2', '-b 4'))]


BENCH_SIZES = (BENCH_SIZE, BENCH_MAX)


def bench_suites(runs=BENCH_RUNS, sizes=BENCH_SIZES):
    """The suites of `qemu-epc-bench bench`: each transfer of each size
    `runs` times, then the BAR tests as many times; on the shared path,
    through messages (shmem off), and with DMA (copy over a memcpy
    channel).  "!" lines run the memcpy baseline of each size in guest 2."""
    rep = range(runs)
    bars = ['-b %d' % b for _ in rep for b in range(6)]
    return {
        'bench-shared': ['-i 1'] + ['!qepc-memcpy %d %d' % (n, runs) for n in sizes] +
                        ['-%s -s %d' % (op, n) for n in sizes for op in 'rwc' for _ in rep] +
                        ['-d -%s -s %d' % (op, n) for n in sizes for op in 'rw' for _ in rep] +
                        bars,
        'bench-memcpy': ['-i 1'] + ['-d -c -s %d' % n for n in sizes for _ in rep],
        'bench-messages': ['-i 1'] + ['-%s -s %d' % (op, n) for n in sizes
                                      for op in 'rwc' for _ in rep] + bars,
    }


def _plan_key(script, env, files):
    """What a script's plan depends on: the script, lib.sh, the environment
    and the files given."""
    h = hashlib.sha256()
    for path in (script, os.path.join(GUEST_DIR, 'lib.sh')):
        with open(path, 'rb') as f:
            h.update(f.read())
    h.update(repr(sorted((env or {}).items())).encode())
    for name, what in sorted((files or {}).items()):
        h.update(name.encode())
        if isinstance(what, (list, tuple)):
            h.update('\n'.join(what).encode())
        else:
            with open(what, 'rb') as f:
                h.update(f.read())
    return h.hexdigest()[:24]


def script_plan(script, env=None, files=None):
    """The cases a guest script plans (guest/lib.sh `plan`), in order: the
    script run here with QEPC_PLAN_ONLY, its QEPC_* environment as the
    guest would have it (env: {NAME: value} without the prefix) and a share
    directory holding lib.sh and `files` ({name in the share: text or the
    path of a file}).  Kept in BUILD/plans, keyed by all of that."""
    cache = os.path.join(build_dir(), 'plans', _plan_key(script, env, files))
    try:
        with open(cache) as f:
            return f.read().splitlines()
    except OSError:
        pass
    plan = _run_plan(script, env, files)
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache + '.new', 'w') as f:
        f.write(''.join(l + '\n' for l in plan))
    os.replace(cache + '.new', cache)
    return plan


def _run_plan(script, env, files):
    share = tempfile.mkdtemp(prefix='qepc-plan-')
    try:
        shutil.copy(os.path.join(GUEST_DIR, 'lib.sh'), share)
        for name, what in (files or {}).items():
            dest = os.path.join(share, name)
            if isinstance(what, (list, tuple)):
                with open(dest, 'w') as f:
                    f.write(''.join(l + '\n' for l in what))
            else:
                shutil.copy(what, dest)
        e = dict(os.environ, QEPC_PLAN_ONLY='1', QEPC_SHARE=share)
        e.update({'QEPC_' + k: str(v) for k, v in (env or {}).items()})
        r = subprocess.run(['sh', script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, env=e, timeout=60)
    finally:
        shutil.rmtree(share, ignore_errors=True)
    plan = [l[len('QEPC-PLAN '):] for l in r.stdout.splitlines()
            if l.startswith('QEPC-PLAN ')]
    end = [l for l in r.stdout.splitlines() if l.startswith('QEPC-PLAN-END ')]
    if r.returncode or len(end) != 1 or int(end[0].split()[1]) != len(plan):
        raise ArtefactError('%s printed no plan (exit %d):\n%s%s'
                            % (script, r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return plan


def pcitest_plan(pcitest_sh, suite, cases):
    """The pcitest invocations guest/host-pcitest.sh runs for a suite:
    pcitest.sh's for "full", then the suite's list (cases)."""
    files = {'cases-' + suite: cases}
    if pcitest_sh:
        files['pcitest.sh'] = pcitest_sh
    return script_plan(os.path.join(GUEST_DIR, 'host-pcitest.sh'), {'SUITE': suite}, files)


def kselftest_plan(suite, lists, functions=1):
    """The cases guest/host-kselftest.sh runs: lists is {'' or '.fnK':
    [kselftest options]}, the suite's list and the functions' own."""
    files = {'cases-' + suite + k: v for k, v in lists.items()}
    return script_plan(os.path.join(GUEST_DIR, 'host-kselftest.sh'),
                       {'SUITE': suite, 'FUNCTIONS': functions}, files)


def vntb_plan(mib=64, beside=None, suite='vntb', measure_only=False, seconds=5,
              topology=None):
    """The checks of guest/host-vntb.sh, and with beside (pcitest cases of
    a pci-epf-test beside vNTB) those too, where it runs them; measure_only:
    the bench's figures only; seconds: of each iperf3; topology 'ntb': the
    three-guest run's (run --epf ntb)."""
    env = {'MIB': mib, 'SUITE': suite, 'SECONDS': seconds}
    if measure_only:
        env['MEASURE_ONLY'] = 1
    if topology:
        env['TOPOLOGY'] = topology
    files = {}
    if beside is not None:
        files = {'host-beside.sh': os.path.join(GUEST_DIR, 'host-beside.sh'),
                 'cases-' + suite: beside}
    return script_plan(os.path.join(GUEST_DIR, 'host-vntb.sh'), env, files)


def ntb_clients_plan(topology=None):
    """The checks of guest/host-ntb-clients.sh (topology 'ntb': over the
    three guests of run --epf ntb)."""
    return script_plan(os.path.join(GUEST_DIR, 'host-ntb-clients.sh'),
                       {'TOPOLOGY': topology} if topology else None)


def nvme_plan(measure_only=False):
    """The checks of guest/host-nvme.sh (measure_only: the bench's figures
    only)."""
    return script_plan(os.path.join(GUEST_DIR, 'host-nvme.sh'),
                       {'MEASURE_ONLY': 1} if measure_only else {})


def kselftest_cases(binary):
    """The cases of a kselftest_harness binary, in the order it runs them
    ("fixture.variant.test"), from its own -l listing: a table of fixture,
    variant and test columns, one section per fixture."""
    out = subprocess.run([binary, '-l'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=60).stdout
    lines = out.splitlines()
    head = next((l for l in lines if 'FIXTURE' in l and 'VARIANT' in l), None)
    if head is None:
        raise ArtefactError('%s -l printed no table:\n%s' % (binary, out))
    vcol, tcol = head.index('VARIANT'), head.index('TEST')
    sections, cur = [], None
    for l in lines:
        if l is head or not l.strip():
            continue
        if l.startswith('---'):
            cur = None
            continue
        fixture, variant, test = l[:vcol].strip(), l[vcol:tcol].strip(), l[tcol:].strip()
        if fixture:
            cur = (fixture, [], [])
            sections.append(cur)
        if cur is None:
            continue
        if variant:
            cur[1].append(variant)
        if test:
            cur[2].append(test)
    return ['.'.join(x for x in (f, v, t) if x)
            for f, variants, tests in sections for v in (variants or ['']) for t in tests]


# ---- summary groups --------------------------------------------------------

def kselftest_group(case):
    """Summary-table group of a pci_endpoint kselftest case ("fnK CASE":
    of function K, run --functions)."""
    fn = ''
    if re.match(r'fn\d+ ', case):
        fn, case = case.split(' ', 1)
        fn += ' '
    test = case.rsplit('.', 1)[-1]
    dma = ' (DMA)' if '.dma.' in case else ''
    return fn + {'BAR_TEST': 'BAR', 'CONSECUTIVE_BAR_TEST': 'BAR',
                 'BAR_SUBRANGE_TEST': 'BAR subrange', 'LEGACY_IRQ_TEST': 'INTx',
                 'MSI_TEST': 'MSI', 'MSIX_TEST': 'MSI-X', 'READ_TEST': 'read' + dma,
                 'WRITE_TEST': 'write' + dma, 'COPY_TEST': 'copy' + dma,
                 'DOORBELL_TEST': 'doorbell'}.get(test, 'other')


def vntb_group(case):
    """The summary row of a vNTB check."""
    for client in ('ntb_perf', 'ntb_tool', 'ntb_pingpong'):
        if case.startswith(client + ':'):
            return client
    kind = 'ntb' if case.startswith('ntb ') else 'vntb'
    for word in ('ping', 'tcp', 'iperf3', 'link down'):
        if word in case:
            return kind + ' ' + word
    return kind + ' set-up'


def nvme_group(case):
    """The summary row of an NVMe check."""
    for word in ('fio', 'link down', 'filesystem', 'DMA'):
        if word in case:
            return 'nvme ' + word
    return 'nvme I/O' if 'MiB' in case else 'nvme set-up'


def case_group(args, dma_mode='slave'):
    """Summary-table group of a pcitest invocation."""
    a = args.split()
    dma = (' (DMA)' if dma_mode == 'slave' else ' (DMA memcpy)') if '-d' in a else ''
    # a case against one function of several: its group is the function's
    fn = ''
    if '-D' in a and a.index('-D') + 1 < len(a):
        fn = 'fn%s ' % a[a.index('-D') + 1].rsplit('.', 1)[-1]
    for opt, name in (('-b', 'BAR'), ('-l', 'INTx'), ('-m', 'MSI'),
                      ('-x', 'MSI-X'), ('-i', 'set IRQ type'),
                      ('-r', 'read'), ('-w', 'write'), ('-c', 'copy')):
        if opt in a:
            return fn + name + dma
    return fn + 'other'
