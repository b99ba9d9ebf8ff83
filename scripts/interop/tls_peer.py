"""Outside TLS peers for scripts/interop_tls.sh, on Python's ssl module.

client HOST PORT CA: connects over TLS (verifying the server against CA for the name
  localhost), sends three lines, expects them echoed, prints the TLS version.
server PORT CERT KEY: a TLS line echo server for one connection, until it closes.
"""
import socket
import ssl
import sys


def client(host, port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            lines = [b"hello", b"over", "tls \u4f60\u597d".encode()]
            s.sendall(b"".join(l + b"\n" for l in lines))
            got = b""
            while got.count(b"\n") < len(lines):
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            assert got.split(b"\n")[:3] == lines, got
            print("python client:", s.version(), "echo ok")


def server(port, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    with socket.create_server(("127.0.0.1", int(port))) as ls:
        ls.settimeout(20)
        print("ready", flush=True)
        raw, _ = ls.accept()
        with ctx.wrap_socket(raw, server_side=True) as s:
            s.settimeout(10)
            buf = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    s.sendall(b"echo " + line + b"\n")


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(*sys.argv[2:5])
    else:
        server(*sys.argv[2:5])
