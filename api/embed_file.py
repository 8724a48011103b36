#!/usr/bin/env python3
"""Writes a C file that holds a file's bytes: `const char NAME[]` (NUL added)
and `const unsigned long NAME_len`. Used by meson to put the OpenAPI
document and the web page into the ragd binary."""
import sys


def main():
    src, out, name = sys.argv[1:4]
    data = open(src, "rb").read()
    with open(out, "w") as f:
        f.write(f"/* Generated from {src.split('/')[-1]} by embed_file.py. */\n")
        f.write(f"const char {name}[] = {{\n")
        for i in range(0, len(data), 16):
            f.write("    " + ", ".join(str(b) for b in data[i:i + 16]) + ",\n")
        f.write("    0};\n")
        f.write(f"const unsigned long {name}_len = {len(data)};\n")


if __name__ == "__main__":
    main()
