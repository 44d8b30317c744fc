# SPDX-License-Identifier: GPL-2.0-or-later
"""Read a capture=FILE of qemu-epc or epf-bridge (pcapng, docs/protocol.md
"Capture format") independently of the devices' writer: the section and
interface headers, and each record with its header fields and the decoded
message (the proto library's decoder, so every captured message is
validated)."""
import ctypes as C
import struct

import peer as P

SHB, IDB, EPB = 0x0a0d0d0a, 1, 6


class Record:
    def __init__(self, ts_ns, flags, data):
        self.ts_ns, self.epb_flags = ts_ns, flags
        (self.version, self.kind, self.dir, self.function, self.note,
         _) = struct.unpack_from('<BBBBHH', data)
        self.body = data[8:]
        self.msg = None
        self.text = None
        if self.kind == P.W.QEP_CAP_EVENT:
            self.text = self.body.decode()
        else:
            m = P.Msg()
            n = P.lib.qep_msg_decode(self.body, len(self.body), C.byref(m))
            if n != len(self.body):
                raise ValueError('captured message does not decode (%d of %d bytes)'
                                 % (n, len(self.body)))
            self.msg = P.Message(m, self.body)

    def __repr__(self):
        return '<record %s dir %d fn %d note %d>' % (
            self.text if self.msg is None else P.W.__dict__.get('type', self.msg.type),
            self.dir, self.function, self.note)


def options(body):
    out, off = {}, 0
    while off + 4 <= len(body):
        code, ln = struct.unpack_from('<HH', body, off)
        if code == 0:
            break
        out.setdefault(code, []).append(body[off + 4:off + 4 + ln])
        off += 4 + (ln + 3) // 4 * 4
    return out


def read(path):
    """(section options, interface (linktype, options), [Record])."""
    with open(path, 'rb') as f:
        data = f.read()
    off, shb, idb, recs = 0, None, None, []
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from('<II', data, off)
        if blen < 12 or off + blen > len(data):
            raise ValueError('truncated block at %d' % off)
        if struct.unpack_from('<I', data, off + blen - 4)[0] != blen:
            raise ValueError('block lengths disagree at %d' % off)
        body = data[off + 8:off + blen - 4]
        if btype == SHB:
            if struct.unpack_from('<IHH', body)[0] != 0x1a2b3c4d:
                raise ValueError('not little-endian pcapng')
            shb = options(body[16:])
        elif btype == IDB:
            linktype, _, snap = struct.unpack_from('<HHI', body)
            idb = (linktype, options(body[8:]))
        elif btype == EPB:
            iface, hi, lo, caplen, origlen = struct.unpack_from('<IIIII', body)
            if iface != 0 or caplen != origlen:
                raise ValueError('record on interface %d, %d of %d bytes'
                                 % (iface, caplen, origlen))
            opts = options(body[20 + (caplen + 3) // 4 * 4:])
            flags = struct.unpack('<I', opts[2][0])[0] if 2 in opts else None
            recs.append(Record(hi << 32 | lo, flags, body[20:20 + caplen]))
        else:
            raise ValueError('unexpected block type 0x%x' % btype)
        off += blen
    if off != len(data):
        raise ValueError('%d bytes after the last block' % (len(data) - off))
    return shb, idb, recs
