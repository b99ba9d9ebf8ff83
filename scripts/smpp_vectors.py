#!/usr/bin/env python3
# The SMPP vectors of codecs/tests/data/smpp/, made by an independent encoder: PyPI smpplib
# 2.2.4 (python3 -m venv v && v/bin/pip install smpplib==2.2.4 && v/bin/python
# scripts/smpp_vectors.py). Each line: the vector name, its hex.
import smpplib.smpp as smpp, smpplib.consts as c, binascii
class C:
    def next_sequence(self): return 1
    sequence_generator=None
def gen(name, seq, **kw):
    p = smpp.make_pdu(name, client=C(), **kw)
    p.sequence = seq
    return binascii.hexlify(p.generate()).decode()
print("bind_transceiver", gen('bind_transceiver', 1, system_id='esme01', password='secret', system_type='', interface_version=0x34, addr_ton=0, addr_npi=0, address_range=''))
print("submit_sm", gen('submit_sm', 2, service_type='', source_addr_ton=5, source_addr_npi=0, source_addr='packwire', dest_addr_ton=1, dest_addr_npi=1, destination_addr='8613800138000', esm_class=0, protocol_id=0, priority_flag=0, registered_delivery=1, replace_if_present_flag=0, data_coding=0, sm_default_msg_id=0, short_message=b'hello'))
print("submit_sm_sar", gen('submit_sm', 3, source_addr='1', destination_addr='2', data_coding=8, short_message=b'\x4f\x60', sar_msg_ref_num=0x1234, sar_total_segments=2, sar_segment_seqnum=1))
print("enquire_link", gen('enquire_link', 4))
print("unbind", gen('unbind', 5))
print("deliver_sm_resp", gen('deliver_sm_resp', 6))
print("submit_sm_payload", gen('submit_sm', 7, source_addr='1', destination_addr='2', data_coding=0, short_message=None, message_payload=b'x'*300))
print("submit_sm_resp", gen('submit_sm_resp', 2, message_id='0a1b2c3d'))
print("bind_transceiver_resp", gen('bind_transceiver_resp', 1, system_id='SMSC'))
print("generic_nack", gen('generic_nack', 9))
print("query_sm", gen('query_sm', 10, message_id='0a1b2c3d', source_addr_ton=1, source_addr_npi=1, source_addr='8613800138000'))
print("deliver_sm_receipt", gen('deliver_sm', 11, source_addr_ton=1, source_addr_npi=1, source_addr='8613800138000', dest_addr_ton=5, destination_addr='packwire', esm_class=4, data_coding=0, short_message=b'id:0a1b2c3d sub:001 dlvrd:001 submit date:2612031200 done date:2612031201 stat:DELIVRD err:000 text:hello', receipted_message_id='0a1b2c3d', message_state=2))
print("data_sm", gen('data_sm', 12, source_addr='1', destination_addr='2', data_coding=0, message_payload=b'data'))
