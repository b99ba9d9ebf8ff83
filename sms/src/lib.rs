//! SMS gateway sessions on the packwire runtime: the SP side (an application's connection
//! to an SMS gateway) and a gateway simulator to test applications against, for the
//! protocols of China's and the world's SMS gateways. Their wire formats live in
//! `packwire-codecs`; what is here runs them as sessions on `packwire-net`: login,
//! request windows, link checks, submits, status reports and mobile-originated messages.
//!
//! - [`cmpp`]: CMPP 2.0 / 3.0 (China Mobile) — [`cmpp::SpClient`] and [`cmpp::Ismg`].
//! - [`smpp`]: SMPP 3.4 — an ESME client ([`smpp::connect`]) and an SMSC simulator
//!   ([`smpp::Smsc`]) on the runtime.
//! - [`gateway`]: one SP-facing API over both ([`gateway::Gateway`]): send a
//!   [`session::Message`], get message ids, wait for its report, read MO messages —
//!   the protocol picked by configuration.
//! - [`session`]: the sans-IO session layer (login, window, rate, retry, reconnect without
//!   resending what was answered, link checks, reports, MO) with SMPP's ESME side on it.

pub mod cmpp;
pub mod gateway;
pub mod session;
pub mod smpp;
