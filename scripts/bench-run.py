#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-epc-bench run: boot guest 1 (qemu-epc, pcie-qemu-ep, an EPF) and
guest 2 (epf-bridge, the host driver), run the host-side suite, print KTAP
and a summary table, and last a line with the verdict and how many cases
passed, failed and were skipped.  Exit status 0 only if every case passed
or was skipped, something passed and no pair stopped early; a "not ok" is a
failure whatever its directive, and results are matched to each pair's plan
by name (planned cases without a result fail by name).

By default four guest pairs run in turn.  On Linux 6.12, pci-epf-test
against the kernel's pcitest.sh: the first pair with pcie-qemu-ep's slave
DMA channels (pcitest.sh, then pcitest -d read and write), the second with
memcpy channels only (slave_dma=0: pcitest -d read, write and copy, the
path pci-epf-test takes for copy).  On Linux 7.3, the kernel's own
pci_endpoint kselftest: every case but the DMA copy with slave channels
(doorbell and BAR subranges included), then the DMA cases with memcpy
channels.  --series runs one series only; --kernel runs your own kernel
with the suite its version calls for.  --epf picks another endpoint
function, --functions several functions on one controller, --bench the
bench's pairs (what `qemu-epc-bench bench` runs)."""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, 'harness'))
import artefacts     # noqa: E402
import capture       # noqa: E402
import cases         # noqa: E402
import guests        # noqa: E402
import initramfs     # noqa: E402
import phases as P   # noqa: E402
import report        # noqa: E402
import timing        # noqa: E402
from results import HostRun, Results  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(prog='qemu-epc-bench run', description=__doc__)
    p.add_argument('--series', choices=artefacts.SERIES + ('all',), default='all',
                   help='which of the project\'s guest kernels to run: 6.12 (pcitest.sh '
                   'and the DMA cases), 7.3 (the pci_endpoint kselftest) or all '
                   '(default); not with --kernel')
    p.add_argument('--epf', choices=('test', 'vntb', 'nvme', 'ntb', 'mhi'), default='test',
                   help='the endpoint function of the project\'s pairs: test '
                   '(pci-epf-test against pcitest.sh or the kselftest, default) or '
                   'vntb (pci-epf-vntb in guest 1, ntb_hw_epf in guest 2, a network '
                   'between them through ntb_transport and ntb_netdev: ping, TCP '
                   'transfers with checksums, link down and up; then the kernel\'s NTB '
                   'test clients ntb_perf, ntb_tool and ntb_pingpong in a pair of '
                   'their own) or nvme (Linux 7.3 '
                   'only: nvmet-pci-epf in guest 1 serving a ramdisk, the nvme driver '
                   'in guest 2: data and filesystem round trips, fio with verify, '
                   'link down and up idle and during I/O) or ntb (Linux 7.3 only, '
                   'three guests: pci-epf-ntb in guest 1 across two qemu-epc '
                   'controllers, ntb_hw_epf in guests 2 and 3, a network between '
                   'them: ping, TCP with checksums, iperf3, each host\'s link down '
                   'and up; then ntb_perf, ntb_tool and ntb_pingpong on three '
                   'guests of their own) or mhi (Linux 7.3 only: pci-epf-mhi in '
                   'guest 1 on a qemu-epc with its MHI register block, the MHI host '
                   'stack in guest 2: mission mode and M0, the channels listed, an MHI '
                   'reset, link down and up, the configurations with and without DMA)')
    p.add_argument('--kernel', help='guest kernel image for both guests '
                   '(default: the project\'s kernels, built by setup)')
    p.add_argument('--modules', metavar='DIR', help='directory of .ko files for '
                   'the guests (with --kernel: your pcie-qemu-ep.ko, EPF and host '
                   'drivers built for that kernel); every .ko below DIR goes in '
                   '/lib/modules of the image')
    p.add_argument('--kselftest', metavar='PATH', help='with --kernel of Linux 6.14 or '
                   'later: your build of the pci_endpoint kselftest to run in guest 2 '
                   '(default: the project\'s, from Linux 7.3)')
    p.add_argument('--epf-script', help='guest-1 set-up script run after the '
                   'controller is bound, $EPC names it (default: '
                   'guest/epf-test.sh, pci-epf-test through configfs)')
    p.add_argument('--host-script', help='guest-2 script run once the function is '
                   'present; print "ok N name"/"not ok N name" lines; a script '
                   'that prints none or exits non-zero fails '
                   '(default: pcitest.sh for kernels before 6.14, the pci_endpoint '
                   'kselftest from 6.14 on; --kernel\'s version decides)')
    p.add_argument('--accel', default='tcg', choices=('tcg', 'kvm'),
                   help='accelerator of both guests (default tcg)')
    p.add_argument('--host-smp', type=int, default=16,
                   help='vCPUs of guest 2 where MSI-X is tested; x86 fits about '
                   '200 MSI-X vectors per CPU and pcitest asks for 2048 (default '
                   '16); the pairs without MSI-X cases use at most 2')
    p.add_argument('--boot-timeout', type=int, default=240,
                   help='seconds for each guest to boot and set up (default 240)')
    p.add_argument('--case-timeout', type=int, default=120,
                   help='seconds for one test case (default 120)')
    p.add_argument('--rundir', help='where logs go (default a new build/runs/<time>-XXXX)')
    p.add_argument('-q', '--quiet', action='store_true',
                   help='no KTAP stream, only the summary')
    p.add_argument('--bench', action='store_true',
                   help='pcitest read/write/copy of 1 MiB and of the largest size, '
                   'on the shared path, through messages and with DMA, and the '
                   'BAR tests, each timed several times, beside baselines of the '
                   'same run (what `qemu-epc-bench bench` runs)')
    p.add_argument('--capture', action='store_true',
                   help='each device writes a capture of its link (pcapng, for '
                   'Wireshark with build/qemu-epc.lua) into the pair\'s run '
                   'directory; each capture\'s path and message counts are printed. '
                   'Accesses on the shared-memory path cross no link: add --no-shmem '
                   'to capture every one')
    p.add_argument('--inject', action='append', default=[], metavar='[DEVICE:]SPEC',
                   help='once both guests are up, set DEVICE\'s inject property to '
                   'SPEC: fault injection rules (docs/qemu-epc.md, "Fault injection"), '
                   'e.g. \'cpl-timeout:mem-read:5\'; DEVICE is epc (the default) or '
                   'bridge (function 0\'s epf-bridge) or bridgeK; repeatable. What '
                   'acted is counted from the QEMU logs at the end of the pair')
    p.add_argument('--timeout-ms', type=int, default=guests.LINK_TIMEOUT_MS, metavar='MS',
                   help='both devices\' completion timeout (timeout-ms; default %(default)s: '
                   'a guest pair on a busy machine can take over the devices\' own default, '
                   '300 ms, to answer, and a read that times out hands the driver all-ones)')
    p.add_argument('--no-shmem', action='store_true',
                   help='every pair without the shared-memory path (shmem=off): '
                   'every access goes through messages')
    p.add_argument('--functions', type=int, default=1, metavar='N',
                   help='2 to 8: one pair per series instead of the default ones: '
                   'qemu-epc with N functions, each a pci-epf-test with its own ID, '
                   'class and interrupt pin (guest/epf-test.sh), guest 2 with N '
                   'epf-bridges in one multi-function slot (04.0-04.N-1); on 6.12 '
                   'the functions also differ in MSI/MSI-X counts (hence BAR0 size) '
                   'and BAR, INTx, MSI, MSI-X, read/write/copy and DMA cases run '
                   'against each /dev/pci-endpoint-test.K; on 7.3 the pci_endpoint '
                   'kselftest runs against each function in turn; case names and '
                   'summary groups carry fnK (default 1: the usual pairs). With '
                   '--epf vntb (6.12, N = 2): function 1 is a pci-epf-test beside '
                   'pci-epf-vntb, its pcitest cases run with the network up')
    p.add_argument('--runs', type=int, default=cases.BENCH_RUNS,
                   help='with --bench: runs of each row (default %d)' % cases.BENCH_RUNS)
    p.add_argument('--sizes', default=','.join(map(str, cases.BENCH_SIZES)),
                   help='with --bench: bytes of the pcitest transfers, comma-separated '
                   '(default %s; at most %d)' % (','.join(map(str, cases.BENCH_SIZES)),
                                                 cases.BENCH_MAX))
    p.add_argument('--seconds', type=int,
                   help='with --bench: seconds of each iperf3 and fio job (default 5 '
                   'and 4)')
    p.add_argument('--mib', type=int,
                   help='with --bench: MiB of each vNTB TCP transfer on the shared path '
                   '(default %d; 1 through messages)' % cases.VNTB_BENCH_MIB['shared'])
    a = p.parse_args(argv)
    if a.runs < 1:
        p.error('--runs must be at least 1')
    try:
        a.sizes = tuple(int(x) for x in a.sizes.split(','))
    except ValueError:
        p.error('--sizes takes byte counts separated by commas')
    if not a.sizes or any(not 1 <= n <= cases.BENCH_MAX for n in a.sizes):
        p.error('--sizes: each from 1 to %d' % cases.BENCH_MAX)
    if (a.seconds is not None and a.seconds < 1) or (a.mib is not None and a.mib < 1):
        p.error('--seconds and --mib must be at least 1')
    inject = []
    for arg in a.inject:
        device, sep, spec = arg.partition(':')
        if not re.fullmatch(r'epc|bridge\d?', device):
            device, spec = 'epc', arg
        inject.append(('bridge0' if device == 'bridge' else device, spec))
    a.inject = inject
    if not 1 <= a.functions <= 8:
        p.error('--functions must be 1 to 8')
    if a.functions > 1 and (a.bench or a.kernel or a.epf_script or a.host_script):
        p.error('--functions runs the project\'s kernels with the default scripts; '
                'not with --bench, --kernel, --epf-script or --host-script')
    if a.epf == 'vntb' and a.functions > 1 and (a.functions != 2 or a.series != '6.12'):
        p.error('--epf vntb --functions 2 (pci-epf-test beside pci-epf-vntb) runs on '
                '--series 6.12 only, with two functions')
    if a.epf in ('nvme', 'ntb', 'mhi') and a.functions > 1:
        p.error('--epf %s runs one function; not with --functions' % a.epf)
    if a.epf == 'ntb' and a.capture:
        p.error('--epf ntb has two links; --capture takes a pair\'s one')
    if a.bench and (a.host_script or a.kernel):
        p.error('--bench runs the project\'s own kernel and cases; not with '
                '--host-script or --kernel')
    if a.epf != 'test' and (a.kernel or a.bench or a.epf_script or a.host_script):
        p.error('--epf %s brings its own scripts and runs the project\'s kernels; '
                'not with --kernel, --bench, --epf-script or --host-script' % a.epf)
    if a.kernel and a.series != 'all':
        p.error('--series picks one of the project\'s kernels; --kernel is your own')
    if a.kselftest and not a.kernel:
        p.error('--kselftest goes with --kernel (the project\'s kernels have their own)')
    if a.kselftest and a.host_script:
        p.error('--kselftest is run by the default host script; not with --host-script')
    return a


