#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Fuzz the socket handlers of qemu-epc or epf-bridge through the real code.

usage: fuzz-device.py --target epc|epc-fn1|bridge [--time S] [--seed N] [--build DIR]

A QEMU under qtest runs the device (from DIR, normally the sanitizer build);
this script is its peer: it connects, completes the HELLO, brings the link
up, then sends sequences of messages taken from the seed corpus
(tests/fuzz/corpus-TARGET/) and mutated: bit flips, truncation, changed
size/type/flags/tag fields, payload fields set to edge values, splicing,
random bytes, valid messages with random fields, and the shared-memory
messages: FDS offering memfd regions of random layout (with their
descriptor, without it, or with one on another message), RAM_GONE and
MAP.  Both QEMUs have shared RAM and the peer offers SHMEM, so the
devices' own FDS and MAP traffic runs too.  After each sequence it
checks that QEMU is alive, answers a qtest read of a register, and printed no
sanitizer report.  A connection the device drops (it must, for a bad
message) is re-established and counted.  A crash keeps the bytes sent on
that connection in OUT/crash-TARGET-N.bin (OUT: the work directory, printed)
and QEMU is restarted.  epc-fn1 is qemu-epc with functions=2, both functions
started, the fuzzer on function 1's socket (function 0's unconnected).

