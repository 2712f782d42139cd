//! Contract tests of the fake Confluence (to come).
