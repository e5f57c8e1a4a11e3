#!/usr/bin/python3
"""A msgpack-RPC client for the cluster tests (and an example for docs/protocol.md).

    rpc.py ADDR METHOD [JSON_PARAMS]

ADDR is "host:port" or "unix:/path". Prints the result as JSON and exits 0, or
prints the error map and exits 1; exits 3 when the node cannot be reached.
Uses Debian's python3-msgpack, the off-the-shelf msgpack library.
"""
import json
import socket
import sys

import msgpack


def connect(addr, timeout=5.0):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(addr[5:])
    else:
        host, port = addr.rsplit(":", 1)
        host = host.strip("[]")
        s = socket.create_connection((host, int(port)), timeout=timeout)
    return s


class Client:
    def __init__(self, addr, timeout=5.0):
        self.sock = connect(addr, timeout)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.msgid = 0

    def call(self, method, *params):
        self.msgid += 1
        self.sock.sendall(msgpack.packb([0, self.msgid, method, list(params)]))
        while True:
            for msg in self.unpacker:
                _, msgid, error, result = msg
                assert msgid == self.msgid, (msgid, self.msgid)
                return error, result
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("connection closed by the node")
            self.unpacker.feed(data)

    def notify(self, method, *params):
        self.sock.sendall(msgpack.packb([2, method, list(params)]))


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    params = json.loads(sys.argv[3]) if len(sys.argv) > 3 else []
    try:
        c = Client(sys.argv[1])
        error, result = c.call(sys.argv[2], *params)
    except (OSError, ConnectionError) as e:
        print("cannot reach %s: %s" % (sys.argv[1], e), file=sys.stderr)
        return 3
    if error is not None:
        print(json.dumps(error))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