Every corpus input is sent once as it is before the mutations start.
The last line is 'fuzz/TARGET: N executions, N crashes, N reconnects, N
corpus inputs replayed, N s'; the
exit status is 1 if anything crashed."""
import argparse
import os
import random
import select
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
ap.add_argument('--target', choices=('epc', 'epc-fn1', 'bridge'), required=True)
ap.add_argument('--time', type=float, default=60, help='seconds (default 60)')
ap.add_argument('--seed', type=int, default=1)
ap.add_argument('--build', default=os.path.join(TOP, 'build-san'))
args = ap.parse_args()
BUILD = os.path.abspath(args.build)
os.environ['QEMU_EPC_BUILD'] = BUILD
os.environ['QEMU_EPC_MODULE_DIR'] = BUILD
sys.path[:0] = [os.path.join(TOP, 'harness'), os.path.join(TOP, 'tests', 'lib')]

import peer as P  # noqa: E402
from machines import EpcVm, BridgeVm, R, EPC_REGS, DEVFN, MEM, BME  # noqa: E402
from qtest import sanitizer_report  # noqa: E402

rng = random.Random(args.seed)
HDR = P.HDR
BAR0_HOST = 0xe0000000
HOST_RAM = 0x2000000
INTERESTING32 = (0, 1, 2, 3, 4, 7, 8, 15, 16, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000,
                 0x1001, 0x1010, 0x1011, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff)
INTERESTING64 = INTERESTING32 + (BAR0_HOST, HOST_RAM, 0xfee00000, 1 << 32, 1 << 63,
                                 (1 << 64) - 1, (1 << 64) - 4096)


def load_corpus(name):
    d = os.path.join(HERE, 'corpus-' + name)
    units = []
    for f in sorted(os.listdir(d)):
        with open(os.path.join(d, f), 'rb') as fh:
            units.append(fh.read())
    if not units:
        sys.exit('fuzz-device: empty corpus %s' % d)
    return units


# ---- mutations ---------------------------------------------------------------

def put(b, off, fmt, v):
    b = bytearray(b)
    n = struct.calcsize(fmt)
    if off + n <= len(b):
        mask = (1 << (8 * n)) - 1
        b[off:off + n] = struct.pack(fmt, v & mask)
    return bytes(b)


def m_bitflip(b, _):
    b = bytearray(b)
    for _ in range(rng.randint(1, 4)):
        if b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def m_truncate(b, _):
    return b[:rng.randrange(len(b))] if b else b


def m_size(b, _):
    cur = len(b) - HDR
    return put(b, 8, '<I', rng.choice((0, cur - 1, cur + 1, cur + 4096, 4112, 4113,
                                       rng.getrandbits(32)) + INTERESTING32))


def m_type(b, _):
    return put(b, 4, '<H', rng.choice(list(range(0, 14)) + [0xffff, rng.getrandbits(16)]))


def m_flags(b, _):
    return put(b, 6, '<H', rng.choice((0, 1, 2, 0x8000, rng.getrandbits(16))))


def m_tag(b, _):
    return put(b, 12, '<H', rng.choice((0, 1, 2, 0xffff, rng.getrandbits(16))))


def m_field(b, _):
    """A payload field set to an edge value."""
    if len(b) <= HDR:
        return b
    fmt = rng.choice(('<B', '<H', '<I', '<Q'))
    off = HDR + rng.randrange(len(b) - HDR)
    vals = INTERESTING64 if fmt == '<Q' else INTERESTING32
    return put(b, off, fmt, rng.choice(vals + (rng.getrandbits(64),)))


def m_splice(b, units):
    o = rng.choice(units)
    return b[:rng.randint(0, len(b))] + o[rng.randint(0, len(o)):]


def m_random(b, _):
    if rng.random() < 0.3:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
    b = bytearray(b)
    if b:
        i = rng.randrange(len(b))
        n = rng.randint(1, 16)
        b[i:i + n] = bytes(rng.getrandbits(8) for _ in range(n))
    return bytes(b)


def rand_addr(base):
    return rng.choice((base + rng.randrange(0x20000), rng.choice(INTERESTING64),
                       rng.getrandbits(64), base - rng.randint(1, 4096)))


def rand_len():
    return rng.choice((1, 2, 3, 4, 8, 64, 4095, 4096, rng.randint(1, 4096)))


def memfd(size):
    fd = os.memfd_create('qepc-fuzz', 0)
    os.ftruncate(fd, size)
    return fd


def m_fds(_, __):
    """An FDS: a region offered with a memfd (sizes, offsets, addresses at
    edges), withdrawn, or a descriptor where none belongs."""
    k = rng.randrange(4)
    page = 4096
    gpa = rng.choice((0, page, 0x40000000, HOST_RAM, rng.getrandbits(64) & ~(page - 1),
                      rng.getrandbits(64)))
    size = rng.choice((page, 0x100000, page + 1, 0, rng.getrandbits(40)))
    off = rng.choice((0, page, 1, rng.getrandbits(40)))
    fd_size = rng.choice((size + off, page, 0x200000))
    if k == 0:
        try:
            fd = memfd(max(0, min(fd_size, 1 << 30)))
        except OSError:
            return P.intx(0, False)
        return (P.fds(P.FD_GUEST_RAM, 1, gpa, max(size, 1), off), fd)
    if k == 1:
        return P.fds(P.FD_RAM_GONE, 0, gpa, max(size, 1), 0)
    if k == 2:
        return P.fds(P.FD_GUEST_RAM, 1, gpa, max(size, 1), off)    # no descriptor
    return (P.intx(0, False), memfd(page))                        # one too many


def m_map(_, __):
    """A MAP with random pieces (posted or not); only a bridge accepts it."""
    pieces, off = [], 0
    for _ in range(rng.randint(0, 6)):
        off += rng.choice((0, 0x1000, rng.getrandbits(20)))
        size = rng.choice((0x1000, 0x10000, rng.getrandbits(24) or 1))
        pieces.append((off, size, rng.choice((HOST_RAM, 0x40000000, rng.getrandbits(64)))))
        off += size
    bar = rng.choice((0, 1, 2, 5, 0xff))
    try:
        return P.map_msg(bar, pieces if bar != 0xff else (), tag=rng.choice((0, 7)))
    except Exception:
        return P.intx(0, False)


def m_valid(_, __):
    """A valid message with random fields (passes the validator, so it
    reaches the device's handler)."""
    tag = rng.randint(1, 0xffff)
    base = HOST_RAM if TARGET == 'bridge' else BAR0_HOST
    k = rng.randrange(9)
    try:
        if k == 0:
            ln = rng.choice((1, 2, 4))
            return P.cfg_read(tag, rng.randrange(0, 4096, ln), ln)
        if k == 1:
            ln = rng.choice((1, 2, 4))
            return P.cfg_write(tag, rng.randrange(0, 4096, ln), ln,
                               rng.getrandbits(8 * ln))
        if k == 2:
            ln = rand_len()
            return P.mem_read(tag, min(rand_addr(base), (1 << 64) - ln), ln)
        if k == 3:
            ln = rand_len()
            return P.mem_write(min(rand_addr(base), (1 << 64) - ln),
                               bytes(rng.getrandbits(8) for _ in range(ln)),
                               tag=rng.choice((0, tag)))
        if k == 4:
            a = rng.randrange(0, 0x10000)
            ln = rng.randint(1, 4 - (a & 3))
            return rng.choice((P.mem_read(tag, a, ln, P.IO_READ),
                               P.mem_write(a, bytes(ln), tag=tag, t=P.IO_WRITE)))
        if k == 5:
            return P.intx(rng.randrange(4), rng.random() < 0.5)
        if k == 6:
            bars = []
            for _ in range(6):
                size = rng.choice((0, 0, 1 << rng.randrange(64)))
                flags = rng.choice((0, 1, 4, 8, 0xc, 2)) if size else 0
                bars.append((size, flags))
            up = rng.random() < 0.8
            return P.link(up, bars if up else (), pin=rng.randrange(5))
        if k == 7:
            rt = rng.choice((P.CFG_READ, P.MEM_READ, P.IO_READ))
            st = rng.choice((P.SC, P.UR, P.CA))
            data = bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 1, 4, 8, 64))))
            return P.cpl(rng.choice((tag, rng.randint(1, 16))), rt, st,
                         data if st == P.SC else b'')
        return P.hello(rng.choice((P.ROLE_ENDPOINT, P.ROLE_HOST)))
    except Exception:
        return P.intx(0, False)


