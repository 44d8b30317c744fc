# SPDX-License-Identifier: GPL-2.0-or-later
"""The wire format's header (proto/qemu-epc-proto.h) read from Python: its
#defines, enums and the layout of its structs, and the PCIe-style names
Wireshark users filter on.  The dissector's generator
(scripts/gen-dissector.py) and the capture reader (capture.py) take both
from here, so neither keeps a copy that could drift from the header."""
import os
import re

HEADER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      'proto', 'qemu-epc-proto.h')

# what a Wireshark user filters on (qepc.type == "MRd"); the wire's names
# are the C enum's
MNEMONIC = {
    'HELLO': 'Hello', 'CFG_READ': 'CfgRd', 'CFG_WRITE': 'CfgWr',
    'MEM_READ': 'MRd', 'MEM_WRITE': 'MWr', 'IO_READ': 'IORd',
    'IO_WRITE': 'IOWr', 'COMPLETION': 'Cpl', 'INTX': 'INTx', 'LINK': 'Link',
    'FDS': 'FDS', 'MAP': 'Map', 'RESET': 'Reset',
}
SIZES = {'uint8_t': 1, 'int8_t': 1, 'uint16_t': 2, 'uint32_t': 4, 'uint64_t': 8}
ENUMS = ('qep_msg_type', 'qep_cpl_status', 'qep_role', 'qep_fd_kind',
         'qep_cap_kind', 'qep_cap_dir', 'qep_cap_note')


def strip_comments(text):
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    return re.sub(r'//[^\n]*', ' ', text)


def parse(text):
    """(defines, enums, structs) of the header's text; ValueError for
    what this reader does not know."""
    text = strip_comments(text)
    defines = {}
    for name, val in re.findall(r'#define\s+(QEP_\w+)\s+([^\n]+)', text):
        val = val.strip()
        m = re.fullmatch(r'\(?(0x[0-9a-fA-F]+|\d+)u?l*\)?', val)
        m2 = re.fullmatch(r'\(1ull << (\d+)\)', val)
        if m:
            defines[name] = int(m.group(1), 0)
        elif m2:
            defines[name] = 1 << int(m2.group(1))
    enums = {}
    for name, body in re.findall(r'enum\s+(\w+)\s*{([^}]*)}', text):
        vals, nxt = {}, 0
        for item in body.split(','):
            item = item.strip()
            if not item:
                continue
            if '=' in item:
                k, v = (x.strip() for x in item.split('=', 1))
                v = vals[v] if v in vals else int(v, 0)   # = an earlier member
            else:
                k, v = item, nxt
            vals[k] = v
            nxt = v + 1
        enums[name] = list(vals.items())
    structs = {}
    for name, body in re.findall(r'struct\s+(\w+)\s*{([^}]*)}\s*;', text):
        off, fields, aligns = 0, [], [1]
        for decl in body.split(';'):
            decl = ' '.join(decl.split())
            if not decl:
                continue
            m = re.fullmatch(r'(\w+|struct \w+) (\w+)(?:\[(\w+)\])?', decl)
            if not m:
                raise ValueError('cannot read "%s" in struct %s' % (decl, name))
            ctype, field, count = m.groups()
            if ctype.startswith('struct '):
                sub = ctype.split()[1]
                if sub not in structs:
                    raise ValueError('struct %s before its definition' % sub)
                size, align = structs[sub]['size'], structs[sub]['align']
            elif ctype in SIZES:
                size = align = SIZES[ctype]
            else:
                raise ValueError('type %s of %s.%s unknown' % (ctype, name, field))
            n = 1
            if count:
                n = int(count) if count.isdigit() else defines[count]
            off = (off + align - 1) // align * align
            fields.append((field, off, size, n))
            aligns.append(align)
            off += size * n
        align = max(aligns)
        structs[name] = {'fields': fields, 'size': (off + align - 1) // align * align,
                         'align': align}
    # the header states its sizes: what was read must agree
    for name, size in re.findall(r'_Static_assert\(sizeof\(struct (\w+)\) == (\d+)', text):
        if structs[name]['size'] != int(size):
            raise ValueError('struct %s read as %d bytes, the header says %s'
                     % (name, structs[name]['size'], size))
    return defines, enums, structs




def read(path=HEADER):
    with open(path) as f:
        return parse(f.read())


def names(enums):
    """{message type: name for Wireshark}; ValueError for a type that has
    none."""
    out = {}
    for k, v in enums['qep_msg_type']:
        short = k[len('QEP_MSG_'):]
        if short == 'TYPE_MAX':
            continue
        if short not in MNEMONIC:
            raise ValueError('message type %s has no name for Wireshark' % k)
        out[v] = MNEMONIC[short]
    return out
