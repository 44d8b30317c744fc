#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turn proto/qemu-epc-proto.h into a Python module for the test peer:
its numeric #defines and enum constants, and each struct as a ctypes
Structure (unions as ctypes Unions), so that the wire format is written
once.  usage: gen-proto-py.py IN.h OUT.py"""
import keyword
import re
import sys

src = open(sys.argv[1]).read()
src = re.sub(r'/\*.*?\*/', '', src, flags=re.S)
src = re.sub(r'//[^\n]*', '', src)

CTYPES = {'uint8_t': 'C.c_uint8', 'uint16_t': 'C.c_uint16', 'uint32_t': 'C.c_uint32',
          'uint64_t': 'C.c_uint64', 'int8_t': 'C.c_int8', 'int': 'C.c_int',
          'bool': 'C.c_bool'}
out = ['# generated from qemu-epc-proto.h by scripts/gen-proto-py.py; do not edit',
       'import ctypes as C', '']
consts = {}


def value(expr):
    expr = re.sub(r'\b(0x[0-9a-fA-F]+|\d+)[uUlL]+\b', r'\1', expr.strip())
    expr = re.sub(r'\(\s*sizeof\([^)]*\)\s*\)', '0', expr)
    try:
        return eval(expr, {}, dict(consts))
    except Exception:
        return None


for m in re.finditer(r'^#define\s+(QEP_\w+)\s+(.+?)\s*$', src, re.M):
    v = value(m.group(2))
    if isinstance(v, int):
        consts[m.group(1)] = v
for body in re.findall(r'enum\s+\w+\s*\{(.*?)\}', src, re.S):
    for name, expr in re.findall(r'(QEP_\w+)\s*=\s*([^,\n]+)', body):
        v = value(expr)
        if isinstance(v, int):
            consts[name] = v
for k, v in consts.items():
    out.append('%s = %d' % (k, v))
out.append('')


def fields(body, known):
    """ctypes field list of a struct or union body."""
    res = []
    body = body.strip()
    while body:
        m = re.match(r'(struct|union)\s*(\w*)\s*\{', body)
        if m and m.group(1) == 'union':
            # an anonymous union member: find its closing brace
            depth, i = 0, m.end() - 1
            while True:
                depth += {'{': 1, '}': -1}.get(body[i], 0)
                if depth == 0:
                    break
                i += 1
            inner, rest = body[m.end():i], body[i + 1:]
            name = re.match(r'\s*(\w+)\s*;', rest)
            uname = '_U%d' % len(unions)
            unions.append((uname, fields(inner, known)))
            res.append((name.group(1), uname))
            body = rest[name.end():].strip()
            continue
        m = re.match(r'(const\s+)?(struct\s+\w+|\w+)\s*(\*?)\s*(\w+)\s*(\[(\w+)\])?\s*;', body)
        if not m:
            raise SystemExit('gen-proto-py: cannot read %r' % body[:60])
        typ, ptr, name, n = m.group(2), m.group(3), m.group(4), m.group(6)
        if typ.startswith('struct '):
            t = py_name(typ.split()[1])
        else:
            t = CTYPES[typ]
        if ptr:
            t = 'C.POINTER(%s)' % t
        if n:
            t = '%s * %d' % (t, consts[n] if n in consts else int(n))
        if keyword.iskeyword(name):
            name += '_'              # e.g. intx.assert_
        res.append((name, t))
        body = body[m.end():].strip()
    return res


def py_name(c):
    return ''.join(w.capitalize() for w in c.replace('qep_', '').split('_'))


unions = []
known = set()
for name, body in re.findall(r'struct\s+(qep_\w+)\s*\{(.*?)\};', src, re.S):
    if '{' in body:
        # qep_msg holds a union: take the whole body up to its own end
        start = src.index('struct %s {' % name) + len('struct %s {' % name)
        depth, i = 1, start
        while depth:
            depth += {'{': 1, '}': -1}.get(src[i], 0)
            i += 1
        body = src[start:i - 1]
    fl = fields(body, known)
    for uname, ufl in unions:
        out.append('class %s(C.Union):' % uname)
        out.append('    _fields_ = [%s]' % ', '.join("('%s', %s)" % f for f in ufl))
        out.append('')
    unions = []
    out.append('class %s(C.Structure):' % py_name(name))
    out.append('    _fields_ = [%s]' % ', '.join("('%s', %s)" % f for f in fl))
    out.append('')
    known.add(name)

open(sys.argv[2], 'w').write('\n'.join(out) + '\n')
