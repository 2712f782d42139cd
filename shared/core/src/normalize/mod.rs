//! Vendor payloads → typed events. Pure functions over parsed bodies, tolerant of every
//! documented variant (ids as numbers or strings, optional fields), strict about what the
//! bridge needs (a content id).

pub mod b24;
pub mod confluence;
pub mod form;
