"""CPU time of a received filter list: reading a million rules, then indexing them.

In process, without a daemon or a socket: the rules are fed to ``FilterListReader`` in
reads of 256 KiB (what ``WireStream`` asks for), then the list is asked about two names
(the first question builds the index). One line per shape of list: the plain rules
rsync's clients send (``- PAT``), and the shapes a hostile client could choose to miss the
bulk paths (a NUL in every rule, modifiers, one odd rule in eight, wildcards without an
index key).

    python benchmarks/filter_rules.py [--rules 1000000] [--shapes plain,nul]
"""

from __future__ import annotations

import argparse
import struct
import time

from rsync_wire.proto.codec import NeedMoreData
from rsync_wire.proto.filters import FilterList, FilterListReader

SHAPES = {
    "plain": (b"- file%d.dat", b"- *.x%d", b"- dir%d/", b"- /top/a%d/b"),
    "nul": (b"- file%d.dat\0x",),
    "modifier": (b"-p file%d.dat",),
    "odd": (b"- file%d.dat",) * 7 + (b"-p dir%d",),
    "wild": (b"- *a%d*",),
}
READ = 256 * 1024


def run(shapes: tuple[bytes, ...], count: int) -> tuple[float, float]:
    wire = b"".join(
        struct.pack("<i", len(r)) + r for r in (shapes[i % len(shapes)] % i for i in range(count))
    )
    wire += b"\0\0\0\0"
    flist = FilterList(protocol=31)
    reader = FilterListReader(flist, protocol=31)
    buf = bytearray()
    taken = 0
    start = time.process_time()
    while True:
        try:
            done, pos = reader.decode_some(buf, 0)
        except NeedMoreData:
            buf += wire[taken : taken + READ]
            taken += READ
            continue
        del buf[:pos]
        if done:
            break
    read = time.process_time()
    flist.excluded(b".", is_dir=True)
    flist.excluded(b"keep.txt", is_dir=False)
    return read - start, time.process_time() - read


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rules", type=int, default=1_000_000)
    p.add_argument("--shapes", default=",".join(SHAPES), help="of " + ", ".join(SHAPES))
    args = p.parse_args()
    print("| rules | read s | index and two names s |")
    print("|---|---|---|")
    for name in args.shapes.split(","):
        read, index = run(SHAPES[name], args.rules)
        print(f"| {name} | {read:.2f} | {index:.2f} |")


if __name__ == "__main__":
    main()
