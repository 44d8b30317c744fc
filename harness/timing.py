# SPDX-License-Identifier: GPL-2.0-or-later
"""Where an NVMe read spends its time on the devices' path, from the
devices' trace events with the host's clock (a Pair with timing=True).

A host script asks for it over its ttyS1 (guest/lib.sh timing): "QEPC-TIMING
on NAME" before a fio job of 4 KiB random reads at queue depth 1 and
"QEPC-TIMING off NAME" after it; the harness turns the events below on and
off in both QEMUs and splits each read's round trip, from one command fetch
to the next, into the phases of PHASES, as seen from the devices:

  command fetched    guest 1's DMA read of the 64-byte command (DMA GO to end)
  command executed   until the data DMA starts: guest 1 saw the fetch end,
                     nvmet-pci-epf parsed the command and read its ramdisk
  data moved         the 4 KiB DMA write into guest 2's buffer (GO to end)
  completion written until the MSI-X is raised: guest 1 saw the DMA end,
                     wrote the completion entry through a window, raised
  MSI-X delivered    from guest 1's QEMU raising it to guest 2's QEMU writing
                     it (a message over the link)
  host and doorbell  guest 2 handles the interrupt, fio reaps the read and
                     submits the next, the nvme driver rings the SQ
                     doorbell, guest 1's SQ poller notices it and starts the
                     next fetch (the doorbell is a store into shared memory:
                     no event marks it)

A round trip whose events do not follow that order (an admin command, a
second read in flight) is not counted; how many were is reported.

And where the host's CPU goes during a job ("QEPC-TIMING cpu NAME" before
it, "QEPC-TIMING cpu-off NAME READS" after): the CPU time of each QEMU's
vCPU threads and of its other threads (main loop, link I/O thread, ...),
per read, from /proc (CPU), with no trace event on."""
import os
import re
import statistics

EVENTS = {'epf': ['qemu_epc_dma_go', 'qemu_epc_dma_end', 'qemu_epc_irq'],
          'host': ['epf_bridge_dma']}

PHASES = ('command fetched', 'command executed', 'data moved', 'completion written',
          'MSI-X delivered', 'host and doorbell')

# pid@seconds.microseconds:event args (QEMU's log trace backend, -msg timestamp=on)
LINE = re.compile(r'^\d+@(\d+)\.(\d{6}):(\w+) (.*)$')
DMA_GO = re.compile(r'channel (\d+): 0x[0-9a-f]+ -> 0x[0-9a-f]+ (\d+) bytes')
DMA_END = re.compile(r'channel (\d+): state (\d+)')
MSI_WRITE = re.compile(r'MEM_WRITE 0x(fee[0-9a-f]{5}) 4 bytes')


def parse(text, who):
    """(time in microseconds, who, kind, fields) of the events in a log."""
    out = []
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        t = int(m.group(1)) * 1000000 + int(m.group(2))
        ev, args = m.group(3), m.group(4)
        if ev == 'qemu_epc_dma_go':
            g = DMA_GO.search(args)
            if g:
                out.append((t, who, 'go', (int(g.group(1)), int(g.group(2)))))
        elif ev == 'qemu_epc_dma_end':
            g = DMA_END.search(args)
            if g:
                out.append((t, who, 'end', (int(g.group(1)), int(g.group(2)))))
        elif ev == 'qemu_epc_irq' and 'raises MSI-X' in args:
            out.append((t, who, 'irq', ()))
        elif ev == 'epf_bridge_dma' and MSI_WRITE.search(args):
            out.append((t, who, 'msi', ()))
    return out