# the module files the default scripts load, by module name
MODULE_FILES = {'pcie_qemu_ep': 'pcie-qemu-ep.ko', 'pci_epf_test': 'pci-epf-test.ko',
                'pci_endpoint_test': 'pci_endpoint_test.ko'}


def check_own_modules(a, mods, release):
    """Refuse, in one line, a --kernel/--modules pair that cannot work:
    what the scripts load must be there, built for that kernel."""
    names = {os.path.basename(m)[:-3].replace('-', '_'): m for m in mods}
    need = ['pcie_qemu_ep']
    if not a.epf_script:
        need.append('pci_epf_test')
    if not a.host_script:
        need.append('pci_endpoint_test')
    missing = [n for n in need if n not in names]
    if missing:
        sys.exit('run: --modules %s lacks %s (built for %s); the default scripts '
                 'load them' % (a.modules, ', '.join(MODULE_FILES[n] for n in missing),
                                release))
    for name, path in sorted(names.items()):
        vm = subprocess.run(['modinfo', '-F', 'vermagic', path], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True).stdout.split()
        if not vm or vm[0] != release:
            sys.exit('run: %s is built for %s, --kernel is %s'
                     % (path, vm[0] if vm else 'no kernel (not a module)', release))


def own_kernel(a):
    """The pairs of --kernel: its version picks the host suite."""
    if not a.modules:
        sys.exit('run: --kernel needs --modules (pcie-qemu-ep.ko and the drivers '
                 'built for that kernel), unless they are all built in')
    if not os.path.isfile(a.kernel):
        sys.exit('run: --kernel %s: no such file' % a.kernel)
    try:
        release = artefacts.kernel_release(a.kernel)
    except (OSError, ValueError) as e:
        sys.exit('run: --kernel: %s' % e)
    mods = [os.path.join(d, f) for d, _, fs in os.walk(a.modules)
            for f in sorted(fs) if f.endswith('.ko')]
    check_own_modules(a, mods, release)
    phases = P.own_kernel_phases(a.kernel, mods, release, a.host_script, a.kselftest)
    return release, phases


