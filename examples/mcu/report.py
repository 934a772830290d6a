"""Flash and RAM of the MCU example from its linker map (ld.lld's -Map, written by build.rs).

Usage: python3 report.py [path/to/mcu.map]   (default: the newest under target/)
Flash is what the image stores: the vector table, code, read-only data (the weights among them)
and the initial values of .data. RAM is .data, .bss (the arena among them) and .uninit; the
stack comes on top (the program prints its measured depth).
"""

import glob
import os
import sys


def sections(path):
    """Top-level output sections: name -> size in bytes."""
    out, col = {}, None
    with open(path) as f:
        for line in f:
            if col is None:
                if "Out" in line and "VMA" in line:
                    col = line.index("Out")
                continue
            rest = line[col:].split()
            if rest and line[col] != " " and rest[0].startswith("."):
                name = rest[0]
                out[name] = int(line.split()[2], 16)
    return out


def main():
    if len(sys.argv) > 1:
        path = sys.argv[1]
    else:
        maps = glob.glob(os.path.join(os.path.dirname(__file__), "target/**/mcu.map"), recursive=True)
        path = max(maps, key=os.path.getmtime)
    s = sections(path)
    flash_parts = [".vector_table", ".text", ".rodata", ".data"]
    ram_parts = [".data", ".bss", ".uninit"]
    for n in sorted(set(flash_parts + ram_parts)):
        print(f"{n:14} {s.get(n, 0):8} bytes")
    print(f"flash          {sum(s.get(n, 0) for n in flash_parts):8} bytes")
    print(f"RAM (static)   {sum(s.get(n, 0) for n in ram_parts):8} bytes")


if __name__ == "__main__":
    main()
