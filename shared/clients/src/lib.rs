//! Typed clients of the two vendor APIs, shared by the workers and the ingress's UI routes
//! (placement pages, search widget, admin API) — never used on the webhook path.
//!
//! Each client knows its vendor's auth, paging, limits and error shapes, only ever calls the
//! configured host, and returns errors that carry a [`bridge_core::ErrorClass`] so workers
//! know whether to retry.

pub mod b24;
pub mod confluence;