def project_phases(a):
    phases = []
    for series in (artefacts.SERIES if a.series == 'all' else (a.series,)):
        if a.bench and series != '6.12':
            continue
        if a.epf in ('nvme', 'ntb', 'mhi') and series != '7.3':
            if a.series != 'all':
                sys.exit('run: --epf %s needs --series 7.3 (%s)' % (a.epf, {
                    'nvme': 'nvmet-pci-epf is in Linux from 6.14 on',
                    'mhi': 'the project\'s 7.3 guest kernel has the MHI stacks',
                    'ntb': 'its guest kernel carries the fix pci-epf-ntb needs, '
                           'guest/patches/7.3'}[a.epf]))
            continue
        bench = P.BenchSpec(a.runs, a.sizes, a.seconds, a.mib) if a.bench else None
        mine = P.series_phases(series, bench, a.epf, a.functions)
        if a.host_script:
            # the user's host script, once per kernel series, with the
            # pair's default set-up (slave DMA channels, shared memory)
            ph = mine[0]
            ph.kind, ph.planned, ph.label = 'script', None, None
            ph.host_script = a.host_script
            mine = [ph]
        phases += mine
    return phases


def build_images(phases, rundir, epf_script):
    """One image per series, function kind, function count and kernel:
    its modules, scripts, case lists, plans and tools."""
    images = {}
    for n, ph in enumerate(phases):
        ph.rundir = rundir if n == 0 else os.path.join(rundir, ph.suite)
        os.makedirs(ph.rundir, exist_ok=True)
        key = ph.image_key()
        if key not in images:
            suites = dict(cases.SUITES)
            mates = [p for p in phases if p.image_key() == key]
            extra = []
            for p in mates:
                if p.suite_args:
                    suites[p.suite] = p.suite_args
                suites.update(p.more_suites)
                extra += [('usr/local/share/qemu-epc/' + name, None, lines)
                          for name, lines in p.plans.items()]
            tag = ''.join(x for x in (ph.series and '-' + ph.series,
                                      key[1] and '-' + key[1],
                                      '-fn%d' % ph.functions if ph.functions > 1 else ''))
            images[key] = initramfs.build(
                os.path.join(rundir, 'initramfs%s-%d.cpio.gz' % (tag, len(images))),
                ph.mods, ph.pcitest, ph.pcitest_sh, epf_script or ph.epf_script,
                ph.host_script, suites, ph.extra,
                texts={path: lines for path, _, lines in extra})
        ph.initrd = images[key]


