//! Contract tests of the fake Bitrix24 (to come).
