#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turn qemu-epc-regs.h into a Python module for the tests, so the register
map is written once.  usage: gen-regs-py.py IN.h OUT.py"""
import re, sys

src = open(sys.argv[1]).read()
out = ['# generated from qemu-epc-regs.h by scripts/gen-regs-py.py; do not edit']
for m in re.finditer(r'^#define\s+(QEPC_\w+)(\([\w, ]+\))?\s+(.+?)\s*(/\*.*)?$', src, re.M):
    name, args, body = m.group(1), m.group(2), m.group(3)
    body = re.sub(r'(0x[0-9a-fA-F]+|\d+)u\b', r'\1', body)
    if args:
        out.append('def %s%s: return %s' % (name, args, body))
    else:
        out.append('%s = %s' % (name, body))
open(sys.argv[2], 'w').write('\n'.join(out) + '\n')