def main(argv):
    a = parse_args(argv)
    t0 = time.monotonic()
    if a.rundir:
        rundir = a.rundir
        os.makedirs(rundir, exist_ok=True)
    else:
        # unique: runs started in the same second keep apart
        os.makedirs(os.path.join(artefacts.build_dir(), 'runs'), exist_ok=True)
        rundir = tempfile.mkdtemp(prefix=time.strftime('%Y%m%d-%H%M%S-'),
                                  dir=os.path.join(artefacts.build_dir(), 'runs'))
    try:
        if a.kernel:
            release, phases = own_kernel(a)
        else:
            release, phases = None, project_phases(a)
        build_images(phases, rundir, a.epf_script)
    except (artefacts.ArtefactError, guests.GuestError) as e:
        sys.exit('run: %s' % e)

    res = Results(sys.stdout, a.quiet)
    res.emit('TAP version 13')
    if all(ph.planned is not None for ph in phases):
        res.emit('1..%d' % sum(len(ph.planned) + 1 + ph.hosts for ph in phases))
    res.emit('# qemu-epc-bench run: logs in %s' % rundir)
    if release:
        what = {'script': 'your host script', 'pcitest': 'pcitest.sh (Linux before 6.14)',
                'kselftest': 'the pci_endpoint kselftest (Linux 6.14 and later)'}
        res.emit('# --kernel is Linux %s: guest 2 runs %s' % (release, what[phases[0].kind]))
    stopped_any = False
    failed_up = {}       # kernel -> why its guests did not come up
    rtt = sock_rtt() if a.bench else None
    for n, ph in enumerate(phases):
        if len(phases) > 1:
            res.emit('# guest pair %d of %d: Linux %s, pcie-qemu-ep with %s DMA channels, '
                     '%s, logs in %s' % (n + 1, len(phases), ph.series or release,
                                         ph.dma_mode, ph.kind, ph.rundir))
        if ph.kernel in failed_up:
            # the same kernel and image would fail the same way
            not_run(res, ph, 'not run: an earlier pair on this kernel did not come up: '
                    + failed_up[ph.kernel])
            stopped_any = True
            continue
        stopped, came_up = run_pair(a, res, ph)
        if stopped and not came_up:
            failed_up[ph.kernel] = stopped
        stopped_any = stopped_any or bool(stopped)
    if any(ph.planned is None for ph in phases):
        res.emit('1..%d' % len(res.cases))
    res.emit('# Totals: pass:%d fail:%d xfail:%d xpass:0 skip:%d error:0'
             % (res.count('ok'), res.count('fail'), res.count('xfail'), res.count('skip')))
    out = sys.stdout
    report.summary(res, out, rundir, time.monotonic() - t0)
    if a.bench and not report.bench_table(res, rtt, out, a.runs, a.sizes):
        out.write('bench: a row has no figures (a failed or missing run): see "failed" above\n')
        stopped_any = True
    good, line = res.verdict(stopped_any)
    out.write(line + '\n')
    out.flush()
    return 0 if good else 1


