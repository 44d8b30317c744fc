# SPDX-License-Identifier: GPL-2.0-or-later
"""A test peer speaking the qemu-epc wire protocol from Python.

Encoding, decoding and validation are those of proto/ (the C library
libqemu-epc-proto.so, through ctypes), so the test peer and the devices share
one implementation of the wire format."""
import ctypes as C
import os
import select
import socket
import sys
import time

BUILD = os.environ.get('QEMU_EPC_BUILD', os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'build'))
lib = C.CDLL(os.path.join(BUILD, 'libqemu-epc-proto.so'))

# the wire format, from proto/qemu-epc-proto.h (build/tests/proto.py)
sys.path.insert(0, os.path.join(BUILD, 'tests'))
import proto as W  # noqa: E402
from proto import (Hdr, Hello, CfgReq as Cfg, MemReq as Mem, Cpl, Intx,  # noqa: E402,F401
                   BarDesc, Link, Fds, Map, MapPiece, Msg)

(HELLO, CFG_READ, CFG_WRITE, MEM_READ, MEM_WRITE, IO_READ, IO_WRITE, COMPLETION, INTX,
 LINK, FDS, MAP, RESET) = (W.QEP_MSG_HELLO, W.QEP_MSG_CFG_READ, W.QEP_MSG_CFG_WRITE,
                           W.QEP_MSG_MEM_READ, W.QEP_MSG_MEM_WRITE, W.QEP_MSG_IO_READ,
                           W.QEP_MSG_IO_WRITE, W.QEP_MSG_COMPLETION, W.QEP_MSG_INTX,
                           W.QEP_MSG_LINK, W.QEP_MSG_FDS, W.QEP_MSG_MAP, W.QEP_MSG_RESET)
FEAT_SHMEM, FEAT_RESET, FEAT_CFG_STATE = (W.QEP_FEAT_SHMEM, W.QEP_FEAT_RESET,
                                       W.QEP_FEAT_CFG_STATE)
FD_GUEST_RAM, FD_RAM_GONE = W.QEP_FD_GUEST_RAM, W.QEP_FD_RAM_GONE
ROLE_ENDPOINT, ROLE_HOST = W.QEP_ROLE_ENDPOINT, W.QEP_ROLE_HOST
SC, UR, CA = W.QEP_CPL_SC, W.QEP_CPL_UR, W.QEP_CPL_CA
HDR = C.sizeof(Hdr)
BUF = HDR + W.QEP_MAX_PAYLOAD + 64


lib.qep_msg_decode.restype = C.c_int
lib.qep_strerror.restype = C.c_char_p
for f in ('hello', 'cfg_read', 'cfg_write', 'mem_read', 'mem_write', 'cpl',
          'intx', 'link', 'fds', 'map', 'reset'):
    getattr(lib, 'qep_enc_' + f).restype = C.c_size_t
lib.qep_enc_hello.argtypes = [C.c_void_p, C.c_int, C.c_uint64]
lib.qep_enc_cfg_read.argtypes = [C.c_void_p, C.c_uint16, C.c_uint16, C.c_uint8]
lib.qep_enc_cfg_write.argtypes = [C.c_void_p, C.c_uint16, C.c_uint16, C.c_uint8, C.c_uint32]
lib.qep_enc_mem_read.argtypes = [C.c_void_p, C.c_int, C.c_uint16, C.c_uint64, C.c_uint32]
lib.qep_enc_mem_write.argtypes = [C.c_void_p, C.c_int, C.c_uint16, C.c_uint64, C.c_uint32,
                                  C.c_char_p]
lib.qep_enc_cpl.argtypes = [C.c_void_p, C.c_uint16, C.c_uint16, C.c_int, C.c_char_p,
                            C.c_uint32]
lib.qep_enc_intx.argtypes = [C.c_void_p, C.c_uint8, C.c_bool]
lib.qep_enc_link.argtypes = [C.c_void_p, C.POINTER(Link)]
lib.qep_enc_fds.argtypes = [C.c_void_p, C.POINTER(Fds)]
lib.qep_enc_map.argtypes = [C.c_void_p, C.c_uint16, C.c_uint8, C.c_uint8,
                            C.POINTER(MapPiece)]
lib.qep_enc_reset.argtypes = [C.c_void_p]
lib.qep_map_piece.argtypes = [C.c_void_p, C.c_uint, C.POINTER(MapPiece)]


def enc(fn, *args):
    buf = C.create_string_buffer(BUF)
    n = fn(buf, *args)
    return buf.raw[:n]


def hello(role, features=0): return enc(lib.qep_enc_hello, role, features)
def cfg_read(tag, off, ln): return enc(lib.qep_enc_cfg_read, tag, off, ln)
def cfg_write(tag, off, ln, v): return enc(lib.qep_enc_cfg_write, tag, off, ln, v)
def mem_read(tag, addr, ln, t=MEM_READ): return enc(lib.qep_enc_mem_read, t, tag, addr, ln)
def mem_write(addr, data, tag=0, t=MEM_WRITE):
    return enc(lib.qep_enc_mem_write, t, tag, addr, len(data), data)
def cpl(tag, req_type, status, data=b''):
    return enc(lib.qep_enc_cpl, tag, req_type, status, data, len(data))
def intx(pin, level): return enc(lib.qep_enc_intx, pin, level)


def fds(kind, nfds, gpa, size, offset):
    f = Fds(kind=kind, nfds=nfds, gpa=gpa, size=size, offset=offset)
    return enc(lib.qep_enc_fds, C.byref(f))


def reset(): return enc(lib.qep_enc_reset)


