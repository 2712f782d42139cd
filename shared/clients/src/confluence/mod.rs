//! Confluence REST client (to be written).