def log_cases(res, ph, check):
    """The kernel-log case of each guest of a pair; check(who) gives the
    problems found, or a string when the pair did not run."""
    for who, label in guests.GUESTS[:1 + ph.hosts]:
        probs = check(who)
        if isinstance(probs, str):
            ok, detail = False, probs
        else:
            ok, detail = not probs, '; '.join(probs[:3])
        res.add('%s kernel log has no oops, BUG or unexpected WARNING%s'
                % (label, ph.tag()), ph.series, 'kernel logs', ok, 0, detail)


def not_run(res, ph, why):
    """Every planned case of a pair that was not started, as failed."""
    for name in ph.planned or []:
        res.add(name, ph.series, ph.group(ph.case_what(name)), False, 0, why)
    log_cases(res, ph, lambda who: why)


def asked_inject(pair, res, line, injected, asker='host'):
    """A host guest's "QEPC-INJECT DEVICE [SPEC]" (guest/lib.sh inject):
    DEVICE's inject property set to SPEC now, and the guest told so on its
    ttyS1 ("QEPC-INJECTED DEVICE", or "QEPC-INJECT-REFUSED DEVICE why").
    DEVICE is epc or epc1 (guest 1's) or bridgeK (the asker's own); asker
    'host' (guest 2) or 'peer' (guest 3)."""
    parts = line.split(None, 2)
    device = parts[1] if len(parts) > 1 else ''
    spec = parts[2].strip() if len(parts) > 2 else ''
    name = ('peer:' + device) if asker == 'peer' and device.startswith('bridge') else device
    who = 'guest 3' if asker == 'peer' else 'guest 2'
    if not re.fullmatch(r'epc1?|bridge\d', device):
        why = 'no device "%s" (epc, epc1 or bridgeK)' % device
    else:
        try:
            pair.inject(name, spec)
            why = None
        except (OSError, RuntimeError) as e:
            why = str(e)
    g = pair.peer if asker == 'peer' else pair.host
    if why:
        res.emit('# inject %s: %s, asked by %s, refused: %s' % (name, spec or '""', who, why))
        g.answer('QEPC-INJECT-REFUSED %s %s' % (device, why.replace('\n', ' ')))
    else:
        injected.add(name)
        res.emit('# inject %s: %s, asked by %s' % (name, spec or '""', who))
        g.answer('QEPC-INJECTED %s' % device)


