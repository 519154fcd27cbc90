#!/usr/bin/env python3
"""Messages a second one /dht subscriber receives from a live swarm.

Starts `dswarm live --nodes N --quiet` on a private multicast group, subscribes to
every event of the first node (and, as the dashboard does, calls `status` and
`peers` on it every 2 s), and counts the frames that arrive each second: while the
swarm forms (the first 10 s) and once it rests (the next 20 s).

    python3 benches/dashboard/ws_rate.py [--nodes 10] [--dswarm target/release/dswarm]

Standard library only: a minimal WebSocket client (RFC 6455, text frames,
unmasked from the server, masked from us).
"""
import argparse, base64, json, os, random, socket, struct, subprocess, time


def handshake(host, port):
    s = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /dht HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    return s


def send(s, obj):
    data = json.dumps(obj).encode()
    mask = os.urandom(4)
    header = bytes([0x81])
    n = len(data)
    header += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    s.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return out


def frame(s):
    b0, b1 = recv_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(s, 8))[0]
    return b0 & 0x0F, recv_exact(s, n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--dswarm", default="target/release/dswarm")
    a = ap.parse_args()
    group = f"239.255.{random.randint(1, 250)}.{random.randint(2, 250)}:{random.randint(20000, 60000)}"
    p = subprocess.Popen([a.dswarm, "live", "--quiet", "--nodes", str(a.nodes),
                          "--multicast-group", group], stdout=subprocess.PIPE, text=True)
    try:
        api = None
        for line in p.stdout:
            if line.startswith("node ") and api is None:
                api = line.split()[5].removeprefix("http://")
            if line.startswith("dashboard "):
                break
        host, port = api.rsplit(":", 1)
        s = handshake(host, int(port))
        start = time.monotonic()
        send(s, {"jsonrpc": "2.0", "id": 1, "method": "subscribe"})
        per_second, kinds, next_poll, call = {}, {}, 0.0, 1
        s.settimeout(0.2)
        while time.monotonic() - start < 30:
            now = time.monotonic() - start
            if now >= next_poll:
                for method in ("status", "peers"):
                    call += 1
                    send(s, {"jsonrpc": "2.0", "id": call, "method": method})
                next_poll += 2
            try:
                op, data = frame(s)
            except socket.timeout:
                continue
            if op != 1:
                continue
            per_second[int(now)] = per_second.get(int(now), 0) + 1
            msg = json.loads(data)
            kind = msg.get("params", {}).get("event", {}).get("type", "response")
            kinds[kind] = kinds.get(kind, 0) + 1
        forming = sum(per_second.get(t, 0) for t in range(10)) / 10
        resting = sum(per_second.get(t, 0) for t in range(10, 30)) / 20
        peak = max(per_second.values())
        print(f"{a.nodes} nodes, one subscriber of node 0 (all events, status and peers every 2 s):")
        print(f"  frames a second: {forming:.1f} in the first 10 s (peak {peak}), {resting:.1f} over the next 20 s")
        print(f"  by kind: {dict(sorted(kinds.items(), key=lambda kv: -kv[1]))}")
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()
