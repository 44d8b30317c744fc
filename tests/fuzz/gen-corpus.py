#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpora of the fuzzers: valid messages encoded by proto/
(through tests/lib/peer.py), one file per message.

usage: gen-corpus.py BUILD_DIR

  corpus-proto/   every message type, for the libFuzzer target fuzz-proto
  corpus-epc/     what a host (epf-bridge) sends to qemu-epc
  corpus-bridge/  what an endpoint (qemu-epc) sends to epf-bridge

Files whose name starts with "crash-" are regression cases found by the
fuzzers; they are kept as they are."""
import ctypes as C
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ['QEMU_EPC_BUILD'] = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                                               os.path.join(HERE, '..', '..', 'build'))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import peer as P  # noqa: E402

# where the fuzz drivers place things (tests/lib/machines.py)
BAR0_HOST = 0xe0000000      # guest 2: BAR0 of the function
HOST_RAM = 0x2000000        # guest 2: RAM the endpoint reaches
MSI_ADDR = 0xfee00000


def poisoned(cpl):
    """The completion with its data poisoned (flag POISONED)."""
    b = bytearray(cpl)
    b[6] |= P.W.QEP_F_POISONED
    return bytes(b)


def fds():
    f = P.Fds(kind=1, nfds=1, gpa=0, size=0x10000000, offset=0)
    return P.enc(P.lib.qep_enc_fds, C.byref(f))


P.lib.qep_enc_fds.argtypes = [C.c_void_p, C.c_void_p]
P.lib.qep_enc_fds.restype = C.c_size_t

# the function of tests/lib/machines.py EpcVm.standard_function()
STD_BARS = [(0x10000, 0), (0x80, 0), (0x100000, 0), (0x200000, 0), (0x400, 0), (0x100, 0)]

PROTO = {
    'hello-endpoint': P.hello(P.ROLE_ENDPOINT),
    'hello-host': P.hello(P.ROLE_HOST, 1),
    'cfg-read': P.cfg_read(1, 0x10, 4),
    'cfg-write': P.cfg_write(2, 0x04, 2, 0x6),
    'mem-read': P.mem_read(3, BAR0_HOST, 64),
    'mem-write-posted': P.mem_write(BAR0_HOST, bytes(range(32))),
    'mem-write-nonposted': P.mem_write(BAR0_HOST + 8, b'\x11' * 8, tag=4),
    'io-read': P.mem_read(5, 0xc000, 4, P.IO_READ),
    'io-write': P.mem_write(0xc002, b'\xab\xcd', tag=6, t=P.IO_WRITE),
    'cpl-read-data': P.cpl(7, P.MEM_READ, P.SC, b'\x5a' * 16),
    'cpl-cfg-read': P.cpl(8, P.CFG_READ, P.SC, b'\x4c\x10\x00\xb5'),
    'cpl-ur': P.cpl(9, P.CFG_WRITE, P.UR),
    'cpl-ca': P.cpl(10, P.IO_WRITE, P.CA),
    'cpl-poisoned': poisoned(P.cpl(11, P.MEM_READ, P.SC, b'\x5a' * 8)),
    'intx-assert': P.intx(0, True),
    'intx-deassert': P.intx(0, False),
    'link-up': P.link(1, STD_BARS),
    'link-up-io-64': P.link(1, [(0x1000, 0xc), (0, 0), (0x100, 1), (0x4000, 0)], pin=2),
    'link-down': P.link(0),
    'fds': fds(),
    'fds-gone': P.fds(P.FD_RAM_GONE, 0, 0x40000000, 0x100000, 0),
    'map': P.map_msg(2, [(0, 0x1000, 0x1000000), (0x1000, 0x1000, 0x2000000)]),
    'map-np-all': P.map_msg(0xff, (), tag=3),
    'reset': P.reset(),
}

EPC = {   # the host side talks to qemu-epc
    'hello-host': P.hello(P.ROLE_HOST),
    'cfg-read-id': P.cfg_read(1, 0, 4),
    'cfg-read-bar0': P.cfg_read(2, 0x10, 4),
    'cfg-read-cap': P.cfg_read(3, 0x34, 1),
    'cfg-write-bar0': P.cfg_write(4, 0x10, 4, BAR0_HOST),
    'cfg-write-command': P.cfg_write(5, 0x04, 2, 0x6),
    'cfg-write-msi': P.cfg_write(6, 0x50, 2, 0x1),
    'cfg-write-ext': P.cfg_write(7, 0x100, 4, 0xffffffff),
    'mem-read-bar0': P.mem_read(8, BAR0_HOST, 4),
    'mem-read-bar0-4k': P.mem_read(9, BAR0_HOST + 0x1000, 4096),
    'mem-write-bar0': P.mem_write(BAR0_HOST + 0x10, bytes(range(16))),
    'mem-write-bar0-np': P.mem_write(BAR0_HOST + 0x20, b'\x01\x02\x03\x04', tag=10),
    'io-read': P.mem_read(11, 0xc000, 4, P.IO_READ),
    'io-write': P.mem_write(0xc000, b'\x01', tag=12, t=P.IO_WRITE),
    'cpl-unknown-tag': P.cpl(13, P.MEM_READ, P.SC, b'\xff' * 4),
    'cpl-ur': P.cpl(14, P.MEM_WRITE, P.UR),
    'setup-bar0-and-read': (P.cfg_write(15, 0x10, 4, BAR0_HOST) +
                            P.cfg_write(16, 0x04, 2, 0x6) +
                            P.mem_read(17, BAR0_HOST + 4, 8)),
    'intx': P.intx(1, True),
    'link': P.link(1, STD_BARS),
    'reset': P.reset(),
    'setup-then-reset': (P.cfg_write(18, 0x10, 4, BAR0_HOST) +
                         P.cfg_write(19, 0x04, 2, 0x6) + P.reset() +
                         P.cfg_read(20, 0x04, 2)),
}

BRIDGE = {   # the endpoint side talks to epf-bridge
    'hello-endpoint': P.hello(P.ROLE_ENDPOINT),
    'map-bar2': P.map_msg(2, [(0, 0x10000, HOST_RAM)]),
    'map-np-none': P.map_msg(0, (), tag=11),
    'link-up': P.link(1, STD_BARS),
    'link-up-io-64': P.link(1, [(0x1000, 0xc), (0, 0), (0x100, 1), (0x4000, 0x8)], pin=4),
    'link-down': P.link(0),
    'intx-assert': P.intx(0, True),
    'intx-deassert': P.intx(0, False),
    'mem-read-ram': P.mem_read(1, HOST_RAM, 64),
    'mem-read-ram-4k': P.mem_read(2, HOST_RAM + 0x1000, 4096),
    'mem-write-ram': P.mem_write(HOST_RAM + 0x100, bytes(range(64))),
    'mem-write-ram-np': P.mem_write(HOST_RAM + 0x200, b'\x42' * 8, tag=3),
    'msi-write': P.mem_write(MSI_ADDR, b'\x00\x00\x00\x00'),
    'io-read': P.mem_read(4, 0x60, 1, P.IO_READ),
    'cpl-cfg-read': P.cpl(5, P.CFG_READ, P.SC, b'\x4c\x10\x00\xb5'),
    'cpl-mem-read': P.cpl(6, P.MEM_READ, P.SC, b'\x00' * 4),
    'cpl-ca': P.cpl(7, P.CFG_WRITE, P.CA),
    'cfg-read': P.cfg_read(8, 0, 4),
}


def check(name, blob):
    """Every seed is a sequence of valid messages."""
    while blob:
        m = P.Msg()
        n = P.lib.qep_msg_decode(blob, len(blob), C.byref(m))
        if n <= 0:
            sys.exit('gen-corpus: seed %s does not decode: %s'
                     % (name, P.lib.qep_strerror(n).decode()))
        blob = blob[n:]


def write(name, msgs):
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if not f.startswith('crash-'):
            os.unlink(os.path.join(d, f))
    for k, v in msgs.items():
        check(k, v)
        with open(os.path.join(d, k + '.bin'), 'wb') as f:
            f.write(v)


write('corpus-proto', PROTO)
write('corpus-epc', EPC)
write('corpus-bridge', BRIDGE)