def asked_timing(pair, host, line, window):
    """Guest 2's "QEPC-TIMING on|off NAME" (guest/lib.sh timing): the
    devices' timing events on or off in both QEMUs (harness/timing.py); at
    off the phases of NAME's reads as measures "NAME: PHASE" in
    microseconds.  "QEPC-TIMING cpu NAME" and "cpu-off NAME READS": both
    QEMUs' CPU time in between, per read, as measures "NAME: guest N
    vCPUs" and "... QEMU threads".  The guest is told "QEPC-TIMED STATE
    NAME", or "QEPC-TIMING-REFUSED NAME why"."""
    parts = line.split(None, 2)
    state = parts[1] if len(parts) > 1 else ''
    name = parts[2].strip() if len(parts) > 2 else ''
    why = None
    try:
        if not pair.timing:
            raise ValueError('this pair was not started for timing')
        if state == 'cpu':
            window[name] = timing.CpuWindow(pair)
        elif state == 'cpu-off':
            name, _, reads = name.rpartition(' ')
            if not isinstance(window.get(name), timing.CpuWindow):
                raise ValueError('no CPU window "%s" started' % name)
            per_read = window.pop(name).stop(int(reads) if reads.isdigit() else 0)
            for guest, _, what in timing.CPU:
                host.feed('QEPC-MEASURE %s: %s %s: %.1f us' % (
                    name, guest, what, per_read[(guest, what)]), time.monotonic())
        elif state == 'on':
            window[name] = timing.Timing(pair)
            window[name].start()
        elif state == 'off' and isinstance(window.get(name), timing.Timing):
            phases, counted, skipped = window.pop(name).stop()
            host.res.emit('# %s: %d round trips, %d not in order' % (name, counted, skipped))
            for p in timing.PHASES:
                host.feed('QEPC-MEASURE %s: %s: %.1f us' % (name, p, phases[p]),
                          time.monotonic())
        else:
            raise ValueError('"%s" is not on or off of a started timing' % state)
    except (OSError, RuntimeError, ValueError) as e:
        why = str(e)
    if why:
        host.res.emit('# timing %s %s refused: %s' % (state, name, why))
        pair.host.answer('QEPC-TIMING-REFUSED %s %s' % (name, why.replace('\n', ' ')))
    else:
        pair.host.answer('QEPC-TIMED %s %s' % (state, name))