MUTATORS = [(m_bitflip, 3), (m_truncate, 1), (m_size, 2), (m_type, 2), (m_flags, 1),
            (m_tag, 2), (m_field, 4), (m_splice, 1), (m_random, 1), (m_valid, 8),
            (m_fds, 2), (m_map, 2)]
MUT_FUNCS = [f for f, _ in MUTATORS]
MUT_W = [w for _, w in MUTATORS]


def sequence(units):
    """A list of (bytes, descriptor or None) to send in order."""
    seq = []
    for _ in range(rng.randint(1, 6)):
        u = rng.choice(units)
        r = rng.random()
        if r < 0.3:
            seq.append((u, None))
            continue
        f = rng.choices(MUT_FUNCS, MUT_W)[0]
        u = f(u, units)
        if isinstance(u, tuple):
            seq.append(u)               # with its descriptor
            continue
        if rng.random() < 0.2:
            u2 = rng.choices(MUT_FUNCS, MUT_W)[0](u, units)
            u = u2 if not isinstance(u2, tuple) else u
        seq.append((u, None))
    return seq


# ---- the device under test -----------------------------------------------------

class Dropped(Exception):
    pass


class Target:
    def __init__(self, workdir, name):
        self.dir = workdir
        self.sock = os.path.join(workdir, 'link.sock')
        self.name = name
        self.vm = None
        self.peer = None
        self.log_off = 0
        self.sent = bytearray()

    def drain(self, wait=0.0):
        """Read and discard what the device sent; Dropped if it closed."""
        s = self.peer.sock
        end = time.monotonic() + wait
        while True:
            r, _, _ = select.select([s], [], [], max(0.0, end - time.monotonic()))
            if not r:
                return
            try:
                b = s.recv(1 << 20)
            except (ConnectionResetError, BrokenPipeError):
                raise Dropped()
            if not b:
                raise Dropped()

    def send(self, seq):
        for b, fd in seq:
            self.sent += b
            try:
                if fd is None:
                    self.peer.sock.sendall(b)
                else:
                    self.peer.send_fds(b, [fd])
            except (BrokenPipeError, ConnectionResetError):
                raise Dropped()
            finally:
                if fd is not None:
                    os.close(fd)

    def new_log(self):
        """Sanitizer report in the QEMU output written since the last call."""
        try:
            with open(self.vm.log_path, 'rb') as f:
                f.seek(self.log_off)
                b = f.read()
        except OSError:
            return ''
        self.log_off += len(b)
        return sanitizer_report(b.decode(errors='replace'))

    def check(self):
        """'' if QEMU is alive, answers a register read and reported nothing;
        else what is wrong."""
        rep = self.new_log()
        if rep:
            return 'sanitizer report:\n' + rep
        if not self.vm.alive():
            return 'QEMU exited with status %s; log tail:\n%s' % (
                self.vm.proc.returncode, self.vm.read_log()[-3000:])
        try:
            self.probe()
        except Exception as e:   # qtest timeout or closed socket
            return 'QEMU does not answer qtest: %s' % e
        rep = self.new_log()
        return 'sanitizer report:\n' + rep if rep else ''

    def answer_while(self, fn):
        """Run the qtest call fn while answering the device's requests."""
        done = threading.Event()
        err = []

        def run():
            try:
                fn()
            except Exception as e:
                err.append(e)
            done.set()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        while not done.is_set():
            try:
                m = self.peer.recv(0.02, 'a request')
            except TimeoutError:
                continue
            if m.type == P.CFG_READ:
                self.peer.send(P.cpl(m.tag, P.CFG_READ, P.SC, bytes(m.m.u.cfg.len)))
            elif m.type in (P.CFG_WRITE, P.IO_WRITE) or \
                    (m.type == P.MEM_WRITE and m.tag):
                self.peer.send(P.cpl(m.tag, m.type, P.SC))
            elif m.type in (P.MEM_READ, P.IO_READ):
                self.peer.send(P.cpl(m.tag, m.type, P.SC, bytes(m.m.u.mem.len)))
        t.join(30)
        if err:
            raise err[0]

    def restart(self, n):
        if self.peer:
            self.peer.close()
        if self.vm:
            self.vm.quit()
        self.log_off = 0
        self.start_vm('%s%d' % (self.name, n))
        self.connect()

    def stop(self):
        """End QEMU; why its end was not clean (an abort, a sanitizer's
        exit status), or None."""
        if self.peer:
            self.peer.close()
        return self.vm.quit() if self.vm else None


