//! The one integration-test binary: every end-to-end test of the bridge, against the real
//! RabbitMQ and real databases. Each test isolates itself (its own queue prefix, its own
//! database), so they run in parallel.

mod support;

mod b24_client;
mod b24_kb;
mod cli_dlq;
mod config_and_deploy;
mod confluence_client;
mod convert_corpus;
mod db_credentials;
mod db_migrations;
mod fanout;
mod health_and_standalone;
mod ingress_webhooks;
mod link_sync;
mod mirror;
mod mirror_edges;
mod portal_setup;
mod queue_runtime;
mod reconcile_sweep;
mod sandbox_b24;
mod sandbox_confluence;
mod telemetry_propagation;