def run_host_suite(pair, host, ph, case_timeout, injected):
    """Feed guest 2's lines to host (a HostRun) until QEPC-HOST-DONE,
    serving its fault-injection requests (the devices asked for are added
    to injected); returns the reason it stopped early, or None."""
    wait = case_timeout + 30
    window = {}
    while True:
        # liveness first, lines second: what a guest wrote just before it
        # exited is still read on this round
        host_alive, epf_alive = pair.host.alive(), pair.epf.alive()
        lines = pair.host.new_lines()
        now = time.monotonic()
        for line in lines:
            if line.startswith('QEPC-INJECT '):
                asked_inject(pair, host.res, line, injected)
                continue
            if line.startswith('QEPC-TIMING '):
                asked_timing(pair, host, line, window)
                continue
            r = host.feed(line, now)
            if r and r[0] == 'error':
                return r[1]
            if r and r[0] == 'done':
                return None
        if not host_alive:
            return 'guest 2 exited before the suite finished (see %s)' % pair.host.console
        if not epf_alive:
            return 'guest 1 exited during the suite (see %s)' % pair.epf.console
        if pair.peer:
            if not pair.peer.alive():
                return 'guest 3 exited during the suite (see %s)' % pair.peer.console
            for line in pair.peer.new_lines():
                if line.startswith('QEPC-ERROR'):
                    return 'guest 3: ' + line[11:]
                if line.startswith('QEPC-INJECT '):
                    asked_inject(pair, host.res, line, injected, asker='peer')
        if now - host.last > wait:
            return 'timed out after %d s waiting for "%s" to finish' % (
                wait, host.next_planned() or 'the next case')
        time.sleep(0.05)


def run_pair(a, res, ph):
    """Boot one guest pair, run its suite; returns (why it stopped early
    or None, whether both guests came up)."""
    # the MSI-X cases (2048 vectors) need many vCPUs in guest 2; the
    # suites without them boot faster with two
    smp = a.host_smp if ph.msix else min(a.host_smp, 2)
    pair = guests.Pair(ph.rundir, ph.kernel, ph.initrd, accel=a.accel, host_smp=smp,
                       boot_timeout=a.boot_timeout, suite=ph.suite, dma_mode=ph.dma_mode,
                       case_timeout=a.case_timeout, series=ph.series,
                       shmem=ph.shmem and not a.no_shmem,
                       epc_props=ph.epc_props, env=ph.env, epf_smp=ph.epf_smp, ctl=ph.ctl,
                       functions=ph.functions, function_setup=ph.function_setup,
                       capture=a.capture, timeout_ms=a.timeout_ms, hosts=ph.hosts,
                       timing=ph.timing)
    host = HostRun(res, ph, time.monotonic())
    stopped = None
    came_up = False
    injected = {d for d, _ in a.inject}
    t0 = time.monotonic()
    try:
        try:
            fn = pair.bring_up()
            came_up = True
            t1 = time.monotonic()
            res.emit('# ' + fn)
            for device, spec in a.inject:
                try:
                    pair.inject(device, spec)
                except (OSError, RuntimeError) as e:
                    raise guests.GuestError('inject %s on %s: %s' % (spec, device, e))
                res.emit('# inject %s: %s' % (device, spec))
            host.last = t1
            stopped = run_host_suite(pair, host, ph, a.case_timeout, injected)
            res.emit('# guests up in %.1f s, host side done in %.1f s more'
                     % (t1 - t0, time.monotonic() - t1))
        except guests.GuestError as e:
            stopped = str(e)
    finally:
        pair.stop()
    for device in sorted(injected):
        # (the guests are gone: their QEMUs' logs say what acted)
        log = pair.device_guest(device).qemu_log
        with open(log, errors='replace') as f:
            acted = collections.Counter(
                m.group(1) for m in re.finditer(r': injected ([a-z-]+): ', f.read()))
        res.emit('# inject %s: %d faults acted%s (%s)' % (
            device, sum(acted.values()),
            ''.join(', %s %d' % kv for kv in sorted(acted.items())), log))
    failed = stopped or res.count('fail', host.first)
    for path in pair.captures:
        try:
            res.emit('# capture: %s: %s' % (path, capture.summary(path)))
            if failed:
                # where the link stood when the pair failed
                for line in capture.tail(path, 25):
                    res.emit('# capture %s: %s' % (os.path.basename(path), line))
        except (OSError, ValueError) as e:
            res.add('capture written%s' % ph.tag(), ph.series, 'capture', False, 0, str(e))
    if stopped:
        res.emit('# stopped early: ' + stopped)
        for line in stall_report(pair):
            res.emit('# ' + line)
    host.finish(stopped)
    problems = pair.kernel_problems()
    for why in known_bugs(pair.epf.console):
        res.emit('# guest 1: ' + why)
    log_cases(res, ph, lambda who: [p for w, p in problems if w == who])
    labels = {who: label for who, label, _ in pair.guests}
    for who, why in pair.exit_problems():
        res.add('%s QEMU ended cleanly%s' % (labels[who], ph.tag()),
                ph.series, 'kernel logs', False, 0, why)
    return stopped, came_up