def map_msg(bar, pieces=(), tag=0):
    arr = (MapPiece * max(1, len(pieces)))(*[MapPiece(*p) for p in pieces])
    return enc(lib.qep_enc_map, tag, bar, len(pieces), arr)


def link(up, bars=(), pin=1):
    l = Link(up=up, intx_pin=pin if up else 0)
    for i, (size, flags) in enumerate(bars):
        l.bar[i].size, l.bar[i].flags = size, flags
    return enc(lib.qep_enc_link, C.byref(l))


def needs_completion(m):
    """Is this received message a request that wants a completion?"""
    return m.type in (CFG_READ, CFG_WRITE, MEM_READ, IO_READ, IO_WRITE) or \
        (m.type in (MEM_WRITE, MAP) and m.flags & 1)


class Message:
    def __init__(self, m, raw, fds=()):
        self.type = m.hdr.type
        self.tag = m.hdr.tag
        self.flags = m.hdr.flags
        self.m = m
        self.data = bytes(m.data[:m.data_len]) if m.data_len else b''
        self.raw = raw
        self.fds = list(fds)       # descriptors that came with it (FDS)

    def pieces(self):
        """A MAP message's pieces: [(offset, size, gpa)]."""
        out = []
        for i in range(self.m.u.map.count):
            p = MapPiece()
            lib.qep_map_piece(C.byref(self.m), i, C.byref(p))
            out.append((p.offset, p.size, p.gpa))
        return out

    def __repr__(self):
        return '<msg type %d tag %d>' % (self.type, self.tag)


class Peer:
    """One end of the link, as a listening endpoint or a connecting host."""

    def __init__(self, path, role, listen=False, send_hello=True, features=0):
        self.path, self.role = path, role
        self.features = features
        self.announced = []
        self.rx_fds = []           # (start, end of the read in the stream, fds)
        self.rx_base = 0           # stream offset of rx[0]
        self.rx = b''
        self.sock = None
        self.srv = None
        if listen:
            if os.path.exists(path):
                os.unlink(path)
            self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.srv.bind(path)
            self.srv.listen(2)
        self.send_hello = send_hello
        self.tag = 0

    def connect(self, timeout=10):
        end = time.monotonic() + timeout
        while True:
            try:
                if self.srv:
                    self.srv.settimeout(timeout)
                    self.sock, _ = self.srv.accept()
                else:
                    self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.sock.connect(self.path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > end:
                    raise TimeoutError('peer: no connection on %s in %d s' % (self.path, timeout))
                time.sleep(0.05)
            except socket.timeout:
                raise TimeoutError('peer: nobody connected to %s in %d s' % (self.path, timeout))
        self.rx = b''
        if self.send_hello:
            self.send(hello(self.role, self.features))
        return self

    def handshake(self, timeout=10):
        m = self.recv(timeout, 'HELLO from the device')
        assert m.type == HELLO, m
        return m

    def send(self, b):
        self.sock.sendall(b)

    def send_fds(self, b, fds):
        """One message with descriptors (SCM_RIGHTS) on its first byte."""
        n = socket.send_fds(self.sock, [b], fds)
        if n < len(b):
            self.sock.sendall(b[n:])

    def next_tag(self):
        self.tag = self.tag % 0xffff + 1
        return self.tag

    def recv(self, timeout=5, what='a message'):
        """Next message, decoded and validated by proto/."""
        end = time.monotonic() + timeout
        while True:
            if len(self.rx) >= HDR:
                m = Msg()
                buf = C.create_string_buffer(self.rx, len(self.rx))
                n = lib.qep_msg_decode(buf, len(self.rx), C.byref(m))
                if n > 0:
                    raw, self.rx = self.rx[:n], self.rx[n:]
                    # descriptors belong to the last message that starts
                    # within the read that brought them (the kernel stops a
                    # read after the write that carried them)
                    start, mine = self.rx_base, []
                    for rd in list(self.rx_fds):
                        rs, re_, fds = rd
                        if rs <= start < re_ and start + n >= re_:
                            mine += fds
                            self.rx_fds.remove(rd)
                    self.rx_base += n
                    return Message(m, raw, mine)
                if n != -1:   # -QEP_E_SHORT
                    raise ValueError('peer: invalid message from device: %s'
                                     % lib.qep_strerror(n).decode())
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError('peer: timed out after %.1f s waiting for %s' % (timeout, what))
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                b, fds, _, _ = socket.recv_fds(self.sock, 65536, 8)
                if not b:
                    raise EOFError('peer: connection closed while waiting for %s' % what)
                if fds:
                    at = self.rx_base + len(self.rx)
                    self.rx_fds.append((at, at + len(b), fds))
                self.rx += b

    def expect(self, mtype, timeout=5, what=None):
        """Next message other than (answered) config reads, which must be mtype."""
        m = self.recv(timeout, what or 'message type %d' % mtype)
        assert m.type == mtype, 'expected type %d, got %d' % (mtype, m.type)
        return m

    def request(self, msg_bytes, timeout=5):
        """Send a non-posted request; return the completion.  Shared-memory
        announcements (FDS, posted MAP) that come first are kept in
        self.announced."""
        self.send(msg_bytes)
        while True:
            m = self.recv(timeout, 'a completion')
            if m.type in (FDS, MAP) and not m.tag:
                self.announced.append(m)
                continue
            assert m.type == COMPLETION, 'expected a completion, got type %d' % m.type
            return m

    def closed(self, timeout=5):
        """True once the device closed the connection."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([self.sock], [], [], end - time.monotonic())
            if r:
                try:
                    b = self.sock.recv(65536)
                except ConnectionResetError:
                    return True
                if not b:
                    return True
                self.rx += b
        return False

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None
        if self.srv:
            self.srv.close()
            self.srv = None
