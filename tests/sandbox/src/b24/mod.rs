//! Fake Bitrix24 (to be written).
