# SPDX-License-Identifier: Apache-2.0
"""A service-account volume laid out like the kubelet's AtomicWriter
(k/k pkg/volume/util/atomic_writer.go): the files live in a timestamped
directory, `..data` is a symlink to it, and `token`, `ca.crt` and `namespace`
are symlinks through `..data`.  A rotation writes a new directory, points
`..data_tmp` at it and renames that over `..data` (one atomic step), then
removes the old directory: a client that kept an fd or inode of the old
file keeps reading the old token."""
import datetime
import os
import shutil

FILES = ("token", "ca.crt", "namespace")


def _stamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("..%Y_%m_%d_%H_%M_%S.%f")


def write(d, token, ca_pem=b"", namespace="default"):
    """Create or rotate the volume in d; returns the new data dir name."""
    os.makedirs(d, exist_ok=True)
    new = _stamp()
    while os.path.exists(os.path.join(d, new)):
        new += "x"
    nd = os.path.join(d, new)
    os.mkdir(nd)
    contents = {"token": token.encode(), "ca.crt": ca_pem, "namespace": namespace.encode()}
    for name in FILES:
        with open(os.path.join(nd, name), "wb") as f:
            f.write(contents[name])
    data = os.path.join(d, "..data")
    old = os.readlink(data) if os.path.islink(data) else None
    tmp = os.path.join(d, "..data_tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(new, tmp)
    os.rename(tmp, data)
    for name in FILES:
        link = os.path.join(d, name)
        if not os.path.islink(link):
            os.symlink(os.path.join("..data", name), link)
    if old and old != new:
        shutil.rmtree(os.path.join(d, old), ignore_errors=True)
    return new


def read_ca(d):
    try:
        with open(os.path.join(d, "ca.crt"), "rb") as f:
            return f.read()
    except OSError:
        return b""
