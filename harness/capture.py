# SPDX-License-Identifier: GPL-2.0-or-later
"""Read a device's capture=FILE (pcapng, docs/protocol.md "Capture format"):
the section and interface options and each record, with the message
header's type and tag read from the wire bytes.  `run --capture` counts a
capture with it; the tests also decode every record with proto/."""
import collections
import struct

import proto_header

SHB, IDB, EPB = 0x0a0d0d0a, 1, 6
# the record kinds, message types and notes, as proto/qemu-epc-proto.h has them
_, _ENUMS, _ = proto_header.read()
_V = {k: v for e in _ENUMS.values() for k, v in e}
MESSAGE, EVENT = _V['QEP_CAP_MESSAGE'], _V['QEP_CAP_EVENT']
TYPES = proto_header.names(_ENUMS)
NOTES = {v: k[len('QEP_NOTE_'):] for k, v in _ENUMS['qep_cap_note']
         if k not in ('QEP_NOTE_NONE', 'QEP_NOTE_MAX')}


class Record:
    def __init__(self, ts_ns, epb_flags, data):
        self.ts_ns, self.epb_flags = ts_ns, epb_flags
        (self.version, self.kind, self.dir, self.function, self.note,
         _) = struct.unpack_from('<BBBBHH', data)
        self.body = data[8:]
        self.type = self.tag = None
        self.text = None
        if self.kind == EVENT:
            self.text = self.body.decode(errors='replace')
        elif len(self.body) >= 16:
            _, self.type, _, _, self.tag = struct.unpack_from('<IHHIH', self.body)

    def name(self):
        return TYPES.get(self.type, 'type %s' % self.type)

    def label(self):
        """"sent" or "received", the message's name and its note, if any."""
        return '%s %s%s' % ('sent' if self.dir == 0 else 'received', self.name(),
                            '(%s)' % NOTES[self.note] if self.note in NOTES else '')


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
    """(section options, (link type, interface options), [Record]);
    ValueError for a file that is not a whole capture of ours."""
    with open(path, 'rb') as f:
        data = f.read()
    off, shb, idb, recs = 0, None, None, []
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from('<II', data, off)
        if blen < 12 or off + blen > len(data):
            raise ValueError('%s: truncated block at byte %d' % (path, off))
        if struct.unpack_from('<I', data, off + blen - 4)[0] != blen:
            raise ValueError('%s: block lengths disagree at byte %d' % (path, off))
        body = data[off + 8:off + blen - 4]
        if btype == SHB:
            if struct.unpack_from('<I', body)[0] != 0x1a2b3c4d:
                raise ValueError('%s: not a little-endian pcapng file' % path)
            shb = options(body[16:])
        elif btype == IDB:
            linktype, _, _ = struct.unpack_from('<HHI', body)
            idb = (linktype, options(body[8:]))
        elif btype == EPB:
            iface, hi, lo, caplen, origlen = struct.unpack_from('<IIIII', body)
            if iface != 0 or caplen != origlen:
                raise ValueError('%s: record on interface %d, %d of %d bytes'
                                 % (path, iface, caplen, origlen))
            opts = options(body[20 + (caplen + 3) // 4 * 4:])
            flags = struct.unpack('<I', opts[2][0])[0] if 2 in opts else None
            recs.append(Record(hi << 32 | lo, flags, body[20:20 + caplen]))
        else:
            raise ValueError('%s: unexpected block type 0x%x' % (path, btype))
        off += blen
    if off != len(data) or shb is None or idb is None:
        raise ValueError('%s: not a whole capture' % path)
    return shb, idb, recs


def summary(path):
    """One line: how many messages of each kind and direction, events."""
    _, _, recs = read(path)
    count = collections.Counter()
    for r in recs:
        if r.kind == EVENT:
            count['events'] += 1
        else:
            count[r.label()] += 1
    return ', '.join('%s %d' % (k, v) for k, v in sorted(count.items()))


def tail(path, n=30):
    """The last n records, one line each: seconds since the first record,
    sent or received, the message and its tag (or the event's text)."""
    _, _, recs = read(path)
    if not recs:
        return []
    t0 = recs[0].ts_ns
    out = []
    for r in recs[-n:]:
        when = '%10.6f s' % ((r.ts_ns - t0) / 1e9)
        if r.kind == EVENT:
            out.append('%s event: %s' % (when, r.text))
        else:
            out.append('%s %s tag %s' % (when, r.label(), r.tag))
    return out
