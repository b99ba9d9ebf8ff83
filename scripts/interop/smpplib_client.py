"""An outside SMPP client (PyPI smpplib 2.2.4) against `packwire smpp serve`: bind as a
transceiver, submit an ASCII message, a UCS2 message and a three-part UDH message (all
asking for receipts), an enquire_link, wait for a receipt per part, unbind. Exits non-zero
on any failure. Usage: smpplib_client.py HOST PORT SYSTEM_ID PASSWORD"""

import sys
import time

import smpplib.client
import smpplib.consts
import smpplib.gsm
import smpplib.smpp

host, port, system_id, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

ids = []          # message ids from submit_sm_resp
receipts = []     # receipted ids
errors = []


def sent(pdu):
    if pdu.status != 0:
        errors.append(f"submit_sm_resp status {pdu.status}")
    ids.append(pdu.message_id.decode() if isinstance(pdu.message_id, bytes) else pdu.message_id)


def received(pdu):
    rid = pdu.receipted_message_id
    if rid is not None:
        receipts.append(rid.decode() if isinstance(rid, bytes) else rid)


client = smpplib.client.Client(host, port, allow_unknown_opt_params=True)
client.set_message_sent_handler(sent)
client.set_message_received_handler(received)
client.connect()
client.bind_transceiver(system_id=system_id, password=password)

messages = [
    ("hello from smpplib", None),
    ("你好, packwire", None),
    ("x" * 400, None),
]
parts_sent = 0
for text, _ in messages:
    parts, coding, esm = smpplib.gsm.make_parts(text)
    for part in parts:
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
            source_addr="smpplib",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            destination_addr="8613800138000",
            short_message=part,
            data_coding=coding,
            esm_class=esm,
            registered_delivery=True,
        )
        parts_sent += 1

# an enquire_link, answered
client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))

deadline = time.time() + 10
while (len(ids) < parts_sent or len(receipts) < parts_sent) and time.time() < deadline:
    client.read_once()

client.unbind()
client.disconnect()

if errors:
    sys.exit("errors: " + "; ".join(errors))
if len(ids) != parts_sent:
    sys.exit(f"{len(ids)} submit_sm_resp for {parts_sent} parts")
if sorted(ids) != sorted(receipts):
    sys.exit(f"receipts {sorted(receipts)} do not match ids {sorted(ids)}")
print(f"smpplib: {parts_sent} parts submitted, {len(receipts)} receipts matched")