# kernel bugs a guest's console can show, by an oops's call trace, and
# what they are: (function in the trace, a module loaded, explanation)
KNOWN_BUGS = [
    ('pci_epc_linkup', 'pci_epf_ntb',
     'the oops in pci_epc_linkup is the endpoint core\'s bug that '
     'guest/patches/7.3/0001-PCI-endpoint-keep-secondary-interfaces-off-the-EPF-list.patch '
     'fixes: pci-epf-ntb\'s secondary interface is on the controller\'s EPF list, '
     'where the link-up notifier takes it for a primary EPF; this kernel lacks the fix'),
    ('pci_epf_mhi_edma_flush_async', 'pci_epf_mhi',
     'the oops in pci_epf_mhi_edma_flush_async is pci-epf-mhi\'s bug that '
     'guest/patches/7.3/0002-PCI-endpoint-pci-epf-mhi-get-the-DMA-channels-back-on-link-up.patch '
     'fixes: a link down releases its DMA channels, a link up does not get them back, and '
     'the next power down uses the NULL channels; this kernel lacks the fix'),
]


def known_bugs(console):
    """The explanations of KNOWN_BUGS whose oops a console shows."""
    try:
        with open(console, errors='replace') as f:
            text = f.read()
    except OSError:
        return []
    found = []
    for oops in re.split(r'(?m)^.*(?:BUG: |Oops: )', text)[1:]:
        trace = oops.split('---[ end trace', 1)[0]
        mods = re.search(r'Modules linked in: (.*)', trace)
        for func, mod, why in KNOWN_BUGS:
            if (re.search(r'\b%s\+0x' % func, trace) and mods and mod in mods.group(1).split()
                    and why not in found):
                found.append(why)
    return found


def stall_report(pair, tail=6):
    """For a pair that stopped early: the host guests' stall reports
    (guest/lib.sh stall_watch: their tasks and where they wait) and the
    last kernel lines of every console (hosts first), so that a log of the
    run alone says where it stood."""
    out = []
    for _, label, g in reversed(pair.guests):
        who = label.split(' (')[0]      # "guest 2" of "guest 2 (host)"
        try:
            with open(g.console, errors='replace') as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        stall = [l for l in lines if l.startswith('qepc-stall: ')]
        kernel = [l for l in lines if l.startswith('[')][-tail:]
        out += ['%s: %s' % (who, l) for l in stall[-80:] + kernel]
    return out


def sock_rtt():
    """The host's Unix-socket round trip (build/sock-rtt): median and
    minimum in microseconds, or None."""
    try:
        out = subprocess.run([os.path.join(artefacts.build_dir(), 'sock-rtt'), '20000'],
                             stdout=subprocess.PIPE, universal_newlines=True,
                             timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'median ([\d.]+) us, min ([\d.]+) us', out)
    return (float(m.group(1)), float(m.group(2))) if m else None


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