class EpcTarget(Target):
    """qemu-epc with pci-epf-test's function started; we are the host."""

    def start_vm(self, name):
        self.vm = EpcVm(self.sock, self.dir, name=name, props=',timeout-ms=100',
                        shared_ram=True)
        self.vm.standard_function()
        self.vm.start()

    def connect(self):
        self.host_connect(self.sock)
        self.sent = bytearray(P.hello(P.ROLE_HOST, P.FEAT_SHMEM))

    def host_connect(self, path, timeout=10):
        """Connect as the host and take qemu-epc's HELLO.  qemu-epc drops a
        peer it found wrong in its main loop, after its I/O thread saw the
        error: a connection that comes before that is refused (one peer at
        a time) and closed at once, and is tried again, within timeout s."""
        end = time.monotonic() + timeout
        while True:
            if self.peer:
                self.peer.close()
            self.peer = P.Peer(path, P.ROLE_HOST, features=P.FEAT_SHMEM)
            try:
                self.peer.connect()
                self.peer.handshake()
                return
            except (BrokenPipeError, ConnectionResetError, EOFError):
                if time.monotonic() > end:
                    raise
                time.sleep(0.02)

    def probe(self):
        self.vm.reg(R.QEPC_STATUS)


class EpcFn1Target(EpcTarget):
    """qemu-epc with two functions, both set up and started; we are the
    host of function 1 (socket link.sock.1), function 0 has none."""

    def start_vm(self, name):
        self.vm = EpcVm(self.sock, self.dir, name=name,
                        props=',timeout-ms=100,functions=2', shared_ram=True)
        self.vm.standard_function()
        self.vm.set_reg(R.QEPC_FUNC_SEL, 1)
        self.vm.standard_function()
        self.vm.start()

    def connect(self):
        self.host_connect(self.sock + '.1')
        self.sent = bytearray(P.hello(P.ROLE_HOST, P.FEAT_SHMEM))

    def probe(self):
        if self.vm.reg(R.QEPC_FUNC_SEL) != 1:
            raise RuntimeError('FUNC_SEL changed under the fuzzer')
        self.vm.reg(R.QEPC_STATUS)


