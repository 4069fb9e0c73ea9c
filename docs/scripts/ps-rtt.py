#!/usr/bin/env python3
"""Round trip of one PS_IOV_GET against a lazy page server (ours or `criu page-server --lazy-pages`), one at a time.

usage: ps-rtt.py PORT N PAGES IMAGES_DIR PID

Reads IMAGES_DIR/pagemap-PID.img (CRIU 4.x: two magic words, then u32-length-prefixed protobuf entries; the first is the
head, each further one a run with vaddr = field 1, flags = field 4, nr_pages = field 5), picks N requests of PAGES pages
from the lazy runs (flags 6 = PE_LAZY | PE_PRESENT) in a seeded random order, sends each GET and reads its ADD_F reply
with the data before sending the next (CRIU's daemon asks one page per fault this way), then PS_IOV_CLOSE and its
status. Prints p50/p90/p99/mean of the round trips in microseconds. `criu page-server` serves one session and exits, and
needs fs.pipe-max-size >= 4 MiB (it tees 4 MiB pipes); our page server serves until stopped.
"""
import random
import socket
import struct
import sys
import time


def varint(b, i):
    value, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return value, i


def fields(message):
    i, out = 0, {}
    while i < len(message):
        key, i = varint(message, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(message, i)
        elif wire == 2:
            length, i = varint(message, i)
            value = message[i:i + length]
            i += length
        elif wire == 1:
            value = struct.unpack_from("<Q", message, i)[0]
            i += 8
        elif wire == 5:
            value = struct.unpack_from("<I", message, i)[0]
            i += 4
        else:
            raise ValueError(f"wire type {wire}")
        out[number] = value
    return out


def lazy_runs(path):
    data = open(path, "rb").read()
    i, first, runs = 8, True, []
    while i < len(data):
        (length,) = struct.unpack_from("<I", data, i)
        i += 4
        entry = fields(data[i:i + length])
        i += length
        if not first and entry.get(4) == 6:
            runs.append((entry[1], entry.get(5, 0)))
        first = False
    return runs


def main():
    port, n, pages, images, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    addresses = [a + 4096 * k for a, count in lazy_runs(f"{images}/pagemap-{pid}.img") for k in range(0, count - pages + 1, pages)]
    if not addresses:
        sys.exit(f"no lazy run of {pages} page(s) in {images}/pagemap-{pid}.img")
    random.Random(1).shuffle(addresses)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def receive(count):
        buffer = bytearray()
        while len(buffer) < count:
            chunk = sock.recv(count - len(buffer))
            if not chunk:
                sys.exit(f"port {port}: the server closed the connection")
            buffer += chunk
        return buffer

    times = []
    for k in range(n):
        address = addresses[k % len(addresses)]
        start = time.perf_counter_ns()
        sock.sendall(struct.pack("<IIQQQ", 7, 0, pages, address, pid))
        _, _, nr_pages, vaddr, dst_id = struct.unpack("<IIQQQ", receive(32))
        if vaddr != address or dst_id != pid:
            sys.exit(f"port {port}: reply for {vaddr:#x}/{dst_id}, asked {address:#x}/{pid}")
        receive(nr_pages * 4096)
        times.append(time.perf_counter_ns() - start)
    sock.sendall(struct.pack("<IIQQQ", 0x1023, 0, 0, 0, 0))
    (status,) = struct.unpack("<i", receive(4))
    times.sort()
    us = [t / 1000 for t in times]
    print(f"port {port}, {pages} page(s): n {n} p50 {us[n // 2]:.1f} us p90 {us[n * 9 // 10]:.1f} p99 {us[n * 99 // 100]:.1f} "
          f"mean {sum(us) / n:.1f} close status {status}")


if __name__ == "__main__":
    main()
