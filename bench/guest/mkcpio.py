#!/usr/bin/env python3
"""bench/guest/mkcpio.py OUT INIT: writes a newc cpio initramfs (gzip) holding
/init (the file INIT), /dev/console and /proc - no root rights needed."""
import gzip
import sys


def entry(name, mode, data=b"", rdev=(0, 0), ino=[0]):
    ino[0] += 1
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join(f"{v:08X}" for v in (
        ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0))
    out = hdr.encode() + name_b
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def main():
    out, init = sys.argv[1], sys.argv[2]
    data = open(init, "rb").read()
    blob = b"".join([
        entry("dev", 0o040755),
        entry("dev/console", 0o020600, rdev=(5, 1)),
        entry("proc", 0o040555),
        entry("init", 0o100755, data),
        entry("TRAILER!!!", 0),
    ])
    blob += b"\0" * (-len(blob) % 512)
    with gzip.open(out, "wb") as f:
        f.write(blob)


main()