class BridgeTarget(Target):
    """epf-bridge connecting to us, the endpoint; the function is present
    and has bus mastering on, so memory requests reach guest memory."""

    def start_vm(self, name):
        if self.peer:
            self.peer.close()
        self.peer = P.Peer(self.sock, P.ROLE_ENDPOINT, listen=True,
                           features=P.FEAT_SHMEM)
        self.vm = BridgeVm(self.sock, self.dir, name=name,
                           props=',timeout-ms=100,reconnect-ms=20', shared_ram=True)

    def connect(self):
        if self.peer.sock:
            self.peer.sock.close()
            self.peer.sock = None
        self.peer.connect()
        self.peer.handshake()
        up = P.link(1, [(0x10000, 0), (0x80, 0), (0x100000, 0), (0, 0), (0, 0), (0, 0)])
        self.peer.send(up)
        self.sent = bytearray(P.hello(P.ROLE_ENDPOINT, P.FEAT_SHMEM) + up)
        self.answer_while(lambda: self.vm.cfg_write(DEVFN, 0x04, MEM | BME, 2))

    def probe(self):
        # the host bridge's vendor ID: answered by QEMU without the link
        v = self.vm.cfg_read(0, 0, 2)
        if v != 0x8086:
            raise RuntimeError('host bridge vendor ID 0x%x' % v)


TARGET = args.target


def main():
    units = load_corpus('bridge' if TARGET == 'bridge' else 'epc')     # epc-fn1: epc's
    workdir = tempfile.mkdtemp(prefix='qemu-epc-fuzz-%s-' % TARGET)
    t = {'epc': EpcTarget, 'epc-fn1': EpcFn1Target, 'bridge': BridgeTarget}[TARGET](
        workdir, TARGET)
    t0 = time.monotonic()
    end = t0 + args.time
    execs = crashes = reconnects = restarts = 0
    # first every corpus input once as it is (the regression cases: crash
    # inputs are kept in the corpus), then mutated sequences until the time
    # is up
    replay = [[(u, None)] for u in units]
    try:
        t.restart(restarts)
        while replay or time.monotonic() < end:
            seq = replay.pop(0) if replay else sequence(units)
            dropped = False
            try:
                t.send(seq)
                t.drain(0.002)
            except Dropped:
                dropped = True
            execs += 1
            why = t.check()
            if not why and not dropped:
                try:
                    t.drain(0)
                except Dropped:
                    dropped = True
            if why:
                crashes += 1
                path = os.path.join(workdir, 'crash-%s-%d.bin' % (TARGET, crashes))
                with open(path, 'wb') as f:
                    f.write(t.sent)
                print('fuzz/%s: crash %d after %d executions: %s\n  input (bytes sent on '
                      'the connection): %s' % (TARGET, crashes, execs, why, path),
                      flush=True)
                restarts += 1
                t.restart(restarts)
                continue
            if dropped:
                reconnects += 1
                t.connect()
    finally:
        end_why = t.stop()
    if end_why:
        crashes += 1
        print('fuzz/%s: at the end: %s' % (TARGET, end_why), flush=True)
    secs = time.monotonic() - t0
    if not crashes:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print('fuzz/%s: crash inputs and QEMU logs kept in %s' % (TARGET, workdir))
    print('fuzz/%s: %d executions, %d crashes, %d reconnects, %d corpus inputs replayed, %.0f s'
          % (TARGET, execs, crashes, reconnects, len(units), secs), flush=True)
    return 1 if crashes else 0


if __name__ == '__main__':
    sys.exit(main())
