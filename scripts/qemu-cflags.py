#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Print, one per line, the compiler flags for a device module built
against the QEMU headers in TREE (made by scripts/setup.sh), after checking
that TREE is the source of the installed QEMU binary.  Used by meson.build.

usage: qemu-cflags.py TREE QEMU_BINARY

QEMU_BINARY 'none' is a compile check against a QEMU that is not here: no
version comparison, and the modules' built-for package names no QEMU.
"""
import json, os, re, shlex, subprocess, sys

def fail(msg):
    sys.stderr.write('qemu-epc: %s\n' % msg)
    sys.exit(1)

def main():
    if len(sys.argv) != 3:
        fail(__doc__)
    tree, binary = sys.argv[1], sys.argv[2]
    build = os.path.join(tree, 'build')
    try:
        cc = json.load(open(os.path.join(build, 'compile_commands.json')))
    except OSError as e:
        fail('no configured QEMU tree at %s (%s); run ./qemu-epc-bench setup'
             % (tree, e.strerror))
    hdr = open(os.path.join(build, 'config-host.h')).read()
    m = re.search(r'#define QEMU_VERSION "([^"]+)"', hdr)
    tree_version = m.group(1) if m else '?'
    if binary == 'none':
        out = 'QEMU emulator version %s (compile check only)' % tree_version
    else:
        try:
            out = subprocess.run([binary, '--version'], capture_output=True,
                                 text=True, check=True).stdout.splitlines()[0]
        except (OSError, subprocess.CalledProcessError) as e:
            fail('cannot run %s --version: %s' % (binary, e))
    m = re.match(r'QEMU emulator version (\S+)(?: \((.*)\))?', out)
    if not m:
        fail('cannot parse the version of %s: %r' % (binary, out))
    bin_version, package = m.group(1), m.group(2) or ''
    if bin_version != tree_version:
        fail('the QEMU headers in %s are for QEMU %s but %s is QEMU %s; '
             'modules must be built against the QEMU they are loaded into '
             '(run ./qemu-epc-bench setup to fetch the matching source)'
             % (tree, tree_version, binary, bin_version))
    entry = next((e for e in cc if e['file'].endswith('hw/misc/edu.c')), None)
    if entry is None:
        fail('hw/misc/edu.c not in %s/compile_commands.json' % build)
    args = shlex.split(entry['command'])[1:]
    flags, i = [], 0
    keep_arg = ('-I', '-iquote', '-isystem', '-D')
    while i < len(args):
        a = args[i]
        if a in ('-MD',) or a.startswith('-fdiagnostics-color') or a in ('-O2', '-g', '-fPIE', '-c'):
            i += 1
            continue
        if a in ('-MQ', '-MF', '-o'):
            i += 2
            continue
        if a.endswith('.c'):
            i += 1
            continue
        if a in keep_arg:
            val = args[i + 1]
            if a != '-D' and not os.path.isabs(val):
                val = os.path.normpath(os.path.join(entry['directory'], val))
            flags += [a, val]
            i += 2
            continue
        if a.startswith('-I') and not os.path.isabs(a[2:]):
            a = '-I' + os.path.normpath(os.path.join(entry['directory'], a[2:]))
        flags.append(a)
        i += 1
    flags += ['-fPIC', '-DQEP_BUILT_FOR_PKGVERSION="%s"' % package]
    print('\n'.join(flags))

main()
