"""Drives packwire's ISMG with pycmpp (PyPI pycmpp 2.0.2, a CMPP 2.0 SP library): its own
CONNECT, SUBMIT (short and long), ACTIVE_TEST and TERMINATE builders, answers read off the
socket. Usage: python pycmpp_client.py HOST PORT SP_ID SECRET. Exits non-zero on any
unexpected answer."""
import socket
import struct
import sys

from pycmpp.request import (ActiveTestRequestInstance, ConnectRequestInstance,
                            SubmitRequestInstance, TerminateRequestInstance)
from pycmpp.utils import split_message

host, port, sp_id, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((host, port), timeout=10)


def read_pdu():
    head = b""
    while len(head) < 12:
        chunk = s.recv(12 - len(head))
        if not chunk:
            raise SystemExit("the ISMG closed the connection")
        head += chunk
    length, command, seq = struct.unpack(">III", head)
    body = b""
    while len(body) < length - 12:
        body += s.recv(length - 12 - len(body))
    return command, seq, body


def expect(command, what):
    got, seq, body = read_pdu()
    if got != command:
        raise SystemExit(f"{what}: expected {command:#x}, got {got:#x}")
    return seq, body


s.sendall(ConnectRequestInstance().create(sp_id, secret))
_, body = expect(0x80000001, "CONNECT_RESP")
status = body[0]
print(f"login status {status}")
if status != 0:
    raise SystemExit(1)

req = SubmitRequestInstance()
s.sendall(req.create(msg_src=sp_id, msg_content="hello from pycmpp",
                     dest_terminal_id=["13800138000"], registered_delivery=0))
seq, body = expect(0x80000004, "SUBMIT_RESP")
msg_id, result = struct.unpack(">QB", body[:9])
print(f"submit: seq {seq} Msg_Id {msg_id} result {result}")
if result != 0:
    raise SystemExit(1)

# a long message the way pycmpp sends one: UDH 05 00 03 ref total n, TP_udhi 1
long_text = "长短信互通测试，" * 12
parts = split_message(long_text)
for i, part in enumerate(parts):
    head = bytes([5, 0, 3, 42, len(parts), i + 1])
    s.sendall(SubmitRequestInstance().create(
        msg_src=sp_id, msg_content=part, msg_head=head, dest_terminal_id=["13800138000"],
        pk_total=len(parts), pk_number=i + 1, registered_delivery=0, tp_pid=1, tp_udhi=1))
    _, body = expect(0x80000004, "SUBMIT_RESP (long)")
    print(f"long part {i + 1}/{len(parts)}: result {body[8]}")

s.sendall(ActiveTestRequestInstance().create())
expect(0x80000008, "ACTIVE_TEST_RESP")
print("active test answered")
s.sendall(TerminateRequestInstance().create())
expect(0x80000002, "TERMINATE_RESP")
print("terminated")
