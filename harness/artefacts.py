# SPDX-License-Identifier: GPL-2.0-or-later
"""Where the bench's artefacts are: the tree, the build directory, the
launcher and QEMU, the guest kernels of each series (built or found in the
cache by scripts/guest-kernel.sh), the driver built for each of them, and the
programs setup fetched or built for the guest images (iperf3, fio)."""
import os
import subprocess

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUEST_DIR = os.path.join(TOP, 'guest')
# the tree's launcher, or another (tests/pkg: the installed one)
LAUNCH = os.environ.get('QEMU_EPC_LAUNCH', os.path.join(TOP, 'qemu-epc-launch'))
QEMU = os.environ.get('QEMU', 'qemu-system-x86_64')
SERIES = ('6.12', '7.3')      # the kernel series the bench boots


class ArtefactError(Exception):
    """Something setup makes is missing or failed to build."""


def build_dir():
    """The meson build directory ($QEMU_EPC_BUILD, default build/)."""
    return os.environ.get('QEMU_EPC_BUILD', os.path.join(TOP, 'build'))


def kernel_dir(series='6.12', variant=None, timeout=None):
    """Build (or find cached) the project's guest kernel of a series (or
    its variant, e.g. debug); returns its dir (scripts/guest-kernel.sh)."""
    cmd = [os.path.join(TOP, 'scripts', 'guest-kernel.sh')]
    cmd += ['--variant', variant] if variant else ['--series', series]
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=timeout,
                           env=dict(os.environ, QEMU_EPC_BUILD=build_dir()))
    except subprocess.TimeoutExpired:
        raise ArtefactError('timed out after %d s waiting for scripts/guest-kernel.sh %s'
                            % (timeout, ' '.join(cmd[1:])))
    if r.returncode:
        raise ArtefactError('guest kernel build failed (%s):\n%s'
                            % (' '.join(cmd[1:]), r.stderr))
    return r.stdout.strip().splitlines()[-1]


def kmod_path(series='6.12'):
    """pcie-qemu-ep built for a series' guest kernel: kmod/ itself for
    6.12, a copy under BUILD/kmod-SERIES for the others."""
    if series == '6.12':
        return os.path.join(TOP, 'kmod', 'pcie-qemu-ep.ko')
    return os.path.join(build_dir(), 'kmod-' + series, 'kmod', 'pcie-qemu-ep.ko')


def built(name):
    """A program the meson build made (guest programs are static)."""
    path = os.path.join(build_dir(), name)
    if not os.path.exists(path):
        raise ArtefactError('%s missing: ./qemu-epc-bench setup builds it' % path)
    return path


def recorded(name, what):
    """The path setup recorded in BUILD/NAME."""
    try:
        with open(os.path.join(build_dir(), name)) as f:
            return f.read().strip()
    except OSError:
        raise ArtefactError('%s/%s missing: ./qemu-epc-bench setup %s'
                            % (build_dir(), name, what))


def iperf3_files():
    """iperf3 and its libraries for a guest image: (path in the image,
    file) pairs; setup unpacks bookworm's packages and names the root in
    BUILD/iperf3-root."""
    import initramfs
    root = recorded('iperf3-root', 'fetches iperf3')
    try:
        return initramfs.program_files(os.path.join(root, 'usr', 'bin', 'iperf3'),
                                       os.path.join(root, 'usr', 'lib', 'x86_64-linux-gnu'))
    except RuntimeError as e:
        raise ArtefactError(str(e))


def fio_files():
    """fio for a guest image (built static by setup, path in BUILD/fio)."""
    return [('usr/bin/fio', recorded('fio', 'builds fio'))]


def kernel_release(bzimage):
    """The release string an x86 bzImage carries in its boot header."""
    with open(bzimage, 'rb') as f:
        data = f.read(0x10000)
    if len(data) < 0x210 or data[0x202:0x206] != b'HdrS':
        raise ValueError('%s is not an x86 bzImage' % bzimage)
    off = int.from_bytes(data[0x20e:0x210], 'little') + 0x200
    return data[off:off + 256].split(b' ', 1)[0].decode(errors='replace')


def release_version(release):
    """(major, minor) of a kernel release string such as 6.12.95 or
    7.3.4-rc1+, or None."""
    import re
    m = re.match(r'(\d+)\.(\d+)', release)
    return (int(m.group(1)), int(m.group(2))) if m else None
