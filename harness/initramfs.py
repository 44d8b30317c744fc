# SPDX-License-Identifier: GPL-2.0-or-later
"""Build the guests' initramfs: a gzip'd newc cpio archive, written from
Python so that no root rights or device nodes are needed on the host."""

import gzip
import os
import re
import stat
import subprocess

from artefacts import GUEST_DIR, built

BUSYBOX = '/bin/busybox'
# the scripts' library and the register map in shell form (made by meson
# from qemu-epc-regs.h), in every image
SHARE = 'usr/local/share/qemu-epc'


class Cpio:
    """Minimal newc writer: directories, regular files, symlinks."""

    def __init__(self, path):
        self.f = gzip.open(path, 'wb', compresslevel=6)
        self.ino = 1
        self.dirs = set()

    def _entry(self, name, mode, data=b''):
        name_b = name.encode() + b'\0'
        hdr = '070701' + ''.join('%08x' % v for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        self.ino += 1
        self.f.write(hdr.encode() + name_b)
        self.f.write(b'\0' * (-(110 + len(name_b)) % 4))
        self.f.write(data)
        self.f.write(b'\0' * (-len(data) % 4))

    def mkdir(self, name):
        parts = name.strip('/').split('/')
        for i in range(1, len(parts) + 1):
            d = '/'.join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, stat.S_IFDIR | 0o755)

    def add_bytes(self, name, data, mode=0o644):
        name = name.strip('/')
        if '/' in name:
            self.mkdir(os.path.dirname(name))
        self._entry(name, stat.S_IFREG | mode, data)

    def add_file(self, name, src, mode=None):
        with open(src, 'rb') as f:
            data = f.read()
        if mode is None:
            mode = 0o755 if os.access(src, os.X_OK) else 0o644
        self.add_bytes(name, data, mode)

    def close(self):
        self._entry('TRAILER!!!', 0)
        self.f.close()


def wrapper_path():
    """The static pcitest wrapper (pcitest bounded and timed)."""
    return built('pcitest-wrapper')


def program_files(binary, libdir=None):
    """(path in the image, file) pairs for a dynamically linked program of
    this machine (at usr/bin/NAME) and every library ldd resolves for it,
    the dynamic loader included; libdir: searched before the system's
    libraries (a package unpacked, not installed)."""
    env = dict(os.environ)
    if libdir:
        env['LD_LIBRARY_PATH'] = libdir
    r = subprocess.run(['ldd', binary], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=env)
    if r.returncode != 0:
        raise RuntimeError('ldd %s failed: %s' % (binary, r.stdout.strip()))
    files = [('usr/bin/' + os.path.basename(binary), binary)]
    for line in r.stdout.splitlines():
        m = re.match(r'\s*(\S+) => not found', line)
        if m:
            raise RuntimeError('%s needs %s, which is not on this machine' % (binary, m.group(1)))
        m = re.match(r'\s*(\S+) => (/\S+) \(', line) or re.match(r'\s*(/\S+) \(', line)
        if not m:
            continue            # the vDSO
        if len(m.groups()) == 2:
            files.append(('lib/x86_64-linux-gnu/' + m.group(1), os.path.realpath(m.group(2))))
        else:
            files.append((m.group(1).lstrip('/'), os.path.realpath(m.group(1))))
    return files


def find_modules(root, names):
    """Map module name -> path of NAME.ko under root (first match)."""
    found = {}
    for dirpath, _, files in os.walk(root):
        for fn in files:
            if fn.endswith('.ko') and fn[:-3] in names and fn[:-3] not in found:
                found[fn[:-3]] = os.path.join(dirpath, fn)
    return found


def build(out, modules, pcitest, pcitest_sh, epf_script, host_script,
          suites=None, extra=(), texts=None):
    """Write the image used by both guests (the role is on the kernel
    command line).  modules: list of .ko paths, put in /lib/modules;
    pcitest, pcitest_sh: the kernel's pcitest and pcitest.sh, or None
    (kernels from 6.14 on have the kselftest instead, given in extra);
    suites: {name: [pcitest arguments]}, the case lists the default host
    script runs for qepc.suite=name; extra: (path in the image, file)
    pairs, executable; texts: {path in the image: [lines]}."""
    if not os.path.exists(BUSYBOX):
        raise RuntimeError('%s missing: install busybox-static '
                           '(scripts/setup.sh does)' % BUSYBOX)
    c = Cpio(out)
    for d in ('bin', 'sbin', 'dev', 'proc', 'sys', 'tmp', 'lib/modules',
              'usr/bin', 'usr/sbin', 'etc/qemu-epc'):
        c.mkdir(d)
    c.add_file('bin/busybox', BUSYBOX, 0o755)
    c.add_file('init', os.path.join(GUEST_DIR, 'init'), 0o755)
    c.add_file('etc/qemu-epc/epf.sh', epf_script, 0o755)
    c.add_file('etc/qemu-epc/host.sh', host_script, 0o755)
    c.add_file(SHARE + '/lib.sh', os.path.join(GUEST_DIR, 'lib.sh'), 0o644)
    c.add_file(SHARE + '/regs.sh', built('regs.sh'), 0o644)
    if pcitest:
        c.add_file('usr/local/bin/pcitest', pcitest, 0o755)
        c.add_file('usr/local/libexec/qemu-epc/pcitest', wrapper_path(), 0o755)
        c.add_file('usr/local/bin/qepc-memcpy', built('qepc-memcpy'), 0o755)
    if pcitest_sh:
        c.add_file(SHARE + '/pcitest.sh', pcitest_sh, 0o755)
    for name, cases in (suites or {}).items():
        c.add_bytes(SHARE + '/cases-' + name,
                    ''.join(a + '\n' for a in cases).encode())
    for ko in modules:
        c.add_file('lib/modules/' + os.path.basename(ko), ko, 0o644)
    for dest, src in extra:
        c.add_file(dest, src, 0o755)
    for dest, lines in (texts or {}).items():
        c.add_bytes(dest, ''.join(l + '\n' for l in lines).encode())
    c.close()
    return out


