//! Bitrix24 REST client (to be written).
