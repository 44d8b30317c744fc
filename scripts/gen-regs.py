#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turn qemu-epc-regs.h into a Python module (the device tests) or a shell
library (the guest scripts), so the register map is written once.
usage: gen-regs.py py|sh IN.h OUT"""
import re
import sys

lang, src_path, out_path = sys.argv[1:4]
src = open(src_path).read()
if lang == 'py':
    out = ['# generated from qemu-epc-regs.h by scripts/gen-regs.py; do not edit']
else:
    out = ['# generated from qemu-epc-regs.h by scripts/gen-regs.py; do not edit',
           '# (sourced by guest scripts: constants as variables, macros with',
           '# arguments as functions that print their value)']
for m in re.finditer(r'^#define\s+(QEPC_\w+)(\([\w, ]+\))?\s+(.+?)\s*(/\*.*)?$', src, re.M):
    name, args, body = m.group(1), m.group(2), m.group(3)
    body = re.sub(r'(0x[0-9a-fA-F]+|\d+)u\b', r'\1', body)
    if lang == 'py':
        out.append('def %s%s: return %s' % (name, args, body) if args else
                   '%s = %s' % (name, body))
        continue
    if args:
        for i, a in enumerate(args.strip('()').split(',')):
            body = re.sub(r'\b%s\b' % a.strip(), '$%d' % (i + 1), body)
        out.append('%s() { echo $((%s)); }' % (name, body))
    else:
        out.append('%s=$((%s))' % (name, body))
open(out_path, 'w').write('\n'.join(out) + '\n')
