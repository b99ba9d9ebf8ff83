// An outside SMSC for `packwire smpp send`: npm `smpp` (node-smpp) 0.5.1's server. One
// account; answers binds, submit_sm (message ids, receipts in the text form when asked
// for), enquire_link and unbind, and sends an enquire_link of its own after each bind.
// Prints one JSON line per PDU it receives. Usage: node smpp_server.js PORT SYSTEM_ID PASSWORD
'use strict';
const smpp = require('smpp');

const [port, systemId, password] = process.argv.slice(2);
let nextId = 0x1000;

function log(what, fields) {
  process.stdout.write(JSON.stringify(Object.assign({ pdu: what }, fields)) + '\n');
}

function yymmddhhmm(d) {
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) +
    p(d.getUTCHours()) + p(d.getUTCMinutes());
}

const server = smpp.createServer({}, (session) => {
  const bind = (pdu) => {
    const ok = pdu.system_id === systemId && pdu.password === password;
    log(pdu.command, { system_id: pdu.system_id, ok });
    session.send(pdu.response({ command_status: ok ? smpp.ESME_ROK : smpp.ESME_RINVPASWD, system_id: 'nodesmsc' }));
    if (!ok) {
      session.close();
      return;
    }
    session.enquire_link({}, (resp) => log('enquire_link_resp', { status: resp.command_status }));
  };
  session.on('bind_transceiver', bind);
  session.on('bind_transmitter', bind);
  session.on('bind_receiver', bind);
  session.on('submit_sm', (pdu) => {
    const id = (nextId++).toString(16);
    const sm = pdu.short_message || {};
    log('submit_sm', {
      id,
      to: pdu.destination_addr,
      data_coding: pdu.data_coding,
      esm_class: pdu.esm_class,
      udh: sm.udh ? sm.udh.map((u) => Buffer.from(u).toString('hex')) : null,
      text: typeof sm.message === 'string' ? sm.message : null,
      sar: pdu.sar_msg_ref_num !== undefined
        ? [pdu.sar_msg_ref_num, pdu.sar_total_segments, pdu.sar_segment_seqnum] : null,
      payload: pdu.message_payload !== undefined,
      payload_text: pdu.message_payload && typeof pdu.message_payload.message === 'string'
        ? pdu.message_payload.message : null,
    });
    session.send(pdu.response({ message_id: id }));
    if (pdu.registered_delivery & 0x03) {
      const date = yymmddhhmm(new Date());
      setTimeout(() => session.deliver_sm({
        source_addr: pdu.destination_addr,
        destination_addr: pdu.source_addr,
        esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
        short_message: `id:${id} sub:001 dlvrd:001 submit date:${date} done date:${date} stat:DELIVRD err:000 text:`,
      }, (resp) => log('deliver_sm_resp', { status: resp.command_status })), 200);
    }
  });
  session.on('enquire_link', (pdu) => {
    log('enquire_link', {});
    session.send(pdu.response());
  });
  session.on('unbind', (pdu) => {
    log('unbind', {});
    session.send(pdu.response());
    session.close();
  });
  session.on('error', (e) => log('error', { message: String(e) }));
});

server.listen(Number(port), '127.0.0.1', () => log('listening', { port: Number(port) }));