def round_trips(events):
    """The phases of each QD1 4 KiB read found in events (sorted by time):
    a list of dicts {phase: microseconds}, and how many round trips did not
    follow the expected order."""
    want = ('fetch', 'fetched', 'data', 'moved', 'irq', 'msi')
    trips, skipped = [], 0
    cur, chan = None, None
    for t, _, kind, f in events:
        if kind == 'go' and f[1] == 64:
            if cur is not None and len(cur) == len(want):
                cur['next'] = t
                trips.append(cur)
            elif cur is not None:
                skipped += 1
            cur, chan = {'fetch': t}, f[0]
            continue
        if cur is None:
            continue
        step = want[len(cur)] if len(cur) < len(want) else None
        if step == 'fetched' and kind == 'end' and f[0] == chan and f[1] == 2:
            cur['fetched'] = t
        elif step == 'data' and kind == 'go' and f[1] == 4096:
            cur['data'], chan = t, f[0]
        elif step == 'moved' and kind == 'end' and f[0] == chan and f[1] == 2:
            cur['moved'] = t
        elif step == 'irq' and kind == 'irq':
            cur['irq'] = t
        elif step == 'msi' and kind == 'msi':
            cur['msi'] = t
        else:
            # out of order: not a lone 4 KiB read's round trip
            skipped += 1
            cur = None
    out = []
    for c in trips:
        marks = [c[k] for k in want] + [c['next']]
        out.append(dict(zip(PHASES, (b - a for a, b in zip(marks, marks[1:])))))
    return out, skipped


CPU = (('guest 1', 'epf', 'vCPUs'), ('guest 1', 'epf', 'QEMU threads'),
       ('guest 2', 'host', 'vCPUs'), ('guest 2', 'host', 'QEMU threads'))
CLK_TCK = os.sysconf('SC_CLK_TCK')


def cpu_ticks(pid):
    """{'vCPUs': ticks, 'QEMU threads': ticks} of a QEMU started with
    -name ...,debug-threads=on (its vCPU threads are named "CPU n/TCG")."""
    out = {'vCPUs': 0, 'QEMU threads': 0}
    task = '/proc/%d/task' % pid
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, 'stat')) as f:
                stat = f.read()
        except OSError:
            continue        # a thread that ended meanwhile
        comm = stat[stat.index('(') + 1:stat.rindex(')')]
        fields = stat[stat.rindex(')') + 2:].split()
        kind = 'vCPUs' if re.match(r'CPU \d+/', comm) else 'QEMU threads'
        out[kind] += int(fields[11]) + int(fields[12])      # utime, stime
    return out


class CpuWindow:
    """The CPU time both QEMUs of a pair spend during one job."""

    def __init__(self, pair):
        self.pair = pair
        self.guests = {'epf': pair.epf, 'host': pair.host}
        self.start_ticks = {n: cpu_ticks(g.proc.pid) for n, g in self.guests.items()}

    def stop(self, reads):
        """{(guest, what): microseconds of CPU per read} over CPU's rows."""
        if reads <= 0:
            raise ValueError('no reads to share the CPU time among')
        end = {n: cpu_ticks(g.proc.pid) for n, g in self.guests.items()}
        return {(guest, what): (end[name][what] - self.start_ticks[name][what])
                * 1e6 / CLK_TCK / reads for guest, name, what in CPU}


class Timing:
    """One timing window of a pair: start() turns the events on and notes
    where the logs end, stop() turns them off and returns the breakdown."""

    def __init__(self, pair):
        self.pair = pair
        self.start_at = {}

    def start(self):
        for name, path in self.pair.timing.items():
            self.start_at[name] = os.path.getsize(path) if os.path.exists(path) else 0
        self.pair.timing_events(EVENTS, True)

    def stop(self):
        """(median microseconds per phase as {phase: us}, round trips
        counted, round trips not counted); ValueError if none was found."""
        self.pair.timing_events(EVENTS, False)
        events = []
        for name, path in self.pair.timing.items():
            with open(path, errors='replace') as f:
                f.seek(self.start_at.get(name, 0))
                events += parse(f.read(), name)
        events.sort(key=lambda e: e[0])
        trips, skipped = round_trips(events)
        if not trips:
            raise ValueError('no 4 KiB read round trip in the trace (%d events, %d not in order)'
                             % (len(events), skipped))
        return {p: statistics.median(t[p] for t in trips) for p in PHASES}, len(trips), skipped
