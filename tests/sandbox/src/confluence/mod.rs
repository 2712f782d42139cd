//! Fake Confluence (to be written).
