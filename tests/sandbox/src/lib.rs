//! The sandbox: fake Confluence (Cloud and Data Center) and fake Bitrix24 HTTP servers that
//! follow the vendors' documented contracts (`../shared/docs/confluence-api.md`,
//! `../shared/docs/bitrix24-api.md`), with switches for faults. Tests start them in-process
//! on port 0; the `sandbox` binary runs them for demos.
//!
//! Each fake has an inspection API under `/_sandbox/` (state, received requests, knobs,
//! reset) and a plain HTML page at `/` that shows a person its state.

pub mod b24;
pub mod common;
pub mod confluence;
